// The waiting side shared by <corio/locks.hpp> and <corio/queues.hpp>: a FIFO of waiter
// futures (asyncio's deque of futures), the loop binding (asyncio's mixins._LoopBoundMixin),
// and the two ways an awaiter suspends. Not API.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <utility>

#include <corio/events.hpp>
#include <corio/futures.hpp>
#include <corio/tasks.hpp>

namespace corio::detail {

class waiter_list;

// One suspended coroutine: the future it awaits, linked into a primitive's FIFO. It lives in
// the waiting coroutine's frame (inside an awaiter or as a local), so linking costs nothing;
// the future is the one allocation of a wait, as asyncio's create_future.
// Invariant: owner_ is the list this waiter is linked in, or null.
class waiter {
public:
    waiter() noexcept = default;
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;
    // A frame destroyed while suspended (close() with pending tasks) leaves the FIFO, as
    // asyncio's `finally: waiters.remove(fut)` runs on GeneratorExit.
    ~waiter() { unlink(); }

    bool linked() const noexcept { return owner_ != nullptr; }
    inline void unlink() noexcept;
    waiter* next() const noexcept { return next_; }

    future<void> fut;

private:
    friend class waiter_list;
    waiter_list* owner_ = nullptr;
    waiter* prev_ = nullptr;
    waiter* next_ = nullptr;
};

// Intrusive FIFO of waiters: O(1) push, pop and removal from the middle (a cancelled waiter
// leaves from wherever it is; asyncio's deque.remove is O(n)).
class waiter_list {
public:
    waiter_list() noexcept = default;
    waiter_list(const waiter_list&) = delete;
    waiter_list& operator=(const waiter_list&) = delete;
    // A primitive destroyed before the frames of its waiters: they must not unlink into freed
    // memory later.
    ~waiter_list() {
        while (head_ != nullptr)
            pop_front();
    }

    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }
    waiter* front() const noexcept { return head_; }

    void push_back(waiter& w) noexcept {
        w.owner_ = this;
        w.prev_ = tail_;
        w.next_ = nullptr;
        (tail_ != nullptr ? tail_->next_ : head_) = &w;
        tail_ = &w;
        ++size_;
    }
    waiter* pop_front() noexcept {
        waiter* w = head_;
        if (w != nullptr)
            remove(*w);
        return w;
    }

private:
    friend class waiter;
    void remove(waiter& w) noexcept {
        (w.prev_ != nullptr ? w.prev_->next_ : head_) = w.next_;
        (w.next_ != nullptr ? w.next_->prev_ : tail_) = w.prev_;
        w.owner_ = nullptr;
        w.prev_ = w.next_ = nullptr;
        --size_;
    }

    waiter* head_ = nullptr;
    waiter* tail_ = nullptr;
    std::size_t size_ = 0;
};

void waiter::unlink() noexcept {
    if (owner_ != nullptr)
        owner_->remove(*this);
}

// asyncio's mixins._LoopBoundMixin: a primitive binds to the running loop the first time a
// task has to wait on it; waiting on it from another loop afterwards is an error.
class loop_bound {
public:
    // The running loop, binding to it on first use. Throws std::runtime_error: "no running
    // event loop", or "<type_name> is bound to a different event loop".
    event_loop& get_loop(const char* type_name);

    // For calls that wake waiters without waiting themselves (release, set, put_nowait):
    // the waiters' futures belong to the bound loop, so running on another loop is an error.
    // No running loop at all (setup code on the owner's thread) is allowed, as asyncio allows.
    void check_caller(const char* type_name) const;

private:
    [[noreturn]] static void different_loop(const char* type_name);

    // Atomic so that a second loop binding from another thread at the same moment gets the
    // error instead of a data race on the binding. Relaxed: the pointer value is the whole
    // message, nothing else is published through it (the primitives are not thread-safe).
    std::atomic<event_loop*> loop_{nullptr};
};

// The slow half of an awaiter whose fast path completes in await_ready: links a waiter into
// a FIFO and suspends the task on the waiter's future, so that Task.cancel() cancels that
// future (asyncio's _fut_waiter) and the co_await throws cancelled_error.
class waiting {
public:
    template <class P>
    void suspend(waiter_list& list, event_loop& loop, std::coroutine_handle<P> h) {
        node_.fut = loop.create_future();
        list.push_back(node_);
        inner_.emplace(operator co_await(node_.fut));
        try {
            inner_->await_suspend(h);
        } catch (...) {
            node_.unlink();
            inner_.reset();
            throw;
        }
    }
    bool suspended() const noexcept { return inner_.has_value(); }
    // Throws what ended the wait (cancelled_error). The waiter stays linked: the caller
    // unlinks it at the point its primitive's rules say.
    void resume() { inner_->await_resume(); }
    waiter& node() noexcept { return node_; }
    // Woken by the primitive (its future has a result), as opposed to cancelled while waiting.
    bool was_woken() const noexcept { return node_.fut.done() && !node_.fut.cancelled(); }

private:
    waiter node_;
    std::optional<future_awaiter<void>> inner_;
};

// Awaits an unstarted coroutine inline, as `co_await t` does: for awaiters whose fast path
// completes in await_ready and whose slow path (a loop around a wait, as in asyncio's
// Queue.get) is easier to write as a coroutine. The frame is allocated on the slow path only.
template <class T>
class slow_path {
public:
    template <class P>
    std::coroutine_handle<> start(task<T> t, std::coroutine_handle<P> h) {
        task_ = std::move(t);
        awaiter_.emplace(task_.operator co_await());
        return awaiter_->await_suspend(h);
    }
    bool started() const noexcept { return awaiter_.has_value(); }
    T resume() { return awaiter_->await_resume(); }

private:
    using awaiter_type = decltype(std::declval<const task<T>&>().operator co_await());
    task<T> task_;
    std::optional<awaiter_type> awaiter_;
};

}  // namespace corio::detail
