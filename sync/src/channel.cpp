// The type-independent half of <corio/channel.hpp>: the state word's protocol, the waiting
// senders' FIFO (loop tasks and blocked threads), the receivers' side on the owning loop, and
// close. The design and the memory-ordering argument are at the top of the header.
#include <cerrno>
#include <ctime>
#include <string>
#include <thread>

#include <corio/channel.hpp>
#include <corio/detail/cpu_relax.hpp>
#include <corio/detail/futex.hpp>
#include <corio/log.hpp>

namespace corio::detail {
namespace {

// The state word (header comment). Slots sit in the high half so that the count is a shift.
constexpr std::uint64_t closed_bit = 1;
constexpr std::uint64_t rx_sleeping_bit = 2;
constexpr std::uint64_t tx_waiting_bit = 4;
constexpr std::uint64_t one_sender = 8;
constexpr std::uint64_t senders_mask = (std::uint64_t{1} << 32) - one_sender;
constexpr std::uint64_t one_item = std::uint64_t{1} << 32;

constexpr std::uint64_t slots_of(std::uint64_t s) noexcept {
    return s >> 32;
}

// How long a blocked thread spins for a slot before it sleeps on its futex: a receiver that
// is busy frees one within microseconds, and a VM takes tens of microseconds to wake a sleeper
// (concurrent_future::result spins for the same reason).
constexpr std::chrono::nanoseconds send_spin = std::chrono::microseconds(50);

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
      capacity_(checked_capacity(capacity)) {}

channel_core::~channel_core() = default;

void channel_core::add_ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);
}

void channel_core::release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
        delete this;
}

void channel_core::shut_down() noexcept {
    close_now();
    // Acquire: pairs with publish()'s release, the last access of a sender to this state.
    while ((state_.load(std::memory_order_acquire) & senders_mask) != 0)
        std::this_thread::yield();
    release();
}

// Relaxed: a snapshot for the caller, who learns nothing else through it.
std::size_t channel_core::size() const noexcept {
    return static_cast<std::size_t>(slots_of(state_.load(std::memory_order_relaxed)));
}

bool channel_core::is_closed() const noexcept {
    return (state_.load(std::memory_order_relaxed) & closed_bit) != 0;
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
// Every write to state_ is an RMW with acq_rel (or release, where noted): the proof in the
// header needs each write to continue the release sequence the receiver's fetch_or reads, and
// on x86 an RMW costs the same whatever its order. The first loads of each CAS loop are
// relaxed: they are guesses that the CAS checks.

reserve_result channel_core::try_reserve() noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & closed_bit) != 0)
            return reserve_result::closed;
        // tx_waiting implies a full count (invariant), so waiting senders are never overtaken.
        if (slots_of(s) >= capacity_)
            return reserve_result::full;
        if (state_.compare_exchange_weak(s, s + one_item + one_sender, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
            return reserve_result::reserved;
        }
    }
}

void channel_core::enter() noexcept {
    // Relaxed, as wakeup::enter: the count publishes nothing until publish() releases it.
    state_.fetch_add(one_sender, std::memory_order_relaxed);
}

void channel_core::publish() noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & rx_sleeping_bit) == 0) {
            // Release publishes the enqueue to the receiver's next RMW and, as our last access,
            // lets a destructor waiting on the sender count free the state.
            if (state_.compare_exchange_weak(s, s - one_sender, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
                return;
            }
            continue;
        }
        // The receivers sleep: clear the bit (we are the one to wake them), stay counted in
        // until the wake-up is posted, so the state cannot be freed under it.
        if (state_.compare_exchange_weak(s, s & ~rx_sleeping_bit, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
            wake_receivers();
            state_.fetch_sub(one_sender, std::memory_order_release);
            return;
        }
    }
}

void channel_core::abandon_reserved() noexcept {
    free_slot(false);
    state_.fetch_sub(one_sender, std::memory_order_release);
}

void channel_core::abandon_granted() noexcept {
    free_slot(false);
}

// A slot leaves its holder: to the first waiting sender if any (the count stays full), else
// back to the count. A sender giving one up on a closed channel may be the last thing the
// receivers wait for (closed and drained), so it wakes them.
void channel_core::free_slot(bool by_receiver) noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & tx_waiting_bit) != 0) {
            if (grant_first_waiter())
                return;
            s = state_.load(std::memory_order_relaxed);
            continue;
        }
        std::uint64_t n = s - one_item;
        const bool wake =
            !by_receiver && (s & closed_bit) != 0 && (s & rx_sleeping_bit) != 0 && slots_of(n) == 0;
        if (wake)
            n &= ~rx_sleeping_bit;
        if (state_.compare_exchange_weak(s, n, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
            if (wake)
                wake_receivers();
            return;
        }
    }
}

bool channel_core::grant_first_waiter() noexcept {
    std::lock_guard lock(mutex_);
    // Relaxed under the lock: tx_waiting changes only under it, so we see its latest value.
    if ((state_.load(std::memory_order_relaxed) & tx_waiting_bit) == 0)
        return false;
    auto* w = static_cast<tx_waiter*>(tx_waiters_.pop_front());
    tx_count_.fetch_sub(1, std::memory_order_relaxed);
    if (tx_waiters_.empty())
        state_.fetch_and(~tx_waiting_bit, std::memory_order_acq_rel);
    wake_sender(*w, slot_outcome::granted);
    return true;
}

reserve_result channel_core::enlist(tx_waiter& w) {
    if (w.loop != nullptr && w.loop != owner_ && loop_access::inbox(*w.loop) == nullptr)
        throw std::runtime_error("corio::channel: a loop without an inbox cannot wait to send");
    std::lock_guard lock(mutex_);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & closed_bit) != 0)
            return reserve_result::closed;
        if (slots_of(s) < capacity_) {
            if (state_.compare_exchange_weak(s, s + one_item + one_sender,
                                             std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
                return reserve_result::reserved;
            }
            continue;
        }
        // Full, atomically with setting the bit: a slot freed after this CAS comes through
        // grant_first_waiter, which needs our lock, so it finds us linked.
        if (state_.compare_exchange_weak(s, s | tx_waiting_bit, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
            break;
        }
    }
    tx_waiters_.push_back(w);
    tx_count_.fetch_add(1, std::memory_order_relaxed);
    return reserve_result::full;
}

bool channel_core::cancel_tx_wait(tx_waiter& w) noexcept {
    std::lock_guard lock(mutex_);
    if (!w.linked)
        return false;
    tx_waiters_.remove(w);
    tx_count_.fetch_sub(1, std::memory_order_relaxed);
    if (tx_waiters_.empty())
        state_.fetch_and(~tx_waiting_bit, std::memory_order_acq_rel);
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
                ch->free_slot(false);
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

reserve_result channel_core::reserve_blocking(std::optional<std::chrono::nanoseconds> timeout) {
    using clock = std::chrono::steady_clock;
    // A timeout of more than a century is "forever" (and must not overflow the deadline).
    if (timeout && *timeout > std::chrono::hours(24 * 365 * 100))
        timeout.reset();
    const clock::time_point start = clock::now();
    const clock::time_point deadline = timeout ? start + *timeout : clock::time_point::max();
    const clock::time_point spin_until =
        start + (timeout && *timeout < send_spin ? *timeout : send_spin);
    for (clock::time_point now = start; now < spin_until; now = clock::now()) {
        reserve_result r = try_reserve();
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
    // Acquire: a sender that gave up its slot (free_slot) did so after its last access.
    const std::uint64_t s = state_.load(std::memory_order_acquire);
    return (s & closed_bit) != 0 && slots_of(s) == 0;
}

void channel_core::enqueue_receiver(rx_waiter& r) noexcept {
    rx_waiters_.push_back(r);
    pump();
}

void channel_core::cancel_rx_wait(rx_waiter& r) noexcept {
    if (r.linked)
        rx_waiters_.remove(r);
    if (rx_waiters_.empty()) {
        // Nobody left to wake: spare the next sender a wake-up message. A sender that cleared
        // the bit already has posted one, which will find nobody; harmless.
        state_.fetch_and(~rx_sleeping_bit, std::memory_order_acq_rel);
    }
}

// Serves the receivers' FIFO from the owning loop: hands the oldest item to the first waiter,
// wakes every waiter with "closed" once the channel is closed and drained, or goes to sleep
// (fetch_or rx_sleeping, then one more look: the handshake of the header comment).
void channel_core::pump() noexcept {
    bool armed = false;
    while (!handing_ && !rx_waiters_.empty()) {
        auto& r = *static_cast<rx_waiter*>(rx_waiters_.front());
        if (take_into(r.out)) {
            handing_ = true;
            wake_receiver_task(r, rx_outcome::item);
            break;
        }
        if (closed_and_drained()) {
            wake_receiver_task(r, rx_outcome::closed);
            continue;
        }
        if (armed)
            return;  // asleep: a publish, a close or a freed last slot wakes us
        // acq_rel: synchronises with every publish before it, so the re-check sees their items.
        state_.fetch_or(rx_sleeping_bit, std::memory_order_acq_rel);
        armed = true;
    }
    if (armed) {
        // Found work after all: retract. A sender that cleared the bit meanwhile has posted a
        // wake-up we do not need; it finds the FIFO served.
        state_.fetch_and(~rx_sleeping_bit, std::memory_order_acq_rel);
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

// -- close -------------------------------------------------------------------------------

void channel_core::close() {
    check_sender();
    close_now();
}

void channel_core::close_now() noexcept {
    if ((state_.fetch_or(closed_bit, std::memory_order_acq_rel) & closed_bit) != 0)
        return;
    {
        // No slot is freed to a waiter from now on: nobody can reserve any more, so the
        // waiters are told at once.
        std::lock_guard lock(mutex_);
        while (channel_link* n = tx_waiters_.pop_front()) {
            tx_count_.fetch_sub(1, std::memory_order_relaxed);
            wake_sender(*static_cast<tx_waiter*>(n), slot_outcome::closed);
        }
        state_.fetch_and(~tx_waiting_bit, std::memory_order_acq_rel);
    }
    // Receivers asleep re-check: they drain what was sent, then see "closed". A receiver that
    // arms after this RMW reads the closed bit in its own.
    if ((state_.fetch_and(~rx_sleeping_bit, std::memory_order_acq_rel) & rx_sleeping_bit) != 0)
        wake_receivers();
}

}  // namespace corio::detail
