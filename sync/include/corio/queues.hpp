// Queues for the tasks of one loop: asyncio's queues.py (Queue, PriorityQueue, LifoQueue,
// with Python 3.13's shutdown).
//
//     corio::queue<int> q(16);                  // at most 16 items; 0 = unbounded
//     co_await q.put(1);                        // waits while full
//     int item = co_await q.get();              // waits while empty
//     q.task_done();                            // for join()
//
// Loop-affine and not thread-safe, with asyncio's cancellation rules, as the primitives of
// <corio/locks.hpp>: a getter cancelled after it was woken for an item wakes the next getter,
// and a putter cancelled after it was woken for a free slot wakes the next putter, so neither
// an item nor a slot is lost. As asyncio's, a woken waiter re-checks when it runs: a put or get
// that needs no wait (put_nowait, get_nowait, or a co_await that finds room or an item) may
// take the slot or item first, and the woken waiter then waits again.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include <corio/detail/waiters.hpp>
#include <corio/events.hpp>
#include <corio/exceptions.hpp>
#include <corio/locks.hpp>
#include <corio/tasks.hpp>

namespace corio {

namespace detail {

// The type-independent half of every queue: waiters, unfinished-task accounting, shutdown
// (asyncio's Queue without _init/_put/_get). Defined in sync/src/queues.cpp.
class queue_base {
public:
    queue_base(const queue_base&) = delete;
    queue_base& operator=(const queue_base&) = delete;

    /// The bound given to the constructor; 0 means unbounded.
    std::size_t maxsize() const noexcept { return maxsize_; }

    /// asyncio's Queue.task_done: one item taken with get() has been processed. When every
    /// item put has been processed, join() returns. std::invalid_argument("task_done() called
    /// too many times") if there are more calls than items put.
    void task_done();

    /// asyncio's Queue.join: waits until every item put has been processed (task_done), at
    /// once if none is outstanding.
    [[nodiscard]] event::wait_awaiter join() noexcept { return finished_.wait(); }

protected:
    explicit queue_base(std::size_t maxsize) noexcept : maxsize_(maxsize) { finished_.set(); }
    ~queue_base() = default;

    bool full_at(std::size_t size) const noexcept { return maxsize_ > 0 && size >= maxsize_; }
    // Before put_nowait/get_nowait change anything: they will wake the other side.
    void check_caller(const waiter_list& to_wake) const {
        if (!to_wake.empty())
            loop_.check_caller("corio::queue");
    }
    void item_added();    // accounting and a getter's wake-up, after an item went in
    void item_removed();  // a putter's wake-up, after an item came out
    void finish_shutdown(bool immediate, std::size_t drained);
    event_loop& bound_loop() { return loop_.get_loop("corio::queue"); }
    void wakeup_next(waiter_list& waiters);
    // The error path of a slow put or get (asyncio's `except:` around `await getter`):
    // if this waiter was woken but will not take the item or slot, the next one must.
    void abandon(waiter& w, waiter_list& waiters, bool still_available);

    waiter_list getters_;
    waiter_list putters_;
    bool shutdown_ = false;

private:
    loop_bound loop_;
    std::size_t maxsize_;
    std::size_t unfinished_ = 0;
    event finished_;  // set while unfinished_ == 0
};

// Item orders, asyncio's _init/_put/_get overrides.
template <class T>
struct fifo_store {
    std::deque<T> items;
    void push(T&& item) { items.push_back(std::move(item)); }
    T pop() {
        T item = std::move(items.front());
        items.pop_front();
        return item;
    }
};

template <class T>
struct lifo_store {
    std::vector<T> items;
    void push(T&& item) { items.push_back(std::move(item)); }
    T pop() {
        T item = std::move(items.back());
        items.pop_back();
        return item;
    }
};

// A binary heap with the smallest item (by Compare) on top, as heapq.
template <class T, class Compare>
struct heap_store {
    std::vector<T> items;
    Compare less;
    // std::*_heap keep the largest on top; inverting the comparison keeps the smallest.
    bool greater(const T& a, const T& b) { return less(b, a); }
    void push(T&& item) {
        items.push_back(std::move(item));
        std::push_heap(items.begin(), items.end(),
                       [this](auto& a, auto& b) { return greater(a, b); });
    }
    T pop() {
        std::pop_heap(items.begin(), items.end(),
                      [this](auto& a, auto& b) { return greater(a, b); });
        T item = std::move(items.back());
        items.pop_back();
        return item;
    }
};

}  // namespace detail

/// The queue machinery with a given item order; use queue, priority_queue or lifo_queue.
template <class T, class Store>
class basic_queue : public detail::queue_base {
public:
    /// maxsize 0: unbounded.
    explicit basic_queue(std::size_t maxsize = 0) noexcept : queue_base(maxsize) {}

    class [[nodiscard]] put_awaiter {
    public:
        put_awaiter(basic_queue& q, T item) : q_(q), item_(std::move(item)) {}
        bool await_ready() const noexcept { return !q_.full(); }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
            return slow_.start(q_.put_slow(std::move(item_)), h);
        }
        void await_resume() {
            if (slow_.started())
                return slow_.resume();
            q_.put_nowait(std::move(item_));
        }

    private:
        basic_queue& q_;
        T item_;
        detail::slow_path<void> slow_;
    };

    class [[nodiscard]] get_awaiter {
    public:
        explicit get_awaiter(basic_queue& q) noexcept : q_(q) {}
        bool await_ready() const noexcept { return !q_.empty(); }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
            return slow_.start(q_.get_slow(item_), h);
        }
        T await_resume() {
            if (!slow_.started())
                return q_.get_nowait();
            slow_.resume();
            return std::move(*item_);
        }

    private:
        basic_queue& q_;
        // The slow path's result. A task<void> writing here rather than a task<T>: awaiting
        // a task<T> copies its result, which a move-only T cannot do.
        std::optional<T> item_;
        detail::slow_path<void> slow_;
    };

    /// Items in the queue.
    std::size_t qsize() const noexcept { return store_.items.size(); }
    bool empty() const noexcept { return store_.items.empty(); }
    /// True if maxsize items are queued (never for an unbounded queue).
    bool full() const noexcept { return full_at(qsize()); }

    /// Puts an item, waiting (FIFO among putters) while the queue is full. Throws
    /// queue_shutdown if the queue is or gets shut down, cancelled_error if cancelled while
    /// waiting (then the item is not put).
    put_awaiter put(T item) { return put_awaiter(*this, std::move(item)); }
    /// Takes an item, waiting (FIFO among getters) while the queue is empty. Throws
    /// queue_shutdown once the queue is shut down and empty, cancelled_error if cancelled
    /// while waiting (then no item is taken).
    get_awaiter get() noexcept { return get_awaiter(*this); }

    /// Puts an item without waiting: queue_full if full, queue_shutdown if shut down.
    void put_nowait(T item) {
        if (shutdown_)
            throw queue_shutdown();
        if (full())
            throw queue_full();
        check_caller(getters_);
        store_.push(std::move(item));
        item_added();
    }
    /// Takes an item without waiting: queue_empty if empty (queue_shutdown if also shut down).
    T get_nowait() {
        if (empty()) {
            if (shutdown_)
                throw queue_shutdown();
            throw queue_empty();
        }
        check_caller(putters_);
        T item = store_.pop();
        item_removed();
        return item;
    }

    /// Python 3.13's Queue.shutdown: later puts throw queue_shutdown, and so do gets once the
    /// queue is empty; every waiting put and get wakes (and throws queue_shutdown unless it
    /// can still go on). immediate: the queued items are dropped, each counting as done for
    /// join(), so that gets throw at once and join() returns.
    void shutdown(bool immediate = false) {
        check_caller(getters_);
        check_caller(putters_);
        shutdown_ = true;
        std::size_t drained = 0;
        if (immediate) {
            drained = qsize();
            store_.items.clear();
        }
        finish_shutdown(immediate, drained);
    }

private:
    task<void> put_slow(T item);
    task<void> get_slow(std::optional<T>& out);

    Store store_;
};

// asyncio's Queue.put after its first check: wait for room, re-check, and so on.
template <class T, class Store>
task<void> basic_queue<T, Store>::put_slow(T item) {
    while (full()) {
        if (shutdown_)
            throw queue_shutdown();
        detail::waiter w;
        w.fut = bound_loop().create_future();
        putters_.push_back(w);
        try {
            co_await w.fut;
        } catch (...) {
            abandon(w, putters_, !full());
            throw;
        }
    }
    put_nowait(std::move(item));
}

template <class T, class Store>
task<void> basic_queue<T, Store>::get_slow(std::optional<T>& out) {
    while (empty()) {
        if (shutdown_)
            throw queue_shutdown();
        detail::waiter w;
        w.fut = bound_loop().create_future();
        getters_.push_back(w);
        try {
            co_await w.fut;
        } catch (...) {
            abandon(w, getters_, !empty());
            throw;
        }
    }
    out.emplace(get_nowait());
}

/// asyncio.Queue: first in, first out.
template <class T>
class queue : public basic_queue<T, detail::fifo_store<T>> {
public:
    using basic_queue<T, detail::fifo_store<T>>::basic_queue;
};

/// asyncio.PriorityQueue: the smallest item first (by Compare, std::less by default), as
/// heapq; equal items come out in no particular order. Typical items are pairs or tuples
/// (priority, data).
template <class T, class Compare = std::less<T>>
class priority_queue : public basic_queue<T, detail::heap_store<T, Compare>> {
public:
    using basic_queue<T, detail::heap_store<T, Compare>>::basic_queue;
};

/// asyncio.LifoQueue: last in, first out.
template <class T>
class lifo_queue : public basic_queue<T, detail::lifo_store<T>> {
public:
    using basic_queue<T, detail::lifo_store<T>>::basic_queue;
};

}  // namespace corio
