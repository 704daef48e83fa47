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
//   freed slots first come, first served, whatever thread or loop they wait on.
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
// Design. The items travel through a moodycamel::ConcurrentQueue<T> (the inbox's queue,
// preallocated, bulk-dequeued by the owning loop into a small local buffer); control travels
// through one 64-bit atomic word, state_, on its own cache line:
//
//   bits 32..63  occupied slots: reserved by a sender, until the receiver has delivered the item
//   bits 3..31   senders between their reservation and their publish (the destructor waits)
//   bit 2        tx_waiting: senders wait in the FIFO for a slot (changes only under mutex_)
//   bit 1        rx_sleeping: the owning loop's receivers wait for a publish to wake them
//   bit 0        closed
//
// A send is reserve (CAS: closed? full? else one more slot and one more sender), enqueue, then
// publish (an RMW: one sender less, and if rx_sleeping is set, clear it and wake the receivers
// by posting to the owning loop's inbox). The receiver side goes to sleep as the inbox's loop
// does (sync/detail/wakeup.hpp, whose proof applies unchanged): fetch_or(rx_sleeping), then
// re-check the queue. Every write to state_ is an acq_rel RMW, so a publish either comes before
// the fetch_or in state_'s modification order (the fetch_or synchronises with it, and the
// re-check sees the item) or after it (it reads the bit and wakes). Two RMWs per send on one
// line that the sender already holds, one per received item (freeing its slot); the items
// themselves never go through the inbox, and a wake-up message is sent only to a sleeping
// receiver.
//
// Capacity: a slot is taken by the reserve CAS and freed when the receiver delivers the item.
// When the channel is full, a waiting sender links itself into a FIFO under mutex_ (the slow
// path only; crossbeam's SyncWaker and tokio's batch semaphore also keep their waiters behind a
// lock) and sets tx_waiting with a CAS that also checks that the channel is still full. A
// freed slot with tx_waiting set is not returned to the count but handed to the first waiter
// (the count stays at capacity), so a waiter is never overtaken by a try_send, and a slot is
// owned by exactly one party at every moment: the count, a sender, or a wake-up on its way.
// A sender on a loop is woken through that loop's inbox (or inline, on its own loop); a
// foreign thread spins briefly, then sleeps on a futex word in its waiter node with a timeout.
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
    reserved,  // a slot, counted as a sender in the window (publish ends it)
    granted,   // a slot handed over by the FIFO, not counted as a sender yet
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

// The type-independent half of a channel: the state word, both waiting sides, close, the
// reference count (sync/src/channel.cpp). Invariants: tx_waiting is set iff tx_waiters_ is
// non-empty, and then the slot count equals the capacity; at most one item is handed to a
// waiting receiver at a time (handing_), so a handed item given back is still the oldest.
class channel_core {
public:
    static constexpr std::size_t max_capacity = std::size_t{1} << 30;

    channel_core(const channel_core&) = delete;
    channel_core& operator=(const channel_core&) = delete;

    void add_ref() noexcept;
    void release() noexcept;

    event_loop& owner() const noexcept { return *owner_; }
    std::size_t capacity() const noexcept { return static_cast<std::size_t>(capacity_); }
    std::size_t size() const noexcept;
    bool is_closed() const noexcept;
    std::size_t waiting_senders() const noexcept {
        return tx_count_.load(std::memory_order_relaxed);  // a snapshot
    }

    // -- senders (any thread) -------------------------------------------------------------
    void check_sender() const {
        if (owner_inbox_ == nullptr) [[unlikely]]
            check_sender_slow();
    }
    reserve_result try_reserve() noexcept;  // hot: no alloc
    void enter() noexcept;                  // a granted slot's sender enters the window
    void publish() noexcept;                // after the enqueue; hot: no alloc
    void abandon_reserved() noexcept;       // a reserved slot's enqueue failed
    void abandon_granted() noexcept;        // a granted slot not used (cancelled)
    // A loop sender's slow path: reserves, or links `w` (full), or says closed.
    reserve_result enlist(tx_waiter& w);
    // Unlinks a waiting sender; false if it was granted or closed meanwhile.
    bool cancel_tx_wait(tx_waiter& w) noexcept;
    // A thread sender's slow path: reserved, granted or closed; timeout_error when it expires.
    reserve_result reserve_blocking(std::optional<std::chrono::nanoseconds> timeout);

    // -- the receiver (owning loop only) -----------------------------------------------------
    void check_owner(const char* what) const {
        if (running_loop() != owner_) [[unlikely]]
            wrong_loop(what);
    }
    bool receivers_queued() const noexcept { return handing_ || !rx_waiters_.empty(); }
    void delivered() noexcept { free_slot(true); }  // an item left the channel; hot: no alloc
    bool closed_and_drained() const noexcept;
    void enqueue_receiver(rx_waiter& r) noexcept;
    void cancel_rx_wait(rx_waiter& r) noexcept;
    void end_handoff() noexcept { handing_ = false; }
    void pump() noexcept;

    void close();
    void close_now() noexcept;  // close() without the caller check
    // ~channel: close, wait until no sender is inside its reserve-publish window, release.
    void shut_down() noexcept;

protected:
    channel_core(event_loop& owner, std::size_t capacity);
    virtual ~channel_core();

    // The receiver's take: the given-back item, else the local buffer, else a bulk dequeue.
    // Does not free the slot (delivered() does). `out` is a std::optional<T>*.
    virtual bool take_into(void* out) noexcept = 0;

private:
    void free_slot(bool by_receiver) noexcept;
    bool grant_first_waiter() noexcept;
    void wake_sender(tx_waiter& w, slot_outcome outcome) noexcept;  // under mutex_
    void wake_receivers() noexcept;
    void wake_receiver_task(rx_waiter& r, rx_outcome outcome) noexcept;
    void check_sender_slow() const;
    [[noreturn]] static void wrong_loop(const char* what);

    // Read-only after construction, read by every sender: a line of their own.
    alignas(cache_line_size) event_loop* const owner_;
    inbox_hook* const owner_inbox_;  // null for a loop without one (tests): same-loop use only
    const std::uint64_t capacity_;

    alignas(cache_line_size) std::atomic<std::uint64_t> state_{0};

    // The slow path of full channels.
    alignas(cache_line_size) std::mutex mutex_;
    channel_list tx_waiters_;               // guarded by mutex_
    std::atomic<std::size_t> tx_count_{0};  // its length, written under mutex_, read anywhere
    // Relaxed increments (an owner makes a new one), acq_rel decrements (the deleter sees all).
    std::atomic<std::uint32_t> refs_{1};

    // Owning loop only.
    alignas(cache_line_size) channel_list rx_waiters_;
    bool handing_ = false;
};

template <class T>
class channel_state final : public channel_core {
public:
    channel_state(event_loop& owner, std::size_t capacity)
        : channel_core(owner, capacity),
          items_(preallocation(capacity)),
          consumer_(items_),
          buffer_size_(capacity < max_buffer ? capacity : max_buffer),
          buffer_(std::make_unique<std::optional<T>[]>(buffer_size_)) {}

    // After a reservation (counted: reserved; not yet: granted). moodycamel constructs the
    // item only once it has room, so a failed enqueue leaves `item` untouched.
    template <class U>
    void deliver(U&& item, bool counted) {  // hot: no alloc in steady state
        if (!counted)
            enter();
        if (!items_.enqueue(sender_token(), std::forward<U>(item))) [[unlikely]] {
            abandon_reserved();
            throw std::bad_alloc();
        }
        publish();
    }

    bool take(std::optional<T>& out) noexcept { return take_into(&out); }
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

    bool take_into(void* out) noexcept override {
        auto& dest = *static_cast<std::optional<T>*>(out);
        if (returned_) {
            dest.emplace(std::move(*returned_));
            returned_.reset();
            return true;
        }
        if (pos_ == end_) {
            pos_ = 0;
            end_ = items_.try_dequeue_bulk(consumer_, buffer_.get(), buffer_size_);
            if (end_ == 0)
                return false;
        }
        dest.emplace(std::move(*buffer_[pos_]));
        buffer_[pos_++].reset();
        return true;
    }

    // The calling thread's producer token (detail/producer_slots.hpp): an explicit producer,
    // not moodycamel's thread-id lookup per enqueue. Made on a thread's first send.
    moodycamel::ProducerToken& sender_token() {
        return senders_.of_this_thread(
            [this] { return std::make_unique<moodycamel::ProducerToken>(items_); });
    }

    moodycamel::ConcurrentQueue<T> items_;
    // Read by every sender: its own line. After items_: its tokens die first.
    alignas(cache_line_size) producer_slots<moodycamel::ProducerToken> senders_;
    // Owning loop only.
    alignas(cache_line_size) moodycamel::ConsumerToken consumer_;
    const std::size_t buffer_size_;
    std::unique_ptr<std::optional<T>[]> buffer_;  // [pos_, end_): dequeued, not yet received
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
    std::optional<T> returned_;
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
    send_status try_send(const T& item) { return try_send_impl(item); }

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
        send_blocking_impl(item, timeout);
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
    template <class U>
    send_status try_send_impl(U& item) {
        s_->check_sender();
        switch (s_->try_reserve()) {
            case detail::reserve_result::full:
                return send_status::full;
            case detail::reserve_result::closed:
                return send_status::closed;
            default:
                s_->deliver(std::move(item), true);
                return send_status::sent;
        }
    }

    template <class U>
    void send_blocking_impl(U& item, std::optional<std::chrono::nanoseconds> timeout) {
        if (detail::running_loop() != nullptr) {
            throw std::runtime_error(
                "corio::channel: send_blocking() would block the running event loop; "
                "co_await send() instead");
        }
        s_->check_sender();
        detail::reserve_result r = s_->try_reserve();
        if (r == detail::reserve_result::full)
            r = s_->reserve_blocking(timeout);
        if (r == detail::reserve_result::closed)
            throw channel_closed();
        s_->deliver(std::move(item), r == detail::reserve_result::reserved);
    }

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
        s_.check_sender();
        return settle(s_.try_reserve());
    }

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        detail::task_base& t = detail::awaiting_task(h);
        node_.loop = &t.loop();
        node_.handle = h;
        node_.task = &t;
        if (settle(s_.enlist(node_))) {
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
                s_.abandon_granted();  // cancelled at the moment it was woken: pass the slot on
                throw;
            }
            s_.deliver(std::move(item_), false);
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
    // Finishes a send that needs no wait; false: it must wait.
    bool settle(detail::reserve_result r) {
        switch (r) {
            case detail::reserve_result::full:
                return false;
            case detail::reserve_result::closed:
                closed_ = true;
                return true;
            default:
                s_.deliver(std::move(item_), true);
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
        if (node_.linked) {
            s_.cancel_rx_wait(node_);
        } else if (node_.outcome == detail::rx_outcome::item) {
            s_.end_handoff();
            s_.give_back(std::move(*item_));
        }
    }

    bool await_ready() {  // hot: no alloc
        s_.check_owner("receive");
        if (s_.receivers_queued() || !s_.take(item_))
            return false;
        s_.delivered();
        return true;
    }

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        detail::task_base& t = detail::awaiting_task(h);
        node_.handle = h;
        node_.task = &t;
        node_.out = &item_;
        t.suspended_on(this);
        detail::loop_access::set_current_task(t.loop(), nullptr);
        s_.enqueue_receiver(node_);  // may hand this waiter an item at once
    }

    T await_resume() {
        if (node_.task == nullptr)
            return std::move(*item_);
        detail::task_base& t = *node_.task;
        t.resume_as_current();
        const detail::rx_outcome outcome = std::exchange(node_.outcome, detail::rx_outcome::done);
        if (outcome == detail::rx_outcome::item) {
            s_.end_handoff();
            try {
                t.throw_if_cancel_requested();
            } catch (...) {
                // Cancelled at the moment it was handed the item: the item goes back to the
                // front, and the next waiting receiver gets it.
                s_.give_back(std::move(*item_));
                s_.pump();
                throw;
            }
            s_.delivered();
            s_.pump();  // the next waiting receiver, if any
            return std::move(*item_);
        }
        t.throw_if_cancel_requested();
        throw channel_closed();  // the only other way a wait ends without a cancel
    }

    bool cancel_wait(const std::string&) override {
        // Only a linked waiter can be cancelled here: a woken one is already scheduled and no
        // longer registered with its task.
        s_.cancel_rx_wait(node_);
        node_.outcome = detail::rx_outcome::cancelled;
        node_.task->suspended_on(nullptr);
        detail::loop_access::push_ready(s_.owner(), detail::ready_entry::of(node_.handle));
        return false;  // the cancellation stays pending in the task, thrown when it resumes
    }

private:
    detail::channel_state<T>& s_;
    std::optional<T> item_;
    detail::rx_waiter node_;
};

}  // namespace corio
