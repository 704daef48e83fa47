// concurrent_future's type-independent state: waiting, cancelling, callbacks.
#include <climits>
#include <string>

#include <corio/concurrent_future.hpp>
#include <corio/detail/cpu_relax.hpp>
#include <corio/detail/futex.hpp>
#include <corio/log.hpp>

namespace corio::detail {
namespace {}  // namespace

bool concurrent_state_base::cancel() {
    std::vector<done_fn> callbacks;
    {
        std::lock_guard lock(mutex_);
        const auto s = static_cast<concurrent_status>(status_.load(std::memory_order_relaxed));
        if (s != concurrent_status::pending)
            return s == concurrent_status::cancelled;
        // seq_cst: as complete()'s store.
        status_.store(static_cast<std::uint32_t>(concurrent_status::cancelled),
                      std::memory_order_seq_cst);
        callbacks.swap(callbacks_);
    }
    wake_waiters();
    on_cancelled();
    run_callbacks(callbacks);
    return true;
}

bool concurrent_state_base::set_running_or_notify_cancel() {
    std::lock_guard lock(mutex_);
    if (status() == concurrent_status::cancelled)
        return false;
    // Relaxed: a waiter only acts on finished/cancelled, published with release.
    status_.store(static_cast<std::uint32_t>(concurrent_status::running),
                  std::memory_order_relaxed);
    return true;
}

bool concurrent_state_base::set_exception(std::exception_ptr error) {
    return complete(concurrent_status::finished, [&] { error_ = std::move(error); });
}

void concurrent_state_base::add_done_callback(done_fn fn) {
    {
        std::lock_guard lock(mutex_);
        const auto s = static_cast<concurrent_status>(status_.load(std::memory_order_relaxed));
        if (s != concurrent_status::finished && s != concurrent_status::cancelled) {
            callbacks_.push_back(std::move(fn));
            return;
        }
    }
    std::vector<done_fn> one;
    one.push_back(std::move(fn));
    run_callbacks(one);
}

void concurrent_state_base::run_callbacks(std::vector<done_fn>& callbacks) noexcept {
    for (auto& fn : callbacks) {
        try {
            fn();
        } catch (const std::exception& e) {
            log(log_level::error,
                std::string("exception calling callback for concurrent_future: ") + e.what());
        } catch (...) {
            log(log_level::error, "exception calling callback for concurrent_future");
        }
    }
}

void concurrent_state_base::wait(std::optional<std::chrono::nanoseconds> timeout,
                                 std::chrono::nanoseconds spin) {
    if (done())
        return;
    if (loop != nullptr && running_loop() == loop) {
        throw std::runtime_error(
            "concurrent_future::result() called from the thread running its loop: the loop "
            "could never complete it (deadlock); await wrap_future(f) instead");
    }
    using clock = std::chrono::steady_clock;
    const clock::time_point start = clock::now();
    if (timeout && spin > *timeout)
        spin = *timeout;
    while (clock::now() - start < spin) {
        for (int i = 0; i < 16; ++i) {
            if (done())
                return;
            cpu_relax();
        }
    }
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    struct leave {
        std::atomic<std::uint32_t>& waiters;
        ~leave() { waiters.fetch_sub(1, std::memory_order_relaxed); }
    } counted{waiters_};
    for (;;) {
        // seq_cst, so also acquire: what the completer stored before status_ is visible.
        const std::uint32_t s = status_.load(std::memory_order_seq_cst);
        if (s == static_cast<std::uint32_t>(concurrent_status::finished) ||
            s == static_cast<std::uint32_t>(concurrent_status::cancelled)) {
            return;
        }
        // Sleeps while status_ still reads s (pending -> running wakes it to wait again).
        if (!timeout) {
            futex_wait(status_, s, nullptr);
            continue;
        }
        const auto left = start + *timeout - clock::now();
        if (left <= clock::duration::zero())
            throw timeout_error();
        const auto left_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
        futex_wait(status_, s, &left_ns);
    }
}

void concurrent_state_base::wake_waiters() noexcept {
    if (waiters_.load(std::memory_order_seq_cst) != 0)
        futex_wake(status_, INT_MAX);
}

void concurrent_state_base::rethrow_if_failed() const {
    if (cancelled())
        throw cancelled_error();
    if (std::exception_ptr e = error())
        std::rethrow_exception(e);
}

std::exception_ptr concurrent_state_base::error() const {
    // Called once done() was seen (acquire): error_ was written before the release store of
    // status_ and is never written again, so reading it without the lock is race-free.
    return error_;
}

}  // namespace corio::detail
