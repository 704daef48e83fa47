// channel<T>: a bounded MPSC channel into one loop, fed from any loop or any thread. No asyncio
// counterpart (an asyncio.Queue belongs to one loop, and crossing threads costs a
// call_soon_threadsafe per item); Go's buffered channel and tokio's mpsc::channel are the models.
//
//     corio::channel<int> ch(loop, 64);   // received on `loop`; at most 64 items in the channel
//     co_await ch.send(1);                // on any loop: waits while the channel is full
//     ch.send_blocking(2, 100ms);         // on a plain thread: blocks; timeout_error after 100 ms
//     if (ch.try_send(3) != corio::send_status::sent) { ... }   // never waits
//     int v = co_await ch.receive();      // on `loop` only
//     ch.close();                         // any thread
//
// Rules:
// - FIFO per sender: items one thread sends (or one task, or the tasks of one loop, in the
//   order their sends complete) are received in that order; no order across threads.
// - Capacity: at most capacity() items are in the channel, sent and not yet received; a send
//   that finds it full waits (send, send_blocking) or fails (try_send). Waiting senders get
//   freed slots first come, first served, whatever thread or loop they wait on. A sender
//   thread takes slots in small batches (capacity / 64 of them, at most 32; one at a time below
//   a capacity of 128) and keeps the unused ones for its next sends; try_send may therefore
//   find the channel full while another thread holds a few slots unused. A send that must
//   wait, and close(), take every such slot back first, so none is ever lost to a thread that
//   has stopped sending, and size() does not count them.
// - Every send reports: it returns (the item is in the channel and will be received exactly
//   once, unless the channel is destroyed with it inside) or it throws / returns a status, and
//   then the item was not sent (try_send and send_blocking leave it with the caller).
// - close() (any thread, idempotent): later sends fail with channel_closed; senders waiting for
//   room wake with channel_closed. Decision: items sent before close() are still received, in
//   order, and only then does receive() throw channel_closed (Go's close, tokio's close, Python
//   3.13's Queue.shutdown(immediate=False)): close() means "no more", not "discard". A send
//   that already held a slot when close() came (its reservation done, or a slot handed to it
//   by a receive) still completes and is received.
// - Cancellation (asyncio's queues): a receiver cancelled while waiting takes no item; one
//   cancelled after an item was set aside for it gives the item back (it is received next); a
//   sender cancelled while waiting sends nothing, and one cancelled after it was handed a slot
//   passes the slot to the next waiting sender. Nothing is lost, capacity is never exceeded.
// - Lifetime: the channel must outlive every call on it, as any object. Two cases are handled
//   for you: a send that has just made its item receivable may still be finishing when the
//   receiver destroys the channel (the destructor waits for it), and wake-ups still on their way
//   to a loop keep the shared state alive (it is reference counted).
//
// Design. The items travel through a moodycamel::ConcurrentQueue (the inbox's queue,
// preallocated, bulk-dequeued by the owning loop into a small local buffer), each in a
// detail::channel_cell that moves it into the block once and fetches the block's next lines
// for writing (detail/channel_cell.hpp). A send that needs no wait is one flattened function,
// send_now: a flood's sends wait on their stores, and each register save and spill is one.
// Control is split so that no cache line is written by both sides for every item:
//
//   tx_        senders' line: RMW by senders once per batch (and the slow path), not read by
//              a busy receiver
//              bits 2..63  taken: slots ever taken from the count (a batch, or a grant), minus
//                          slots given back unused; monotonic but for those rare give-backs
//              bit 1       tx_waiting: senders wait in the FIFO (set and cleared under mutex_)
//              bit 0       closed
//   seen_      senders' line: a recent value of released_, so that senders read the
//              receiver's line only when their cached view leaves less than a batch free
//              (SPSC rings' cached index)
//   released_  receiver's line: items received, ever; a plain store by the one receiver
//   rx_sleeping_, tx_waiting_  a line written only around a sleep or a wait: the receivers
//              wait for a publish; a mirror of tx_waiting for the receiver to read cheaply
//
// Taken - released counts the items sent and not yet received, slots being sent into, slots
// granted to waiting senders, and slots held unused in senders' batches. A send takes a slot
// from its thread's batch (below) or, when that is empty, takes a new batch: it reads tx_
// and seen_, computes the free slots (seen_ only ever lags released_, so the figure can only
// err low, and is redone with released_ itself when it would shrink the batch) and takes up
// to a batch of them with one CAS on tx_. It then enqueues with its thread's producer token
// and publishes: no RMW, only a light fence and a load of rx_sleeping_. A receive frees its
// slot by storing released_ + 1, a light fence and a load of tx_waiting_: no RMW either. So a
// send costs one locked instruction per batch, on a line only senders write, and a receive
// none. Why batches: a locked instruction makes the sender wait until its earlier stores,
// the previous items' writes to lines the receiver is reading, have left the store buffer
// (asymmetric_fence.hpp); one per send cost a flood about 1.7x the raw queue's time.
//
// Batches. A thread's unused slots are a count in its producer slot (sender_credits::left)
// that only that thread writes, with plain stores: taking one is a load, a store, a light
// fence and a load of the slot's `revoked` flag. Taking them back (the first sender that must
// wait, and close(); under mutex_) is the Dekker pair of the sleeping receivers with the roles
// set the other way: revoke_begin() sets every slot's `revoked`, a heavy fence, then
// revoke_end() reads each `left` and returns that many slots to the count. Either the thread
// sees the flag after its store (and settles under mutex_, in resync, without using the slot:
// it keeps what the take-back did not read, and gives that back too if senders wait or the
// channel is closed), or the take-back reads its store and leaves it the slot.
//
// Sleeping receivers (the inbox's handshake, sync/detail/wakeup.hpp, whose proof applies
// unchanged): the receiving side stores rx_sleeping_ = true, runs heavy_fence() (membarrier),
// and re-checks the queue and close; a publish enqueues, runs light_fence() (a compiler
// barrier), and loads rx_sleeping_. The fences forbid both loads missing the other's store, so
// either the re-check finds the item or the sender sees the flag; an exchange picks the one
// sender that posts the wake-up (a message to the owning loop that runs pump()). close() and
// a sender giving a slot back on a closed channel do the same after their RMW on tx_. Before it
// arms, the receiving side watches the queue for 2 us, about what a sleep costs (membarrier,
// then a wake-up message), so a receiver that keeps catching up with a busy sender does not
// sleep every few items, and one that does sleep pays at most about twice. A receiver that
// sleeps after nearly every item goes quiet (the inbox's quiet loops, wakeup.hpp): it arms with
// a full fence instead of membarrier, and senders that read rx_quiet_ add a full fence too.
//
// Full channels: a waiting sender, under mutex_, stores tx_waiting_ = true, runs heavy_fence(),
// then reads released_ and CASes tx_ (closed? a free slot? else set tx_waiting) and links
// itself into the FIFO; the receiver, after each store to released_, runs light_fence() and
// loads tx_waiting_. The same Dekker pair: either the waiter's read sees the freed slot (and it
// takes it, unless others already wait), or the receiver sees the flag, takes mutex_ and grants
// the free slots to the FIFO's first waiters (serve_waiters: one CAS on tx_ each, the count
// staying full). While tx_waiting is set in tx_, a send's CAS sees it and reports full, so a
// waiter is never overtaken: only grants take slots then. A slot given back unused (a failed
// enqueue, a sender cancelled after its grant, a grant whose loop closed) returns to the count
// under mutex_ and goes straight to the first waiter if any. A sender on a loop is woken
// through that loop's inbox (or inline, on its own loop); a foreign thread spins briefly, then
// sleeps on a futex word in its waiter node with a timeout.
//
// The destructor waits for sends that have made their item receivable: each thread's producer
// slot has a `posting` flag, stored true before the enqueue and false (release) as the send's
// last access. Whoever received the item acquired the enqueue, so the destroying receiver sees
// the flag set and waits for it (wakeup.hpp's close handshake, without the fence: the item's
// own release/acquire carries it).
#pragma once

#include <concurrentqueue.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <corio/detail/asymmetric_fence.hpp>
#include <corio/detail/channel_cell.hpp>
#include <corio/detail/drain_coalescer.hpp>
#include <corio/detail/inbox_hook.hpp>
#include <corio/detail/producer_slots.hpp>
#include <corio/detail/wakeup.hpp>
#include <corio/events.hpp>
#include <corio/exceptions.hpp>
#include <corio/tasks.hpp>

namespace corio {

/// A send on a closed channel, or a receive on a closed channel with nothing left in it
/// (Go's "send on closed channel"; the channel counterpart of queue_shutdown).
class channel_closed : public std::runtime_error {
public:
    channel_closed() : std::runtime_error("channel is closed") {}
};

/// What try_send did. Not sent (full, closed): the item was not moved from.
enum class send_status : std::uint8_t { sent, full, closed };

namespace detail {

// An intrusive FIFO node and list: O(1) push, pop and removal from the middle (a cancelled
// or timed-out waiter leaves from wherever it is).
struct channel_link {
    channel_link* prev = nullptr;
    channel_link* next = nullptr;
    bool linked = false;
};

class channel_list {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    channel_link* front() const noexcept { return head_; }
    void push_back(channel_link& n) noexcept;
    void remove(channel_link& n) noexcept;
    channel_link* pop_front() noexcept;

private:
    channel_link* head_ = nullptr;
    channel_link* tail_ = nullptr;
};

enum class reserve_result : std::uint8_t {
    reserved,  // a slot taken from the count by this sender
    granted,   // a slot handed over by the FIFO of waiting senders
    full,
    closed,
};

// How a wait for a slot ended, as told to the waiter.
enum class slot_outcome : std::uint8_t { waiting, granted, closed, cancelled };

// A sender waiting for a slot: on a loop (loop != null; woken through that loop), or a plain
// thread (woken through word, a futex).
struct tx_waiter : channel_link {
    event_loop* loop = nullptr;
    std::coroutine_handle<> handle;
    task_base* task = nullptr;
    // Loop waiters: written on the waiter's loop only (by the wake-up or by cancel).
    slot_outcome outcome = slot_outcome::waiting;
    // Thread waiters: the outcome, stored under the channel's mutex, read by the waiter.
    std::atomic<std::uint32_t> word{0};
};

enum class rx_outcome : std::uint8_t { waiting, item, closed, cancelled, done };

// A task of the owning loop waiting in receive(). Owner loop only.
struct rx_waiter : channel_link {
    std::coroutine_handle<> handle;
    task_base* task = nullptr;
    void* out = nullptr;  // the awaiter's std::optional<T>, filled by a hand-over
    rx_outcome outcome = rx_outcome::waiting;
};

// A sender thread's batch: slots it took from the count in advance and has not used yet
// (header comment, "Batches"). `left` is written by the owning thread only, with plain
// stores; a take-back (channel_core::revoke_begin/revoke_end, under mutex_) sets `revoked`,
// reads `left` after a heavy fence and returns that many slots to the count, leaving
// `observed`; the owner, which sees `revoked` after its next store to `left`, settles with it
// under mutex_ (channel_core::resync) and clears it.
struct sender_credits {
    std::atomic<std::uint32_t> left{0};
    std::atomic<bool> revoked{false};
    bool counting = false;       // under mutex_: revoked by the take-back in progress
    std::uint32_t observed = 0;  // under mutex_: what the take-back returned to the count
};

// A thread's producer slot in a channel (detail/producer_slots.hpp): its moodycamel producer
// token, its batch of slots, and its `posting` flag for the destructor (header comment). Its
// own line: the owning thread writes it on every send.
struct alignas(cache_line_size) channel_sender_slot {
    template <class Queue>
    explicit channel_sender_slot(Queue& q) : token(q) {}
    moodycamel::ProducerToken token;
    sender_credits credits;
    std::atomic<bool> posting{false};
};

// The type-independent half of a channel: the slot accounting, both waiting sides, close, the
// reference count (sync/src/channel.cpp). Invariants: tx_waiting (in tx_) is set iff
// tx_waiters_ is non-empty, and tx_waiting_ (the mirror) is set whenever it is; while it is
// set, every free slot is granted to a waiter before mutex_ is released (serve_waiters); at
// most one item is handed to a waiting receiver at a time (handing_), so a handed item given
// back is still the oldest.
class channel_core {
public:
    static constexpr std::size_t max_capacity = std::size_t{1} << 30;

    channel_core(const channel_core&) = delete;
    channel_core& operator=(const channel_core&) = delete;

    void add_ref() noexcept;
    void release() noexcept;

    event_loop& owner() const noexcept { return *owner_; }
    std::size_t capacity() const noexcept { return static_cast<std::size_t>(capacity_); }
    std::size_t size() noexcept;
    bool is_closed() const noexcept;
    // Owner loop only: whether the receiving side is quiet (full fences, no membarrier).
    bool receiver_quiet() const noexcept { return rx_quiet_.on(); }
    std::size_t waiting_senders() const noexcept {
        return tx_count_.load(std::memory_order_relaxed);  // a snapshot
    }

    // -- senders (any thread) -------------------------------------------------------------
    void check_sender() const {
        if (owner_inbox_ == nullptr) [[unlikely]]
            check_sender_slow();
    }

    // Takes a slot for the calling thread, whose batch is `c`: from the batch, else from the
    // count: reserved, full (also while senders wait: they come first) or closed. hot: no alloc
    reserve_result try_reserve(sender_credits& c) noexcept {
        const std::uint32_t left = c.left.load(std::memory_order_relaxed);
        if (left != 0) [[likely]] {
            c.left.store(left - 1, std::memory_order_relaxed);
            // The store before the load of `revoked`: pairs with revoke_begin's heavy fence
            // (header comment, "Batches"). Relaxed: the flag carries no data.
            light_fence();
            if (!c.revoked.load(std::memory_order_relaxed)) [[likely]]
                return reserve_result::reserved;
        }
        return reserve_slow(c, left);
    }

    // After the enqueue: wakes the receivers if they sleep, then leaves (`posting` false, the
    // send's last access to the channel). hot: no alloc
    void publish(std::atomic<bool>& posting) noexcept {
        // The enqueue before the load of rx_sleeping_: pairs with pump()'s heavy fence, or,
        // while the receiver is quiet (it sleeps every few items), with its full fence.
        light_fence();
        if (rx_quiet_.read()) [[unlikely]]
            full_fence();
        // The load filters the common case (awake) without writing the line; the exchange
        // picks one waker among the senders that saw the flag. Relaxed: no data travels
        // through the flag (the items go through the queue's own release/acquire).
        if (rx_sleeping_.load(std::memory_order_relaxed) &&
            rx_sleeping_.exchange(false, std::memory_order_relaxed)) {
            wake_receivers();
        }
        // Release: our last access, for a destructor waiting on the flag (wait_for_senders).
        posting.store(false, std::memory_order_release);
    }

    void abandon_slot() noexcept;  // a slot taken or granted but not used (enqueue failed, cancel)
    // A loop sender's slow path: reserves, or links `w` (full), or says closed.
    reserve_result enlist(tx_waiter& w);
    // Unlinks a waiting sender; false if it was granted or closed meanwhile.
    bool cancel_tx_wait(tx_waiter& w) noexcept;
    // A thread sender's slow path: reserved, granted or closed; timeout_error when it expires.
    reserve_result reserve_blocking(sender_credits& c,
                                    std::optional<std::chrono::nanoseconds> timeout);

    // -- the receiver (owning loop only) -----------------------------------------------------
    void check_owner(const char* what) const {
        if (running_loop() != owner_) [[unlikely]]
            wrong_loop(what);
    }
    bool receivers_queued() const noexcept { return handing_ || !rx_waiters_.empty(); }

    // An item left the channel: its slot is free. hot: no alloc
    void delivered() noexcept {
        // One writer (this loop): a plain load and store, no RMW. Release: a sender that reads
        // the new count (acquire) and takes the slot happens-after this receive.
        const std::uint64_t released = released_.load(std::memory_order_relaxed) + 1;
        released_.store(released, std::memory_order_release);
        // released_ before tx_waiting_: pairs with enlist()'s heavy fence (header comment).
        light_fence();
        if (tx_waiting_.load(std::memory_order_relaxed)) [[unlikely]]
            serve_waiters_locked();
        if (rx_quiet_.on() && released - released_at_sleep_ >= busy_run) [[unlikely]]
            rx_quiet_.leave();  // a flood again: senders go back to the light fence
    }

    bool closed_and_drained() const noexcept;
    void enqueue_receiver(rx_waiter& r) noexcept;
    void cancel_rx_wait(rx_waiter& r) noexcept;
    void end_handoff() noexcept { handing_ = false; }
    void pump() noexcept;

    void close();
    void close_now() noexcept;  // close() without the caller check
    // ~channel: close, wait for sends whose item is receivable to finish, release.
    void shut_down() noexcept;

protected:
    channel_core(event_loop& owner, std::size_t capacity);
    virtual ~channel_core();

    // The receiver's take: the given-back item, else the local buffer, else a bulk dequeue.
    // Does not free the slot (delivered() does). `out` is a std::optional<T>*.
    virtual bool take_into(void* out) noexcept = 0;
    // Waits until no thread is inside a send's enqueue and publish (its `posting` flag).
    virtual void wait_for_senders() noexcept = 0;
    // Whether take_into may find an item (relaxed loads only: a hint for the pre-sleep spin).
    virtual bool may_have_items() const noexcept = 0;
    // Calls f(c) for every sender thread's batch (under the senders' own lock).
    virtual void for_each_batch(void (*f)(sender_credits&, void*), void* arg) noexcept = 0;

    // The window of the receiver's drain_coalescer: the owning loop's inbox's, for a channel
    // whose capacity holds what a window gathers; 0 (off) for a smaller one, whose senders
    // would fill it and wait.
    std::int64_t receive_coalesce_ns() const noexcept;

private:
    // tx_'s layout (header comment).
    static constexpr std::uint64_t closed_bit = 1;
    static constexpr std::uint64_t tx_waiting_bit = 2;
    static constexpr std::uint64_t one_slot = 4;

    // Whether tx_ value `s` leaves a slot free, given `released` (released_ or an older
    // value). Signed: a stale `s` may be behind a newer `released`; its CAS then fails.
    std::int64_t free_slots(std::uint64_t s, std::uint64_t released) const noexcept {
        return static_cast<std::int64_t>(capacity_) -
               static_cast<std::int64_t>((s >> 2) - released);
    }
    bool has_room(std::uint64_t s, std::uint64_t released) const noexcept {
        return free_slots(s, released) > 0;
    }
    std::uint64_t refresh_released() noexcept;
    reserve_result reserve_slow(sender_credits& c, std::uint32_t had) noexcept;
    reserve_result take_batch(sender_credits& c) noexcept;
    bool resync(sender_credits& c, std::uint32_t had, bool need_one) noexcept;
    bool revoke_begin() noexcept;         // under mutex_
    std::uint64_t revoke_end() noexcept;  // under mutex_
    void take_back_batches() noexcept;    // under mutex_
    std::size_t unused_batches() noexcept;
    bool spin_for_items() const noexcept;
    void update_quiet() noexcept;
    // Whether a sender is between its `posting` store and its last access (going quiet).
    virtual bool any_sender_posting() const noexcept = 0;
    void serve_waiters_locked() noexcept;
    void serve_waiters() noexcept;                                  // under mutex_
    void clear_tx_waiting() noexcept;                               // under mutex_
    void wake_sender(tx_waiter& w, slot_outcome outcome) noexcept;  // under mutex_
    void wake_receivers_if_sleeping() noexcept;
    void wake_receivers() noexcept;
    void wake_receiver_task(rx_waiter& r, rx_outcome outcome) noexcept;
    void check_sender_slow() const;
    [[noreturn]] static void wrong_loop(const char* what);

    // Read-only after construction, read by every sender: a line of their own.
    alignas(cache_line_size) event_loop* const owner_;
    inbox_hook* const owner_inbox_;  // null for a loop without one (tests): same-loop use only
    const std::uint64_t capacity_;
    const std::uint32_t batch_;  // slots a sender takes from the count at once (at most)

    // The senders' line: an RMW per send; the receiver reads it only on its slow paths.
    alignas(cache_line_size) std::atomic<std::uint64_t> tx_{0};
    // A recent released_, written by senders that refreshed it. Relaxed: a hint whose only
    // requirement is never to exceed released_ (it is only ever a value read from it).
    std::atomic<std::uint64_t> seen_{0};

    // The receiver's line: one plain store per received item; senders read it only when
    // their cached view says full.
    alignas(cache_line_size) std::atomic<std::uint64_t> released_{0};

    // Written around a sleep or a wait only, read on every send (rx_sleeping_, rx_quiet_) and
    // every receive (tx_waiting_).
    alignas(cache_line_size) std::atomic<bool> rx_sleeping_{false};
    std::atomic<bool> tx_waiting_{false};  // written under mutex_
    quiet_mode rx_quiet_;                  // switched by the receiving loop (update_quiet)

    // The slow path of full channels.
    alignas(cache_line_size) std::mutex mutex_;
    channel_list tx_waiters_;               // guarded by mutex_
    std::atomic<std::size_t> tx_count_{0};  // its length, written under mutex_, read anywhere
    // Relaxed increments (an owner makes a new one), acq_rel decrements (the deleter sees all).
    std::atomic<std::uint32_t> refs_{1};

    // Owning loop only.
    alignas(cache_line_size) channel_list rx_waiters_;
    bool handing_ = false;
    // Quiet receivers (the inbox's quiet loops, wakeup.hpp): a receiver that sleeps every few
    // items would pay a membarrier per item, so after short_naps_needed sleeps with fewer
    // than short_nap items between them it switches both sides to full fences (a sender then
    // pays a fence per send, cheap at that rate); busy_run items without a sleep switch back.
    static constexpr std::uint64_t short_nap = 4;
    static constexpr int short_naps_needed = 8;
    static constexpr std::uint64_t busy_run = 256;
    int short_naps_ = 0;                   // consecutive sleeps after fewer than short_nap items
    std::uint64_t released_at_sleep_ = 0;  // released_ at the last sleep
};

template <class T>
class channel_state final : public channel_core {
public:
    channel_state(event_loop& owner, std::size_t capacity)
        : channel_core(owner, capacity),
          items_(preallocation(capacity)),
          consumer_(items_),
          buffer_size_(capacity < max_buffer ? capacity : max_buffer),
          buffer_(std::make_unique<std::optional<T>[]>(buffer_size_)),
          rx_coalescer_(receive_coalesce_ns(), buffer_size_) {}

    // After a reservation or a grant. moodycamel constructs the item only once it has room, so
    // a failed enqueue leaves `item` untouched.
    // The calling thread's producer slot (detail/producer_slots.hpp): an explicit producer,
    // not moodycamel's thread-id lookup per enqueue. Made on a thread's first send.
    channel_sender_slot& sender() {
        return senders_.of_this_thread(
            [this] { return std::make_unique<channel_sender_slot>(items_); });
    }

    // A send that needs no wait: takes a slot (this thread's batch, else the count) and
    // enqueues `item`, moved from only then: reserved (sent), full or closed. Flattened, so
    // that the enqueue is inline and a send saves its registers once (each register save is
    // a store, and a flood's sends wait on their stores: inbox_cell.hpp); and it takes
    // nothing a slow path needs (send_blocking's timeout, live across the calls here, was
    // three more stores per send).
    [[gnu::flatten]] reserve_result send_now(T& item) {  // hot: no alloc in steady state
        check_sender();
        channel_sender_slot& slot = sender();
        const reserve_result r = try_reserve(slot.credits);
        if (r == reserve_result::full || r == reserve_result::closed)
            return r;
        deliver(slot, item);
        return reserve_result::reserved;
    }

    // After a reservation or a grant: moves `item` into the channel (or throws bad_alloc,
    // and then `item` is untouched: moodycamel constructs a slot only once it has room).
    void deliver(T& item) { deliver(sender(), item); }

    void deliver(channel_sender_slot& slot, T& item) {  // hot: no alloc in steady state
        // Relaxed: the enqueue's release store carries it to whoever receives the item, and
        // so to a destructor that runs after that (header comment).
        slot.posting.store(true, std::memory_order_relaxed);
        pending_cell<T> pending(item);
        if (!items_.enqueue(slot.token, pending.cell())) [[unlikely]] {
            abandon_slot();
            slot.posting.store(false, std::memory_order_release);
            throw std::bad_alloc();
        }
        publish(slot.posting);
    }

    bool take(std::optional<T>& out) noexcept { return take_into(&out); }
    // The receiver's next item, left in place (the given-back item, else the local buffer,
    // else a bulk dequeue), or null; pop() then drops it. Receiving through these moves an
    // item once on its way out, not twice. Does not free the slot (delivered() does).
    // `coalesce`: a receive may wait out the coalescing window first (drain_coalescer.hpp);
    // try_receive and the pump may not.
    T* peek(bool coalesce = true) noexcept {  // inline: most receives find an item buffered
        if (returned_) [[unlikely]]
            return &*returned_;
        if (pos_ != end_) [[likely]]
            return &*buffer_[pos_];
        return refill(coalesce);
    }
    void pop() noexcept {
        if (returned_) {
            returned_.reset();
            return;
        }
        buffer_[pos_++].reset();
    }
    // A handed item whose receiver was cancelled: it is the oldest, received next.
    void give_back(T&& item) noexcept { returned_.emplace(std::move(item)); }

private:
    // Enough blocks for `capacity` items up to 64 Ki of them, plus two for producers holding
    // partly filled blocks; a larger channel grows its pool while warming up, then reuses it.
    static std::size_t preallocation(std::size_t capacity) noexcept {
        constexpr std::size_t cap = std::size_t{1} << 16;
        return (capacity < cap ? capacity : cap) +
               2 * moodycamel::ConcurrentQueueDefaultTraits::BLOCK_SIZE;
    }
    // One bulk dequeue serves this many receives: moodycamel's dequeue RMWs the producer's
    // counters once per call, which a per-item dequeue would pay on a line the producer writes.
    static constexpr std::size_t max_buffer = 64;

    // The local buffer is used up: a bulk dequeue into it; its first item, or null.
    [[gnu::noinline]] T* refill(bool coalesce) noexcept {
        // A receiver that keeps up with a sender would take a few items per dequeue, each
        // time reading the lines the sender is writing (drain_coalescer.hpp).
        std::int64_t began_ns = 0;
        if (coalesce && rx_coalescer_.may_wait(loop_access::has_ready(owner()))) {
            loop_stats& s = loop_access::stats(owner());
            began_ns = rx_coalescer_.wait_out(s.coalesce_waits, s.coalesce_ns);
        }
        pos_ = 0;
        end_ =
            items_.try_dequeue_bulk(consumer_, into_receive_buffer<T>{buffer_.get()}, buffer_size_);
        rx_coalescer_.drained(end_, began_ns);
        return end_ == 0 ? nullptr : &*buffer_[0];
    }

    bool take_into(void* out) noexcept override {
        T* next = peek(false);
        if (next == nullptr)
            return false;
        static_cast<std::optional<T>*>(out)->emplace(std::move(*next));
        pop();
        return true;
    }

    bool may_have_items() const noexcept override {
        return returned_.has_value() || pos_ != end_ || items_.size_approx() != 0;
    }

    bool any_sender_posting() const noexcept override {
        bool any = false;
        senders_.for_each([&any](const channel_sender_slot& s) {
            any = any || s.posting.load(std::memory_order_relaxed);
        });
        return any;
    }

    void for_each_batch(void (*f)(sender_credits&, void*), void* arg) noexcept override {
        senders_.for_each([f, arg](channel_sender_slot& s) { f(s.credits, arg); });
    }

    void wait_for_senders() noexcept override {
        senders_.for_each([](const channel_sender_slot& s) { wakeup::wait_until_left(s.posting); });
    }

    moodycamel::ConcurrentQueue<channel_cell<T>> items_;
    // Read by every sender: its own line. After items_: its tokens die first.
    alignas(cache_line_size) producer_slots<channel_sender_slot> senders_;
    // Owning loop only.
    alignas(cache_line_size) moodycamel::ConsumerToken consumer_;
    const std::size_t buffer_size_;
    std::unique_ptr<std::optional<T>[]> buffer_;  // [pos_, end_): dequeued, not yet received
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
    std::optional<T> returned_;
    drain_coalescer rx_coalescer_;
};

}  // namespace detail

template <class T>
class channel;

namespace detail {

// For tests and diagnostics: a channel's type-independent state.
struct channel_access {
    template <class T>
    static const channel_core& core(const channel<T>& c) noexcept {
        return *c.s_;
    }
};

}  // namespace detail

/// A bounded multi-producer, single-consumer channel into one loop (its owner). Senders: any
/// loop (co_await send) or any thread (send_blocking, try_send); thread-safe. Receiving: tasks
/// of the owning loop only. See the rules at the top of <corio/channel.hpp>. T must be nothrow
/// move constructible (an item moves into and out of the channel without a failure path).
template <class T>
class channel {
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "corio::channel<T> needs a nothrow move constructible T");

public:
    static constexpr std::size_t max_capacity = detail::channel_core::max_capacity;

    /// A channel received on `owner`, holding at most `capacity` items (1 to 2^30; otherwise
    /// std::invalid_argument). Allocates its queue's blocks now, so steady-state sends and
    /// receives allocate nothing.
    channel(event_loop& owner, std::size_t capacity)
        : s_(new detail::channel_state<T>(owner, capacity)) {}
    /// The same on the running loop (std::runtime_error "no running event loop" if none).
    explicit channel(std::size_t capacity) : channel(get_running_loop(), capacity) {}
    /// Closes the channel; items still in it are destroyed. No call may still be waiting on
    /// it; a send that has made its item receivable and is finishing is waited for.
    ~channel() { s_->shut_down(); }
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;

    class [[nodiscard]] send_awaiter;
    class [[nodiscard]] receive_awaiter;

    /// From a task on any loop: sends `item`, waiting (FIFO among waiting senders) while the
    /// channel is full. Throws channel_closed if the channel is or gets closed first, and
    /// cancelled_error if cancelled while waiting; either way the item is not sent.
    send_awaiter send(T item) { return send_awaiter(*s_, std::move(item)); }

    /// From anywhere, never waits: sent, full (also while senders wait for room: they come
    /// first), or closed. The item is moved from only when sent.
    send_status try_send(T&& item) { return try_send_impl(item); }
    send_status try_send(const T& item) {
        T copy(item);  // before a slot is taken: a copy that throws sends nothing
        return try_send_impl(copy);
    }

    /// From a thread that runs no loop: sends `item`, blocking while the channel is full, at
    /// most `timeout` (none: forever). Throws timeout_error("corio::channel: send_blocking()
    /// timed out: the channel stayed full") when the timeout expires, channel_closed if the
    /// channel is or gets closed, and std::runtime_error on a thread running a loop (it would
    /// block that loop: co_await send() there). On any exception the item is not sent and
    /// not moved from.
    void send_blocking(T&& item, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        send_blocking_impl(item, timeout);
    }
    void send_blocking(const T& item,
                       std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        T copy(item);  // before a slot is taken: a copy that throws sends nothing
        send_blocking_impl(copy, timeout);
    }

    /// From a task of the owning loop: the next item, waiting (FIFO among receivers) while
    /// the channel is empty. Throws channel_closed once the channel is closed and every item
    /// sent before has been received, cancelled_error if cancelled (then no item is taken),
    /// and std::runtime_error("corio::channel: receive() must be called on the channel's
    /// owning loop") anywhere else.
    receive_awaiter receive() { return receive_awaiter(*s_); }

    /// On the owning loop, never waits: the next item, or nothing if the channel is empty.
    /// channel_closed once closed and drained; std::runtime_error off the owning loop.
    std::optional<T> try_receive() {
        s_->check_owner("try_receive");
        std::optional<T> out;
        if (s_->take(out)) {
            s_->delivered();
            return out;
        }
        if (s_->closed_and_drained())
            throw channel_closed();
        return out;
    }

    /// Any thread; idempotent. See the rules above: no new sends, waiting senders fail,
    /// items already sent are still received.
    void close() { s_->close(); }
    bool is_closed() const noexcept { return s_->is_closed(); }
    std::size_t capacity() const noexcept { return s_->capacity(); }
    /// Occupied slots: items in the channel, being sent, or handed to a waiting sender.
    std::size_t size() const noexcept { return s_->size(); }
    /// Senders waiting for room, on loops or blocked threads (a snapshot, for monitoring).
    std::size_t waiting_senders() const noexcept { return s_->waiting_senders(); }
    /// The owning loop.
    event_loop& get_loop() const noexcept { return s_->owner(); }

private:
    send_status try_send_impl(T& item) {
        switch (s_->send_now(item)) {
            case detail::reserve_result::full:
                return send_status::full;
            case detail::reserve_result::closed:
                return send_status::closed;
            default:
                return send_status::sent;
        }
    }

    void send_blocking_impl(T& item, std::optional<std::chrono::nanoseconds> timeout) {
        if (detail::running_loop() != nullptr) {
            throw std::runtime_error(
                "corio::channel: send_blocking() would block the running event loop; "
                "co_await send() instead");
        }
        const detail::reserve_result r = s_->send_now(item);
        if (r == detail::reserve_result::full)
            send_blocking_slow(item, timeout);
        else if (r == detail::reserve_result::closed)
            throw channel_closed();
    }

    // The channel was full: wait for a slot, then send.
    [[gnu::noinline]] void send_blocking_slow(T& item,
                                              std::optional<std::chrono::nanoseconds> timeout) {
        detail::channel_sender_slot& slot = s_->sender();
        if (s_->reserve_blocking(slot.credits, timeout) == detail::reserve_result::closed)
            throw channel_closed();
        s_->deliver(slot, item);
    }

    friend struct detail::channel_access;
    detail::channel_state<T>* s_;
};

/// co_await ch.send(item). Built in place in the awaiting frame (it holds the waiter node).
template <class T>
class channel<T>::send_awaiter final : public detail::task_waiter {
public:
    send_awaiter(detail::channel_state<T>& s, T item) : s_(s), item_(std::move(item)) {}
    send_awaiter(const send_awaiter&) = delete;
    send_awaiter& operator=(const send_awaiter&) = delete;
    // A frame destroyed while waiting (its loop closed): leave the FIFO. A granted slot
    // belongs to the wake-up message then, which frees it when the closing loop drops it.
    ~send_awaiter() {
        if (node_.loop != nullptr && node_.outcome == detail::slot_outcome::waiting)
            s_.cancel_tx_wait(node_);
    }

    bool await_ready() {  // hot: no alloc
        const detail::reserve_result r = s_.send_now(item_);
        if (r == detail::reserve_result::closed)
            closed_ = true;
        return r != detail::reserve_result::full;
    }

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        detail::task_base& t = detail::awaiting_task(h);
        node_.loop = &t.loop();
        node_.handle = h;
        node_.task = &t;
        if (settle(s_.enlist(node_), s_.sender())) {
            node_.loop = nullptr;  // not waiting after all
            return false;
        }
        t.suspended_on(this);
        detail::loop_access::set_current_task(t.loop(), nullptr);
        return true;
    }

    void await_resume() {
        if (node_.loop == nullptr) {
            if (closed_)
                throw channel_closed();
            return;
        }
        detail::task_base& t = *node_.task;
        t.resume_as_current();
        const detail::slot_outcome outcome = node_.outcome;
        node_.outcome = detail::slot_outcome::cancelled;  // done: the destructor has nothing to do
        if (outcome == detail::slot_outcome::granted) {
            try {
                t.throw_if_cancel_requested();
            } catch (...) {
                s_.abandon_slot();  // cancelled at the moment it was woken: pass the slot on
                throw;
            }
            s_.deliver(item_);
            return;
        }
        t.throw_if_cancel_requested();
        throw channel_closed();  // the only other way a wait ends without a cancel
    }

    bool cancel_wait(const std::string&) override {
        if (s_.cancel_tx_wait(node_)) {
            node_.outcome = detail::slot_outcome::cancelled;
            node_.task->suspended_on(nullptr);
            detail::loop_access::push_ready(*node_.loop, detail::ready_entry::of(node_.handle));
        }
        // Else a grant or a close is on its way and resumes the task; the cancellation stays
        // pending in the task and is thrown then, after a granted slot was passed on.
        return false;
    }

private:
    // Finishes a send that needs no wait; false: it must wait. `slot`: this thread's.
    bool settle(detail::reserve_result r, detail::channel_sender_slot& slot) {
        switch (r) {
            case detail::reserve_result::full:
                return false;
            case detail::reserve_result::closed:
                closed_ = true;
                return true;
            default:
                s_.deliver(slot, item_);
                return true;
        }
    }

    detail::channel_state<T>& s_;
    T item_;
    detail::tx_waiter node_;
    bool closed_ = false;
};

/// co_await ch.receive(). Built in place in the awaiting frame (it holds the waiter node).
template <class T>
class channel<T>::receive_awaiter final : public detail::task_waiter {
public:
    explicit receive_awaiter(detail::channel_state<T>& s) noexcept : s_(s) {}
    receive_awaiter(const receive_awaiter&) = delete;
    receive_awaiter& operator=(const receive_awaiter&) = delete;
    // A frame destroyed while waiting (the owning loop closed): leave the FIFO, and give back
    // an item handed over but never received.
    ~receive_awaiter() {
        if (!waited_)
            return;
        detail::rx_waiter& node = w_.node;
        if (node.linked) {
            s_.cancel_rx_wait(node);
        } else if (node.outcome == detail::rx_outcome::item) {
            s_.end_handoff();
            s_.give_back(std::move(*w_.item));
        }
        w_.~wait_state();
    }

    bool await_ready() {  // hot: no alloc
        s_.check_owner("receive");
        if (s_.receivers_queued())
            return false;
        ready_ = s_.peek();  // taken in await_resume, which follows with nothing in between
        return ready_ != nullptr;
    }

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        detail::task_base& t = detail::awaiting_task(h);
        ::new (&w_) wait_state();
        waited_ = true;
        detail::rx_waiter& node = w_.node;
        node.handle = h;
        node.task = &t;
        node.out = &w_.item;
        t.suspended_on(this);
        detail::loop_access::set_current_task(t.loop(), nullptr);
        s_.enqueue_receiver(node);  // may hand this waiter an item at once
    }

    T await_resume() {  // inline: the item was waiting, the common case of a busy channel
        if (ready_ != nullptr) [[likely]] {
            T item(std::move(*ready_));
            s_.pop();
            s_.delivered();
            return item;
        }
        return resume_after_wait();
    }

    bool cancel_wait(const std::string&) override {
        // Only a linked waiter can be cancelled here: a woken one is already scheduled and no
        // longer registered with its task.
        detail::rx_waiter& node = w_.node;
        s_.cancel_rx_wait(node);
        node.outcome = detail::rx_outcome::cancelled;
        node.task->suspended_on(nullptr);
        detail::loop_access::push_ready(s_.owner(), detail::ready_entry::of(node.handle));
        return false;  // the cancellation stays pending in the task, thrown when it resumes
    }

private:
    [[gnu::noinline]] T resume_after_wait() {
        detail::task_base& t = *w_.node.task;
        t.resume_as_current();
        const detail::rx_outcome outcome = std::exchange(w_.node.outcome, detail::rx_outcome::done);
        if (outcome == detail::rx_outcome::item) {
            s_.end_handoff();
            try {
                t.throw_if_cancel_requested();
            } catch (...) {
                // Cancelled at the moment it was handed the item: the item goes back to the
                // front, and the next waiting receiver gets it.
                s_.give_back(std::move(*w_.item));
                s_.pump();
                throw;
            }
            s_.delivered();
            s_.pump();  // the next waiting receiver, if any
            return std::move(*w_.item);
        }
        t.throw_if_cancel_requested();
        throw channel_closed();  // the only other way a wait ends without a cancel
    }

    // What a receive that waits needs: made by await_suspend only, so that a receive that
    // finds its item (a busy channel's common case) does not initialise it.
    struct wait_state {
        std::optional<T> item;  // filled by a hand-over
        detail::rx_waiter node;
    };

    detail::channel_state<T>& s_;
    T* ready_ = nullptr;   // await_ready found this item waiting
    bool waited_ = false;  // w_ is alive
    union {
        wait_state w_;
    };
};

}  // namespace corio
