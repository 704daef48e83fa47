// concurrent_future<T>: Python's concurrent.futures.Future, usable from any thread. What
// run_coroutine_threadsafe and thread_pool_executor::submit return.
//
// States (Python's): pending -> running (an executor started the work) -> finished, or
// pending -> cancelled; cancel() succeeds only while pending. A waiter spins briefly before it
// blocks on a futex word (a blocked thread takes tens of microseconds to wake on a VM;
// a spinning one, a fraction of one).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/inline_function.hpp>
#include <corio/events.hpp>
#include <corio/exceptions.hpp>

namespace corio {

template <class T>
class concurrent_future;

namespace detail {

// 32 bits: the status word is also the futex that blocked waiters sleep on.
enum class concurrent_status : std::uint32_t { pending, running, finished, cancelled };

// The shared state. Thread-safe. Invariants: status_ leaves pending/running exactly once,
// under mutex_, after the value or error is stored; callbacks_ is only appended to while not
// done, and is run (outside the lock) by whichever thread made it done.
class concurrent_state_base {
    // First, with the vtable pointer, on a line of their own: what a waiter reads while it
    // spins in wait(). The completing thread's earlier writes (the reference count, the lock,
    // the value, the task pointer) then leave the spinner's copy alone, and it is taken from
    // the spinner once, by the store that completes the future.
    // The blocking side of wait(): threads sleep on status_ itself (a futex, no condition
    // variable: no mutex on the waiter's side, and a completion with nobody blocked costs one
    // load). waiters_ counts the threads that may sleep. Each side stores its own word, then
    // loads the other's, seq_cst: a completer that reads no waiter was seen by that waiter's
    // re-check.
    std::atomic<std::uint32_t> status_{static_cast<std::uint32_t>(concurrent_status::pending)};
    std::atomic<std::uint32_t> waiters_{0};
    // Up to 64 bytes from the start: a line boundary lies between here and there for any
    // 16-byte aligned object (what operator new gives without an aligned allocation).
    [[maybe_unused]] std::byte spin_line_end_[64 - sizeof(void*) - 2 * sizeof(std::uint32_t)];

public:
    using done_fn = inline_function<void()>;  // move-only callables welcome

    // A state is often made on one thread and freed on another (a submitter's future, the
    // loop that completed it, whichever lets go last). The frame cache's per-thread lists and
    // depot keep that traffic off the malloc arenas' locks, as they do for the coroutine frames
    // that make the same trip (measured: futex calls on the arena lock in the round trip).
    static void* operator new(std::size_t size) { return allocate_frame(size); }
    static void operator delete(void* p, std::size_t size) noexcept { deallocate_frame(p, size); }

    concurrent_state_base() = default;
    concurrent_state_base(const concurrent_state_base&) = delete;
    concurrent_state_base& operator=(const concurrent_state_base&) = delete;

    // Relaxed increment: a new owner is made from an existing one, which keeps the state
    // alive. acq_rel decrement: the deleting thread must see every other owner's accesses.
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            delete this;
    }

    // Acquire: pairs with the release store in complete(), so a reader that sees "done" also
    // sees the value or error stored before it.
    concurrent_status status() const noexcept {
        return static_cast<concurrent_status>(status_.load(std::memory_order_acquire));
    }
    bool done() const noexcept {
        concurrent_status s = status();
        return s == concurrent_status::finished || s == concurrent_status::cancelled;
    }
    bool cancelled() const noexcept { return status() == concurrent_status::cancelled; }
    bool running() const noexcept { return status() == concurrent_status::running; }

    bool cancel();
    bool set_running_or_notify_cancel();
    bool set_exception(std::exception_ptr error);
    void add_done_callback(done_fn fn);

    // Waits until done or until `timeout` passes (no value: forever); spins up to `spin` first.
    // Throws timeout_error when it expires, std::runtime_error when called from the thread
    // running this future's loop (it would deadlock).
    void wait(std::optional<std::chrono::nanoseconds> timeout, std::chrono::nanoseconds spin);
    // Completes as cancelled without on_cancelled() (the task it mirrors was cancelled).
    bool set_cancelled() {
        return complete(concurrent_status::cancelled, [] {});
    }
    // After wait(): throws the error, or cancelled_error.
    void rethrow_if_failed() const;
    std::exception_ptr error() const;

    // The loop whose work completes this future (run_coroutine_threadsafe), for the deadlock
    // check; null for executor futures. Set before the future is shared, then read-only.
    event_loop* loop = nullptr;

protected:
    virtual ~concurrent_state_base() = default;
    // Stores through `store` and completes, unless already done. Thread-safe.
    template <class Store>
    bool complete(concurrent_status to, Store&& store) {
        std::vector<done_fn> callbacks;
        {
            std::lock_guard lock(mutex_);
            const auto s = static_cast<concurrent_status>(
                status_.load(std::memory_order_relaxed));  // under the lock
            if (s == concurrent_status::finished || s == concurrent_status::cancelled)
                return false;
            store();
            // seq_cst: a release that publishes what store() wrote to the lock-free readers of
            // status(), and one side of wake_waiters()' store-then-load pair.
            status_.store(static_cast<std::uint32_t>(to), std::memory_order_seq_cst);
            callbacks.swap(callbacks_);
        }
        wake_waiters();
        run_callbacks(callbacks);
        return true;
    }
    // After status_ became final: wakes the threads blocked in wait(), if any.
    void wake_waiters() noexcept;
    // Called after a successful cancel(), outside the lock (run_coroutine_threadsafe's state
    // cancels its task).
    virtual void on_cancelled() noexcept {}

private:
    static void run_callbacks(std::vector<done_fn>& callbacks) noexcept;

    std::atomic<std::uint32_t> refs_{1};
    mutable std::mutex mutex_;
    std::exception_ptr error_;  // written under mutex_ before status_ leaves pending
    std::vector<done_fn> callbacks_;
};

template <class T>
class concurrent_state : public concurrent_state_base {
public:
    template <class U>
    bool set_result(U&& v) {
        return complete(concurrent_status::finished, [&] { value_.emplace(std::forward<U>(v)); });
    }
    T& value() { return *value_; }

private:
    std::optional<T> value_;
};

template <>
class concurrent_state<void> : public concurrent_state_base {
public:
    bool set_result() {
        return complete(concurrent_status::finished, [] {});
    }
    void value() {}
};

inline constexpr std::chrono::nanoseconds default_result_spin = std::chrono::microseconds(50);

}  // namespace detail

/// Python's concurrent.futures.Future: thread-safe. Copies share one state.
template <class T = void>
class concurrent_future {
public:
    using value_type = T;
    using duration = std::chrono::nanoseconds;

    /// A pending future, to be completed with set_result / set_exception (any thread).
    concurrent_future() : state_(new detail::concurrent_state<T>()) {}
    explicit concurrent_future(detail::concurrent_state<T>* adopted) noexcept : state_(adopted) {}
    concurrent_future(const concurrent_future& o) noexcept : state_(o.state_) {
        if (state_)
            state_->add_ref();
    }
    concurrent_future(concurrent_future&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
    concurrent_future& operator=(concurrent_future o) noexcept {
        std::swap(state_, o.state_);
        return *this;
    }
    ~concurrent_future() {
        if (state_)
            state_->release();
    }

    bool valid() const noexcept { return state_ != nullptr; }
    bool done() const noexcept { return state_->done(); }
    bool cancelled() const noexcept { return state_->cancelled(); }
    bool running() const noexcept { return state_->running(); }

    /// Cancels a pending future (not a running or done one) and runs its callbacks; a future
    /// from run_coroutine_threadsafe also cancels its task on its loop. Thread-safe.
    bool cancel() { return state_->cancel(); }

    /// Waits up to `timeout` (none: forever), spinning up to `spin` before it blocks. Throws
    /// timeout_error if the timeout expires, cancelled_error if cancelled, the stored
    /// exception if it failed, and std::runtime_error if called, while not done, from the
    /// thread running the loop that must complete it (that would deadlock).
    decltype(auto) result(std::optional<duration> timeout = std::nullopt,
                          duration spin = detail::default_result_spin) {
        state_->wait(timeout, spin);
        state_->rethrow_if_failed();
        if constexpr (std::is_void_v<T>) {
            return;
        } else {
            return static_cast<T&>(state_->value());
        }
    }
    decltype(auto) result(double timeout_seconds) {
        return result(
            std::chrono::duration_cast<duration>(std::chrono::duration<double>(timeout_seconds)));
    }

    /// The exception (null if it finished with a value); waits like result(). Throws
    /// cancelled_error if cancelled.
    std::exception_ptr exception(std::optional<duration> timeout = std::nullopt) {
        state_->wait(timeout, detail::default_result_spin);
        if (state_->cancelled())
            state_->rethrow_if_failed();
        return state_->error();
    }

    /// Calls fn(future) once done, on the thread that completes it (or now, in this thread,
    /// if it already is). An exception from fn is swallowed and logged, as Python's.
    template <class F>
    void add_done_callback(F&& fn) {
        // The raw state, not a copy of *this: a callback that owned its future would keep an
        // uncompleted state alive forever. It runs while its completer holds a reference.
        using done_fn = detail::concurrent_state_base::done_fn;
        if constexpr (std::is_invocable_v<F&, concurrent_future&>) {
            state_->add_done_callback(done_fn([fn = std::forward<F>(fn), s = state_]() mutable {
                s->add_ref();
                concurrent_future self(s);
                fn(self);
            }));
        } else {
            state_->add_done_callback(done_fn([fn = std::forward<F>(fn)]() mutable { fn(); }));
        }
    }

    template <class U = T>
    requires(!std::is_void_v<T>) bool set_result(U&& v) {
        return state_->set_result(std::forward<U>(v));
    }
    bool set_result() requires std::is_void_v<T> { return state_->set_result(); }
    bool set_exception(std::exception_ptr error) { return state_->set_exception(std::move(error)); }
    /// Python's Future.set_running_or_notify_cancel: false if it was cancelled.
    bool set_running_or_notify_cancel() { return state_->set_running_or_notify_cancel(); }

    detail::concurrent_state<T>* state() const noexcept { return state_; }

private:
    detail::concurrent_state<T>* state_;
};

}  // namespace corio
