// The type-independent half of <corio/channel.hpp>: the slot accounting's slow paths, the waiting
// senders' FIFO (loop tasks and blocked threads), the receivers' side on the owning loop, and
// close. The design and the memory-ordering argument are at the top of the header.
#include <algorithm>
#include <cerrno>
#include <ctime>
#include <string>
#include <thread>

#include <corio/channel.hpp>
#include <corio/detail/cpu_relax.hpp>
#include <corio/detail/futex.hpp>
#include <corio/detail/inbox.hpp>
#include <corio/log.hpp>

namespace corio::detail {
namespace {

// How long a blocked thread spins for a slot before it sleeps on its futex: a receiver that
// is busy frees one within microseconds, and a VM takes tens of microseconds to wake a sleeper
// (concurrent_future::result spins for the same reason).
constexpr std::chrono::nanoseconds send_spin = std::chrono::microseconds(50);

// How long an idle receiver watches the queue before it sleeps (spin_for_items).
constexpr std::chrono::nanoseconds arm_spin = std::chrono::microseconds(2);

// A sender takes up to capacity / batch_divisor slots at once, at most max_batch, so that
// batches held unused by other threads hide at most a small part of the capacity from a
// try_send (a send that must wait takes them back first). Below 2 * batch_divisor slots a
// sender takes one at a time, as if there were no batches.
constexpr std::uint64_t batch_divisor = 64;
constexpr std::uint64_t max_batch = 32;

std::uint32_t batch_for(std::uint64_t capacity) {
    return static_cast<std::uint32_t>(
        std::clamp<std::uint64_t>(capacity / batch_divisor, 1, max_batch));
}

std::uint64_t checked_capacity(std::size_t capacity) {
    if (capacity == 0 || capacity > channel_core::max_capacity) {
        throw std::invalid_argument("corio::channel: capacity must be between 1 and 2^30, got " +
                                    std::to_string(capacity));
    }
    return capacity;
}

}  // namespace

// -- channel_list ------------------------------------------------------------------------

void channel_list::push_back(channel_link& n) noexcept {
    n.prev = tail_;
    n.next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = &n;
    tail_ = &n;
    n.linked = true;
}

void channel_list::remove(channel_link& n) noexcept {
    (n.prev != nullptr ? n.prev->next : head_) = n.next;
    (n.next != nullptr ? n.next->prev : tail_) = n.prev;
    n.prev = n.next = nullptr;
    n.linked = false;
}

channel_link* channel_list::pop_front() noexcept {
    channel_link* n = head_;
    if (n != nullptr)
        remove(*n);
    return n;
}

// -- lifetime ----------------------------------------------------------------------------

channel_core::channel_core(event_loop& owner, std::size_t capacity)
    : owner_(&owner),
      owner_inbox_(loop_access::inbox(owner)),
      capacity_(checked_capacity(capacity)),
      batch_(batch_for(capacity_)) {
    init_asymmetric_fences();  // before any sender or receiver can run a handshake
}

channel_core::~channel_core() = default;

std::int64_t channel_core::receive_coalesce_ns() const noexcept {
    // A window gathers up to ~200 items from a fast sender (10 ns each).
    constexpr std::uint64_t min_capacity = 1024;
    const auto* in = dynamic_cast<const inbox*>(owner_inbox_);
    return in != nullptr && capacity_ >= min_capacity ? in->coalesce_window_ns() : 0;
}

void channel_core::add_ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);
}

void channel_core::release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
        delete this;
}

void channel_core::shut_down() noexcept {
    close_now();
    // A send whose item the receiver has received set its posting flag before the enqueue
    // the receiver acquired, so it is seen here; wait_for_senders reads with acquire, pairing
    // with publish()'s release store, the send's last access.
    wait_for_senders();
    release();
}

// Relaxed: a snapshot for the caller, who learns nothing else through it. released_ first:
// it never exceeds the count taken at the same moment, and the count is read later. Slots
// held unused in senders' batches are not occupied.
std::size_t channel_core::size() noexcept {
    const std::uint64_t released = released_.load(std::memory_order_relaxed);
    const std::uint64_t taken = tx_.load(std::memory_order_relaxed) >> 2;
    const std::uint64_t unused = unused_batches();
    return taken > released + unused ? static_cast<std::size_t>(taken - released - unused) : 0;
}

std::size_t channel_core::unused_batches() noexcept {
    if (batch_ == 1)
        return 0;
    std::size_t unused = 0;
    for_each_batch(
        [](sender_credits& c, void* sum) {
            if (!c.revoked.load(std::memory_order_relaxed))
                *static_cast<std::size_t*>(sum) += c.left.load(std::memory_order_relaxed);
        },
        &unused);
    return unused;
}

bool channel_core::is_closed() const noexcept {
    return (tx_.load(std::memory_order_relaxed) & closed_bit) != 0;
}

void channel_core::wrong_loop(const char* what) {
    throw std::runtime_error(std::string("corio::channel: ") + what +
                             "() must be called on the channel's owning loop");
}

// A channel whose loop has no inbox (a test loop) cannot be woken from another thread.
void channel_core::check_sender_slow() const {
    if (running_loop() != owner_) {
        throw std::runtime_error(
            "corio::channel: its loop has no inbox, so it can only be used from that loop");
    }
}

// -- senders -----------------------------------------------------------------------------

// A sender's cached view said full: read the receiver's count itself. Acquire: pairs with
// delivered()'s release store (a slot taken on its strength happens-after the receive that
// freed it). A stale store to seen_ by a slower sender only makes the next test pessimistic.
std::uint64_t channel_core::refresh_released() noexcept {
    const std::uint64_t r = released_.load(std::memory_order_acquire);
    seen_.store(r, std::memory_order_relaxed);
    return r;
}

// The batch was empty (had == 0), or a take-back came (had: the batch before this send).
reserve_result channel_core::reserve_slow(sender_credits& c, std::uint32_t had) noexcept {
    if (c.revoked.load(std::memory_order_relaxed) && resync(c, had, true)) [[unlikely]]
        return reserve_result::reserved;
    return take_batch(c);
}

// A new batch from the count: one slot for this send, up to batch_ - 1 kept for the next. It
// takes what is free up to batch_, so a send never reports "full" while a slot is free in the
// count. Relaxed first load: a guess, which the CAS checks. seen_ only lags released_, so a
// stale value can only make the room look smaller; it is refreshed when that would shrink
// the batch.
reserve_result channel_core::take_batch(sender_credits& c) noexcept {
    std::uint64_t s = tx_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & (closed_bit | tx_waiting_bit)) != 0) [[unlikely]]
            return (s & closed_bit) != 0 ? reserve_result::closed : reserve_result::full;
        std::int64_t room = free_slots(s, seen_.load(std::memory_order_relaxed));
        if (room < static_cast<std::int64_t>(batch_))
            room = free_slots(s, refresh_released());
        if (room <= 0)
            return reserve_result::full;
        const std::uint64_t n =
            room < static_cast<std::int64_t>(batch_) ? static_cast<std::uint64_t>(room) : batch_;
        // acq_rel: the close handshake and closed_and_drained read tx_ with acquire and
        // must see a slot taken before them (the release); the acquire side orders this
        // sender after the receive that freed the slot, through released_.
        if (tx_.compare_exchange_weak(s, s + n * one_slot, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
            if (n > 1) {
                c.left.store(static_cast<std::uint32_t>(n - 1), std::memory_order_relaxed);
                // As in try_reserve: a take-back either reads this batch or we see it.
                light_fence();
                if (c.revoked.load(std::memory_order_relaxed)) [[unlikely]]
                    resync(c, static_cast<std::uint32_t>(n - 1), false);
            }
            return reserve_result::reserved;
        }
    }
}

// This thread saw its batch revoked after a store to c.left (had: its batch then, before this
// send took one). The take-back returned c.observed slots to the count, a value of c.left it
// read after its heavy fence; this thread has used none since (each of its stores since then
// was followed by a load that saw the flag), so it keeps had - observed. With need_one, this
// send takes one of them if any (true: it did). The rest stay in the batch, unless senders
// wait or the channel is closed: then they go back to the count (and to the first waiters).
bool channel_core::resync(sender_credits& c, std::uint32_t had, bool need_one) noexcept {
    bool used = false;
    bool returned_on_closed = false;
    {
        std::lock_guard lock(mutex_);
        std::uint32_t kept = had - c.observed;
        c.observed = 0;
        c.revoked.store(false, std::memory_order_relaxed);
        if (need_one && kept != 0) {
            used = true;
            --kept;
        }
        const std::uint64_t s = tx_.load(std::memory_order_relaxed);
        if (kept != 0 && (s & (closed_bit | tx_waiting_bit)) != 0) {
            tx_.fetch_sub(kept * one_slot, std::memory_order_acq_rel);
            returned_on_closed = (s & closed_bit) != 0;
            kept = 0;
            serve_waiters();
        }
        c.left.store(kept, std::memory_order_relaxed);
    }
    if (returned_on_closed)
        wake_receivers_if_sleeping();  // the slots the drained check waits for
    return used;
}

// Taking the senders' unused batches back, under mutex_ (a sender must wait, or close): first
// revoke_begin() marks every batch not already revoked; then the caller's heavy fence; then
// revoke_end() reads each marked batch and returns the total to the count. With the senders'
// store to `left`, light fence and load of `revoked` (try_reserve, take_batch), the fences
// forbid both loads missing the other's store: either the sender sees the flag and settles
// under mutex_ (resync) without using the slot, or this read sees its store and leaves the
// slot to it. A batch already revoked is skipped: its owner settles before it uses a slot,
// and gives slots back then if senders wait or the channel is closed.
bool channel_core::revoke_begin() noexcept {
    if (batch_ == 1)
        return false;  // nobody ever holds a batch
    bool any = false;
    for_each_batch(
        [](sender_credits& c, void* any) {
            if (!c.revoked.load(std::memory_order_relaxed)) {
                c.revoked.store(true, std::memory_order_relaxed);
                c.counting = true;
                *static_cast<bool*>(any) = true;
            }
        },
        &any);
    return any;
}

std::uint64_t channel_core::revoke_end() noexcept {
    std::uint64_t total = 0;
    for_each_batch(
        [](sender_credits& c, void* total) {
            if (c.counting) {
                c.counting = false;
                c.observed = c.left.load(std::memory_order_relaxed);
                *static_cast<std::uint64_t*>(total) += c.observed;
            }
        },
        &total);
    if (total != 0)
        tx_.fetch_sub(total * one_slot, std::memory_order_acq_rel);
    return total;
}

void channel_core::take_back_batches() noexcept {
    if (revoke_begin()) {
        heavy_fence();
        revoke_end();
    }
}

// A slot leaves its holder unused: back to the count and, under the lock, straight on to the
// first waiting sender if any (serve_waiters), so a grant cancelled in its window passes the
// slot on. The lock also keeps a concurrent enlist() from deciding on the count mid-way.
void channel_core::abandon_slot() noexcept {
    std::uint64_t before;
    {
        std::lock_guard lock(mutex_);
        before = tx_.fetch_sub(one_slot, std::memory_order_acq_rel);
        serve_waiters();
    }
    // On a closed channel this may be the last slot the receivers wait for (closed and
    // drained): they re-check. Not closed yet: a later close_now() wakes them itself.
    if ((before & closed_bit) != 0)
        wake_receivers_if_sleeping();
}

// The receiver saw tx_waiting_ after freeing a slot.
void channel_core::serve_waiters_locked() noexcept {
    std::lock_guard lock(mutex_);
    serve_waiters();
}

// Under mutex_: grants every free slot to the FIFO's first waiters, one CAS on tx_ each (the
// count stays as full as before the free). Fast-path senders see tx_waiting in tx_ and do not
// take slots meanwhile. A closed channel grants nothing: close_now() tells the waiters.
void channel_core::serve_waiters() noexcept {
    std::uint64_t s = tx_.load(std::memory_order_relaxed);
    while (!tx_waiters_.empty()) {
        if ((s & closed_bit) != 0)
            return;
        // Acquire: as refresh_released.
        if (!has_room(s, released_.load(std::memory_order_acquire)))
            return;
        if (!tx_.compare_exchange_weak(s, s + one_slot, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
            continue;
        }
        s += one_slot;
        auto* w = static_cast<tx_waiter*>(tx_waiters_.pop_front());
        tx_count_.fetch_sub(1, std::memory_order_relaxed);
        wake_sender(*w, slot_outcome::granted);
    }
    clear_tx_waiting();
}

// Under mutex_, with the FIFO empty. The bit first, then the mirror: the mirror is set
// whenever the bit is (the receiver reads only the mirror). Relaxed mirror: the lock orders
// its writers, and the receiver only uses it to decide whether to take the lock.
void channel_core::clear_tx_waiting() noexcept {
    if ((tx_.load(std::memory_order_relaxed) & tx_waiting_bit) != 0)
        tx_.fetch_and(~tx_waiting_bit, std::memory_order_acq_rel);
    tx_waiting_.store(false, std::memory_order_relaxed);
}

// Under the lock. Announces the wait first (tx_waiting_, heavy fence), then decides on the
// count: with the receiver's light fence in delivered(), either this read of released_ sees a
// slot just freed, or that receive sees the announcement and comes through serve_waiters (it
// needs our lock, so it finds us linked). A waiter that finds tx_waiting already set queues
// behind the others even if a slot is free: that slot is theirs, and its serve is on the way.
reserve_result channel_core::enlist(tx_waiter& w) {
    if (w.loop != nullptr && w.loop != owner_ && loop_access::inbox(*w.loop) == nullptr)
        throw std::runtime_error("corio::channel: a loop without an inbox cannot wait to send");
    std::lock_guard lock(mutex_);
    // Already set (under the lock: others wait, and every free serves them): we queue behind
    // them whatever the count says, so there is nothing to announce. The first waiter also
    // takes back the slots other senders hold unused in their batches: a thread that has
    // stopped sending would otherwise keep them from it (one heavy fence serves both).
    if (!tx_waiting_.load(std::memory_order_relaxed)) {
        const bool revoking = revoke_begin();
        tx_waiting_.store(true, std::memory_order_relaxed);
        heavy_fence();
        if (revoking)
            revoke_end();
    }
    reserve_result r = reserve_result::full;
    std::uint64_t s = tx_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & closed_bit) != 0) {
            r = reserve_result::closed;
            break;
        }
        if ((s & tx_waiting_bit) == 0 && has_room(s, released_.load(std::memory_order_acquire))) {
            if (tx_.compare_exchange_weak(s, s + one_slot, std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
                r = reserve_result::reserved;
                break;
            }
            continue;
        }
        if (tx_.compare_exchange_weak(s, s | tx_waiting_bit, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
            tx_waiters_.push_back(w);
            tx_count_.fetch_add(1, std::memory_order_relaxed);
            return reserve_result::full;
        }
    }
    if (tx_waiters_.empty())
        clear_tx_waiting();  // retract the announcement
    return r;
}

bool channel_core::cancel_tx_wait(tx_waiter& w) noexcept {
    std::lock_guard lock(mutex_);
    if (!w.linked)
        return false;
    tx_waiters_.remove(w);
    tx_count_.fetch_sub(1, std::memory_order_relaxed);
    if (tx_waiters_.empty())
        clear_tx_waiting();
    return true;
}

// Under mutex_. A waiter leaves the FIFO only under the lock, so it is alive here.
void channel_core::wake_sender(tx_waiter& w, slot_outcome outcome) noexcept {
    if (w.loop == nullptr) {
        // Release: the thread's acquire load sees the outcome; it then takes the lock before
        // it returns, so the node outlives this wake.
        w.word.store(static_cast<std::uint32_t>(outcome), std::memory_order_release);
        futex_wake(w.word, 1);
        return;
    }
    if (running_loop() == w.loop) {
        w.outcome = outcome;
        w.task->suspended_on(nullptr);
        loop_access::push_ready(*w.loop, ready_entry::of(w.handle));
        return;
    }
    // Through the waiter's loop. Run: the task is still suspended on w (a cancel meanwhile
    // stays pending), so w is alive. Dropped (that loop closed, its frames are gone): do not
    // touch w; a granted slot is freed here instead.
    struct wake_message {
        channel_core* ch;
        tx_waiter* w;
        slot_outcome outcome;
        void operator()(message_fate fate) noexcept {
            if (fate == message_fate::run) {
                w->outcome = outcome;
                w->task->suspended_on(nullptr);
                loop_access::push_ready(*w->loop, ready_entry::of(w->handle));
            } else if (outcome == slot_outcome::granted) {
                ch->abandon_slot();
            }
            ch->release();
        }
    };
    add_ref();
    try {
        loop_access::inbox(*w.loop)->post(remote_message(wake_message{this, &w, outcome}));
    } catch (...) {
        // Out of memory in the inbox: the waiter would hang, and a slot would be lost.
        log(log_level::error, "corio::channel: cannot wake a waiting sender");
        std::terminate();
    }
}

reserve_result channel_core::reserve_blocking(sender_credits& c,
                                              std::optional<std::chrono::nanoseconds> timeout) {
    using clock = std::chrono::steady_clock;
    // A timeout of more than a century is "forever" (and must not overflow the deadline).
    if (timeout && *timeout > std::chrono::hours(24 * 365 * 100))
        timeout.reset();
    const clock::time_point start = clock::now();
    const clock::time_point deadline = timeout ? start + *timeout : clock::time_point::max();
    const clock::time_point spin_until =
        start + (timeout && *timeout < send_spin ? *timeout : send_spin);
    for (clock::time_point now = start; now < spin_until; now = clock::now()) {
        reserve_result r = try_reserve(c);
        if (r != reserve_result::full)
            return r;
        for (int i = 0; i < 16; ++i)
            cpu_relax();
    }
    tx_waiter w;
    reserve_result r = enlist(w);
    if (r != reserve_result::full)
        return r;
    constexpr auto waiting = static_cast<std::uint32_t>(slot_outcome::waiting);
    while (w.word.load(std::memory_order_acquire) == waiting) {
        if (!timeout) {
            futex_wait(w.word, waiting, nullptr);
            continue;
        }
        const clock::time_point now = clock::now();
        if (now >= deadline)
            break;
        const std::chrono::nanoseconds left = deadline - now;
        futex_wait(w.word, waiting, &left);
    }
    // The lock also waits for a granter still inside wake_sender, so w may die after this.
    if (cancel_tx_wait(w)) {
        throw timeout_error("corio::channel: send_blocking() timed out: the channel stayed full");
    }
    return w.word.load(std::memory_order_relaxed) ==
                   static_cast<std::uint32_t>(slot_outcome::granted)
               ? reserve_result::granted
               : reserve_result::closed;
}

// -- the receivers (owning loop) ---------------------------------------------------------

bool channel_core::closed_and_drained() const noexcept {
    // Acquire: a sender that gave up its slot (abandon_slot) did so after its last access.
    // Closed, nothing more is taken, so an equal count stays equal.
    const std::uint64_t s = tx_.load(std::memory_order_acquire);
    return (s & closed_bit) != 0 && (s >> 2) == released_.load(std::memory_order_relaxed);
}

void channel_core::enqueue_receiver(rx_waiter& r) noexcept {
    rx_waiters_.push_back(r);
    pump();
}

void channel_core::cancel_rx_wait(rx_waiter& r) noexcept {
    if (r.linked)
        rx_waiters_.remove(r);
    if (rx_waiters_.empty()) {
        // Nobody left to wake: spare the next sender a wake-up message. A sender that took the
        // flag already has posted one, which will find nobody; harmless.
        rx_sleeping_.exchange(false, std::memory_order_relaxed);
    }
}

// Before the receivers sleep: watch the queue for about what sleeping costs (the arm's
// membarrier, 0.2 to 3 us, then a sender's wake-up message through the inbox), so that a
// receiver that keeps catching up with a busy sender does not pay it every few items, and an
// idle one pays at most twice. Relaxed loads only (size_approx); the take that follows is
// the real check.
bool channel_core::spin_for_items() const noexcept {
    using clock = std::chrono::steady_clock;
    const clock::time_point until = clock::now() + arm_spin;
    do {
        if (may_have_items())
            return true;
        // Not every pause: each look reads the sender's moodycamel lines, and its next store
        // there then waits for them to come back (while a send's CAS waits for that store).
        // Fewer looks also let a few items gather for one bulk dequeue.
        for (int i = 0; i < 8; ++i)
            cpu_relax();
    } while (clock::now() < until);
    return false;
}

// Before a sleep: go quiet after enough short naps (header), unless a sender is posting
// (quiet_mode::try_enter, the inbox's Dekker pair: a sender stores `posting` before its light
// fence and its read of rx_quiet_).
void channel_core::update_quiet() noexcept {
    const std::uint64_t released = released_.load(std::memory_order_relaxed);
    const bool short_nap_now = released - released_at_sleep_ < short_nap;
    released_at_sleep_ = released;
    if (rx_quiet_.on())
        return;
    short_naps_ = short_nap_now ? short_naps_ + 1 : 0;
    if (short_naps_ < short_naps_needed)
        return;
    short_naps_ = 0;
    rx_quiet_.try_enter([this] { return any_sender_posting(); });
}

// Serves the receivers' FIFO from the owning loop: hands the oldest item to the first waiter,
// wakes every waiter with "closed" once the channel is closed and drained, or goes to sleep
// (rx_sleeping_, heavy fence, one more look: the handshake of the header comment).
void channel_core::pump() noexcept {
    bool armed = false;
    while (!handing_ && !rx_waiters_.empty()) {
        auto& r = *static_cast<rx_waiter*>(rx_waiters_.front());
        if (take_into(r.out)) {
            handing_ = true;
            wake_receiver_task(r, rx_outcome::item);
            break;
        }
        // Watch the queue before reading tx_ for "closed": a receiver that catches up with a
        // busy sender would otherwise take the senders' line away from them at every catch-up.
        if (!armed && spin_for_items())
            continue;
        if (closed_and_drained()) {
            wake_receiver_task(r, rx_outcome::closed);
            continue;
        }
        if (armed)
            return;  // asleep: a publish, a close or a slot given back on a closed channel wakes us
        update_quiet();
        rx_sleeping_.store(true, std::memory_order_relaxed);
        // The flag before the re-check's loads (the queue, tx_): pairs with the light fence of
        // publish() and wake_receivers_if_sleeping(), or, quiet, with their full fences.
        if (rx_quiet_.on()) {
            full_fence();
        } else {
            heavy_fence();
        }
        armed = true;
    }
    if (armed) {
        // Found work after all: retract. A sender that took the flag meanwhile has posted a
        // wake-up we do not need; it finds the FIFO served.
        rx_sleeping_.exchange(false, std::memory_order_relaxed);
    }
}

void channel_core::wake_receiver_task(rx_waiter& r, rx_outcome outcome) noexcept {
    rx_waiters_.remove(r);
    r.outcome = outcome;
    r.task->suspended_on(nullptr);  // a cancel from now on is thrown when it resumes
    loop_access::push_ready(*owner_, ready_entry::of(r.handle));
}

// From a sender or a closer that cleared rx_sleeping: run the pump on the owning loop.
void channel_core::wake_receivers() noexcept {
    if (running_loop() == owner_) {
        pump();
        return;
    }
    if (owner_inbox_ == nullptr)
        return;  // only ~channel gets here (check_sender refuses the rest): nobody waits
    add_ref();
    try {
        owner_inbox_->post(remote_message([this](message_fate fate) {
            if (fate == message_fate::run)
                pump();
            release();
        }));
    } catch (...) {
        log(log_level::error, "corio::channel: cannot wake the receiving loop");
        std::terminate();
    }
}

// After an RMW on tx_ that a sleeping receiver must see (close, a slot given back): the
// write before the load of rx_sleeping_, pairing with pump()'s heavy fence.
void channel_core::wake_receivers_if_sleeping() noexcept {
    // A full fence whatever the receiver's mode: closers have no `posting` flag for going
    // quiet to see, and this path is rare.
    full_fence();
    if (rx_sleeping_.load(std::memory_order_relaxed) &&
        rx_sleeping_.exchange(false, std::memory_order_relaxed)) {
        wake_receivers();
    }
}

// -- close -------------------------------------------------------------------------------

void channel_core::close() {
    check_sender();
    close_now();
}

// acq_rel: the CAS of every send that took a slot before it is ordered before this, so
// shut_down's wait and closed_and_drained see those sends; a send after it reads closed.
void channel_core::close_now() noexcept {
    if ((tx_.fetch_or(closed_bit, std::memory_order_acq_rel) & closed_bit) != 0)
        return;
    {
        // No slot is granted from now on (serve_waiters checks closed under this lock), so the
        // waiters are told at once.
        std::lock_guard lock(mutex_);
        while (channel_link* n = tx_waiters_.pop_front()) {
            tx_count_.fetch_sub(1, std::memory_order_relaxed);
            wake_sender(*static_cast<tx_waiter*>(n), slot_outcome::closed);
        }
        clear_tx_waiting();
        // Unused batches back to the count, or the drained check would wait for them.
        take_back_batches();
    }
    // Receivers asleep re-check: they drain what was sent, then see "closed". A receiver that
    // arms after this reads the closed bit in its re-check.
    wake_receivers_if_sleeping();
}

}  // namespace corio::detail
