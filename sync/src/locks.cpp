// asyncio's locks.py for the tasks of one loop (<corio/locks.hpp>).
//
// The shape of every wait follows asyncio's: a waiter is a future in a FIFO; the primitive
// sets that future to wake it; the waiter leaves the FIFO when it runs again, and if it runs
// because it was cancelled after being woken, it hands what it was given to the next waiter.
#include <stdexcept>

#include <corio/locks.hpp>

namespace corio {

using detail::waiter;

// -- event ----------------------------------------------------------------------------------

void event::set() {
    if (value_)
        return;
    if (!waiters_.empty())
        loop_.check_caller("corio::event");
    value_ = true;
    // Waiters leave the FIFO themselves when they resume; a done future is already woken.
    for (waiter* w = waiters_.front(); w != nullptr; w = w->next()) {
        if (!w->fut.done())
            w->fut.set_result();
    }
}

// -- lock -----------------------------------------------------------------------------------

bool lock::try_acquire() noexcept {
    if (locked_)
        return false;
    // A waiter that was woken but has not run yet comes first (FIFO); only waiters that
    // were cancelled before being woken may be overtaken.
    for (waiter* w = waiters_.front(); w != nullptr; w = w->next()) {
        if (!w->fut.cancelled())
            return false;
    }
    locked_ = true;
    return true;
}

void lock::finish_acquire(detail::waiting& w) {
    try {
        w.resume();
    } catch (...) {
        w.node().unlink();
        // The lock invariant: if nobody holds the lock, the first waiter is about to run. We
        // may have been that waiter (woken, then cancelled before running): wake the next.
        if (!locked_)
            wake_up_first();
        throw;
    }
    w.node().unlink();
    locked_ = true;  // free since release() woke us: newcomers queued behind us
}

void lock::release() {
    if (!locked_)
        throw std::runtime_error("Lock is not acquired.");
    if (!waiters_.empty())
        loop_.check_caller("corio::lock");
    locked_ = false;
    wake_up_first();
}

// Only the first waiter: if its future is done it is already woken (or cancelled, and will
// call this again when it runs).
void lock::wake_up_first() {
    waiter* first = waiters_.front();
    if (first != nullptr && !first->fut.done())
        first->fut.set_result();
}

// -- condition ------------------------------------------------------------------------------

task<void> condition::wait() {
    if (!locked())
        throw std::runtime_error("cannot wait on un-acquired lock");
    release();
    std::exception_ptr error;
    {
        waiter w;  // leaves the FIFO at the end of this block, however the wait ended
        try {
            w.fut = loop_.get_loop("corio::condition").create_future();
            waiters_.push_back(w);
            co_await w.fut;
        } catch (...) {
            error = std::current_exception();
        }
    }
    // Re-acquire the lock even if the wait was cancelled: the caller's code after wait()
    // assumes it. Only cancellation is retried, so that no other error can make this spin;
    // the most recent cancellation is the one that propagates.
    for (;;) {
        try {
            co_await lock_->acquire();
            break;
        } catch (const cancelled_error&) {
            error = std::current_exception();
        }
    }
    if (error) {
        // The error may have come after this task was notified: pass the notification on.
        // At worst another waiter wakes spuriously, which the protocol allows (asyncio 3.13).
        notify_unchecked(1);
        std::rethrow_exception(error);
    }
}

void condition::notify(std::size_t n) {
    if (!locked())
        throw std::runtime_error("cannot notify on un-acquired lock");
    notify_unchecked(n);
}

void condition::notify_unchecked(std::size_t n) {
    if (waiters_.empty())
        return;
    loop_.check_caller("corio::condition");
    std::size_t woken = 0;
    for (waiter* w = waiters_.front(); w != nullptr && woken < n; w = w->next()) {
        if (!w->fut.done()) {
            w->fut.set_result();
            ++woken;
        }
    }
}

// -- semaphore ------------------------------------------------------------------------------

namespace {
std::size_t initial_value(std::ptrdiff_t value) {
    if (value < 0)
        throw std::invalid_argument("Semaphore initial value must be >= 0");
    return static_cast<std::size_t>(value);
}
}  // namespace

semaphore::semaphore(std::ptrdiff_t value, bool bounded)
    : value_(initial_value(value)), bound_(bounded ? value_ : static_cast<std::size_t>(-1)) {}

bool semaphore::locked() const noexcept {
    if (value_ == 0)
        return true;
    // FIFO: a free permit is not for a newcomer while older waiters (not cancelled) queue.
    for (waiter* w = waiters_.front(); w != nullptr; w = w->next()) {
        if (!w->fut.cancelled())
            return true;
    }
    return false;
}

bool semaphore::try_acquire() noexcept {
    if (locked())
        return false;
    --value_;
    return true;
}

void semaphore::finish_acquire(detail::waiting& w) {
    try {
        w.resume();
    } catch (...) {
        w.node().unlink();
        // Woken, so a permit was taken for us, but cancelled before running: give it back
        // (and below, to the next waiter).
        if (w.was_woken())
            ++value_;
        wake_while_permits();
        throw;
    }
    w.node().unlink();
    // Newcomers may have queued behind us only for FIFO's sake: wake as many as can go.
    wake_while_permits();
}

void semaphore::release() {
    if (value_ >= bound_)
        throw std::invalid_argument("BoundedSemaphore released too many times");
    if (!waiters_.empty())
        loop_.check_caller("corio::semaphore");
    ++value_;
    wake_up_next();
}

// Hands one permit to the oldest waiter not yet woken: it is taken from value_ now, so the
// woken task owns it even if others acquire before it runs.
bool semaphore::wake_up_next() {
    for (waiter* w = waiters_.front(); w != nullptr; w = w->next()) {
        if (!w->fut.done()) {
            w->fut.set_result();
            --value_;
            return true;
        }
    }
    return false;
}

void semaphore::wake_while_permits() {
    while (value_ > 0 && wake_up_next()) {
    }
}

// -- barrier --------------------------------------------------------------------------------

namespace {
std::size_t checked_parties(std::ptrdiff_t parties) {
    if (parties < 1)
        throw std::invalid_argument("parties must be >= 1");
    return static_cast<std::size_t>(parties);
}
}  // namespace

barrier::barrier(std::ptrdiff_t parties) : parties_(checked_parties(parties)) {}

task<std::size_t> barrier::wait() {
    auto guard = co_await cond_.scoped();
    co_await block();
    std::size_t index = count_++;
    try {
        if (index + 1 == parties_) {
            state_ = state::draining;  // the round is complete: everybody in it may go
            cond_.notify_all();
        } else {
            co_await wait_filled();
        }
    } catch (...) {
        --count_;
        leave();
        throw;
    }
    --count_;
    leave();
    co_return index;
}

// Waits while the previous round drains or resets; a broken barrier is an error.
task<void> barrier::block() {
    co_await cond_.wait_for(
        [this] { return state_ != state::draining && state_ != state::resetting; });
    if (state_ == state::broken)
        throw broken_barrier_error();
}

// Waits until the round is complete (draining), or reset or broken (errors).
task<void> barrier::wait_filled() {
    co_await cond_.wait_for([this] { return state_ != state::filling; });
    if (state_ == state::broken || state_ == state::resetting)
        throw broken_barrier_error();
}

// The last task out of a draining or resetting round opens the next one.
void barrier::leave() {
    if (count_ != 0)
        return;
    if (state_ == state::resetting || state_ == state::draining)
        state_ = state::filling;
    cond_.notify_all();
}

task<void> barrier::reset() {
    auto guard = co_await cond_.scoped();
    // Tasks inside leave with broken_barrier_error, the last one out reopens the barrier.
    state_ = count_ > 0 ? state::resetting : state::filling;
    cond_.notify_all();
}

task<void> barrier::abort() {
    auto guard = co_await cond_.scoped();
    state_ = state::broken;
    cond_.notify_all();
}

}  // namespace corio
