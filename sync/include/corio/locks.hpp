// Synchronisation primitives for the tasks of one loop: asyncio's locks.py (Event, Lock,
// Condition, Semaphore, BoundedSemaphore, Barrier).
//
//     corio::lock l;
//     corio::task<void> worker() {
//         auto guard = co_await l.scoped();  // asyncio's `async with l:`
//         ...                                // released when guard goes out of scope
//     }
//
// Rules every primitive here follows, as asyncio's do:
// - Loop-affine: it binds to the running loop the first time a task has to wait on it;
//   waiting on it from another loop then throws std::runtime_error("... is bound to a
//   different event loop"), and so does waking its waiters (release, set, notify) from another
//   running loop. None is thread-safe: from another thread, go through the loop
//   (call_soon_threadsafe).
// - Awaited with co_await from a corio::task. A wait that has to suspend costs one future
//   (loop.create_future()); an available primitive costs no allocation and does not yield.
// - Cancellation: cancelling a waiting task throws cancelled_error at its co_await. A waiter
//   cancelled after it was woken (the wake-up scheduled but not yet run) passes the wake-up,
//   the permit or the notification on to the next waiter: nothing is lost.
// - Not copyable or movable: waiters point at the primitive.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <corio/detail/waiters.hpp>
#include <corio/events.hpp>
#include <corio/exceptions.hpp>
#include <corio/log.hpp>
#include <corio/tasks.hpp>

namespace corio {

/// What `co_await x.scoped()` returns for a lock, condition or semaphore: the acquisition,
/// released when the guard is destroyed (asyncio's `async with`). Movable, not copyable.
template <class Lockable>
class [[nodiscard]] scoped_guard {
public:
    /// Adopts an acquisition the caller already made.
    explicit scoped_guard(Lockable& l) noexcept : l_(&l) {}
    scoped_guard(scoped_guard&& other) noexcept : l_(std::exchange(other.l_, nullptr)) {}
    scoped_guard& operator=(scoped_guard&& other) noexcept {
        if (this != &other) {
            release_quietly();
            l_ = std::exchange(other.l_, nullptr);
        }
        return *this;
    }
    ~scoped_guard() { release_quietly(); }

    /// Releases now instead of at destruction; afterwards the guard owns nothing.
    void release() {
        if (l_ != nullptr)
            std::exchange(l_, nullptr)->release();
    }
    bool owns() const noexcept { return l_ != nullptr; }

private:
    // A destructor cannot throw. release() fails only on misuse (the lock released by hand
    // while the guard held it) or when waking a waiter fails (allocation); say so instead.
    void release_quietly() noexcept {
        try {
            release();
        } catch (const std::exception& e) {
            log(log_level::error, std::string("scoped_guard: release failed: ") + e.what());
        } catch (...) {
            log(log_level::error, "scoped_guard: release failed");
        }
    }

    Lockable* l_;
};

namespace detail {
// Turns an acquire awaiter into one that returns a scoped_guard.
template <class Lockable, class Acquire>
class scoped_acquire {
public:
    // Built in place: an awaiter holds a waiter node and is never moved.
    explicit scoped_acquire(Lockable& l) noexcept : l_(l), a_(l) {}
    bool await_ready() { return a_.await_ready(); }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        a_.await_suspend(h);
    }
    scoped_guard<Lockable> await_resume() {
        a_.await_resume();
        return scoped_guard<Lockable>(l_);
    }

private:
    Lockable& l_;
    Acquire a_;
};
}  // namespace detail

/// asyncio.Event: a flag that tasks can wait for. set() wakes every waiting task; a task that
/// waits while the flag is set does not suspend. Used on its loop's thread only.
class event {
public:
    event() noexcept = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    class [[nodiscard]] wait_awaiter {
    public:
        explicit wait_awaiter(event& e) noexcept : e_(e) {}
        bool await_ready() const noexcept { return e_.value_; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            w_.suspend(e_.waiters_, e_.loop_.get_loop("corio::event"), h);
        }
        void await_resume() {
            if (w_.suspended())
                w_.resume();
        }

    private:
        event& e_;
        detail::waiting w_;
    };

    bool is_set() const noexcept { return value_; }
    /// Sets the flag and wakes every waiting task (they resume in the order they waited).
    void set();
    /// Resets the flag; later waits suspend until the next set().
    void clear() noexcept { value_ = false; }
    /// Suspends until the flag is set; at once if it is. asyncio returns True; this returns
    /// nothing. Throws cancelled_error if the waiting task is cancelled.
    wait_awaiter wait() noexcept { return wait_awaiter(*this); }

private:
    detail::loop_bound loop_;
    detail::waiter_list waiters_;
    bool value_ = false;
};

/// asyncio.Lock: a mutual-exclusion lock for the tasks of one loop, not owned by a task (any
/// task may release it). Fair: tasks acquire it in the order they asked. release() wakes the
/// first waiter, and a task that arrives before that waiter has run queues behind it, even
/// though locked() is false meanwhile (asyncio's rule).
///
///     co_await l.acquire(); ... l.release();
///     auto guard = co_await l.scoped();  // released by guard's destructor
class lock {
public:
    lock() noexcept = default;
    lock(const lock&) = delete;
    lock& operator=(const lock&) = delete;

    class [[nodiscard]] acquire_awaiter {
    public:
        explicit acquire_awaiter(lock& l) noexcept : l_(&l) {}
        bool await_ready() noexcept { return l_->try_acquire(); }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            w_.suspend(l_->waiters_, l_->loop_.get_loop("corio::lock"), h);
        }
        void await_resume() {
            if (w_.suspended())
                l_->finish_acquire(w_);
        }

    private:
        lock* l_;
        detail::waiting w_;
    };

    /// Waits until the lock is free and takes it. Throws cancelled_error if the task is
    /// cancelled while waiting; then it does not hold the lock.
    acquire_awaiter acquire() noexcept { return acquire_awaiter(*this); }
    /// acquire(), returning a guard that releases the lock when destroyed.
    [[nodiscard]] detail::scoped_acquire<lock, acquire_awaiter> scoped() noexcept {
        return detail::scoped_acquire<lock, acquire_awaiter>(*this);
    }
    /// Frees the lock and wakes the first waiter. std::runtime_error("Lock is not acquired.")
    /// if the lock is free.
    void release();
    /// True while a task holds the lock.
    bool locked() const noexcept { return locked_; }

private:
    bool try_acquire() noexcept;
    void finish_acquire(detail::waiting& w);
    void wake_up_first();

    detail::loop_bound loop_;
    // Waiters in arrival order. A woken waiter stays here until it runs (and then takes the
    // lock), which is what makes newcomers queue behind it.
    detail::waiter_list waiters_;
    bool locked_ = false;
};

/// asyncio.Condition: tasks wait until notified, sharing a lock (its own by default, or one
/// given to the constructor, which must outlive the condition). wait() needs the lock held;
/// it releases it while waiting and re-acquires it before returning, even when cancelled.
class condition {
public:
    condition() noexcept : lock_(&own_) {}
    /// A condition over an existing lock.
    explicit condition(lock& shared) noexcept : lock_(&shared) {}
    condition(const condition&) = delete;
    condition& operator=(const condition&) = delete;

    /// The underlying lock's acquire, release, locked and scoped.
    lock::acquire_awaiter acquire() noexcept { return lock_->acquire(); }
    void release() { lock_->release(); }
    bool locked() const noexcept { return lock_->locked(); }
    [[nodiscard]] detail::scoped_acquire<lock, lock::acquire_awaiter> scoped() noexcept {
        return lock_->scoped();
    }

    /// Releases the lock, waits for notify(), re-acquires the lock. std::runtime_error
    /// ("cannot wait on un-acquired lock") without the lock. If cancelled, the lock is still
    /// re-acquired before cancelled_error propagates, and a notification this waiter had
    /// already received is passed to another waiter (asyncio 3.13).
    task<void> wait();

    /// Waits until predicate() is true (checked first, then after every wake-up, with the
    /// lock held) and returns its last value.
    template <class Predicate>
    task<std::decay_t<std::invoke_result_t<Predicate&>>> wait_for(Predicate predicate) {
        auto result = predicate();
        while (!result) {
            co_await wait();
            result = predicate();
        }
        co_return result;
    }

    /// Wakes up to n waiting tasks, oldest first; each returns from wait() once it gets the
    /// lock back. std::runtime_error("cannot notify on un-acquired lock") without the lock.
    void notify(std::size_t n = 1);
    /// Wakes every waiting task.
    void notify_all() { notify(waiters_.size()); }

private:
    void notify_unchecked(std::size_t n);

    lock own_;
    lock* lock_;
    detail::loop_bound loop_;
    detail::waiter_list waiters_;
};

/// asyncio.Semaphore: a counter of permits; acquire() takes one, waiting while there are
/// none, release() gives one back. Fair (FIFO): release() hands the permit to the oldest
/// waiter at once, and a newcomer waits while older waiters are queued even if a permit is
/// free (asyncio 3.12+).
class semaphore {
public:
    /// std::invalid_argument("Semaphore initial value must be >= 0") if value < 0.
    explicit semaphore(std::ptrdiff_t value = 1) : semaphore(value, false) {}
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    class [[nodiscard]] acquire_awaiter {
    public:
        explicit acquire_awaiter(semaphore& s) noexcept : s_(&s) {}
        bool await_ready() noexcept { return s_->try_acquire(); }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            w_.suspend(s_->waiters_, s_->loop_.get_loop("corio::semaphore"), h);
        }
        void await_resume() {
            if (w_.suspended())
                s_->finish_acquire(w_);
        }

    private:
        semaphore* s_;
        detail::waiting w_;
    };

    /// Takes a permit, waiting (FIFO) while none can be taken. Throws cancelled_error if
    /// cancelled while waiting; then no permit is held.
    acquire_awaiter acquire() noexcept { return acquire_awaiter(*this); }
    [[nodiscard]] detail::scoped_acquire<semaphore, acquire_awaiter> scoped() noexcept {
        return detail::scoped_acquire<semaphore, acquire_awaiter>(*this);
    }
    /// Gives a permit back, waking the oldest waiter. A bounded_semaphore throws
    /// std::invalid_argument("BoundedSemaphore released too many times") instead of going
    /// above its initial value.
    void release();
    /// True if acquire() would wait: no permit, or older waiters queued.
    bool locked() const noexcept;
    /// The permits not taken (asyncio's _value).
    std::size_t value() const noexcept { return value_; }

protected:
    // bounded: release() may not raise the value above the initial one.
    semaphore(std::ptrdiff_t value, bool bounded);

private:
    bool try_acquire() noexcept;
    void finish_acquire(detail::waiting& w);
    bool wake_up_next();
    void wake_while_permits();

    detail::loop_bound loop_;
    detail::waiter_list waiters_;
    // Invariant: a woken waiter already holds its permit (taken from value_ when it was
    // woken), so value_ counts permits nobody has been promised.
    std::size_t value_;
    std::size_t bound_;  // release() may not raise value_ above this
};

/// asyncio.BoundedSemaphore: a semaphore whose release() throws std::invalid_argument
/// ("BoundedSemaphore released too many times") rather than exceed the initial value.
class bounded_semaphore : public semaphore {
public:
    explicit bounded_semaphore(std::ptrdiff_t value = 1) : semaphore(value, true) {}
};

/// asyncio.Barrier (3.11): `parties` tasks wait until all of them have arrived, then all
/// go on. wait() returns the arrival index (0 .. parties-1). Tasks arriving while the
/// previous round is still leaving wait for the next round. abort() breaks the barrier:
/// current and later waits throw broken_barrier_error, until reset(). reset() makes current
/// waiters throw broken_barrier_error and starts empty.
class barrier {
public:
    /// std::invalid_argument("parties must be >= 1") if parties < 1.
    explicit barrier(std::ptrdiff_t parties);
    barrier(const barrier&) = delete;
    barrier& operator=(const barrier&) = delete;

    /// Waits until `parties` tasks wait, and returns this task's arrival index. Throws
    /// broken_barrier_error if the barrier is broken or reset meanwhile; a cancelled waiter
    /// leaves the barrier (it counts one fewer arrival).
    task<std::size_t> wait();
    /// Back to the empty state; tasks waiting now get broken_barrier_error.
    task<void> reset();
    /// Breaks the barrier: tasks waiting now and later get broken_barrier_error.
    task<void> abort();

    std::size_t parties() const noexcept { return parties_; }
    /// Tasks waiting for the current round to fill.
    std::size_t n_waiting() const noexcept { return state_ == state::filling ? count_ : 0; }
    bool broken() const noexcept { return state_ == state::broken; }

private:
    // filling: tasks arrive; draining: the round is complete and its tasks are leaving;
    // resetting: reset() while tasks were inside, they are leaving with an error; broken.
    enum class state { filling, draining, resetting, broken };

    task<void> block();
    task<void> wait_filled();
    void leave();

    condition cond_;  // notified on every state change
    std::size_t parties_;
    std::size_t count_ = 0;  // tasks inside wait()
    state state_ = state::filling;
};

}  // namespace corio
