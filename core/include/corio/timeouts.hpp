// Deadlines for a piece of a task: asyncio's timeouts.py (timeout, timeout_at) and wait_for.
//
//     corio::timeout_scope scope = corio::timeout(2.0);
//     std::string reply = co_await scope.run(read_reply(conn));   // timeout_error after 2 s
//
// The scope cancels the *current task* when the deadline passes, and turns the resulting
// cancelled_error into timeout_error once the awaited work has unwound, exactly as
// `async with asyncio.timeout(...)`; a cancellation from anywhere else stays a cancellation.
#pragma once

#include <optional>

#include <corio/tasks.hpp>

namespace corio {

namespace detail {
template <class Aw>
struct await_result;
template <class T>
struct await_result<task<T>> {
    using type = T;
};
template <class T>
struct await_result<future<T>> {
    using type = T;
};
template <class Aw>
using await_result_t = typename await_result<std::remove_cvref_t<Aw>>::type;
}  // namespace detail

/// asyncio.Timeout. Used once: run() enters it, the awaited work's end exits it.
class timeout_scope {
public:
    /// A deadline at loop time `when` (seconds, as loop.time()); nullopt: none yet.
    explicit timeout_scope(std::optional<double> when) noexcept : when_(when) {}
    timeout_scope(const timeout_scope&) = delete;
    timeout_scope& operator=(const timeout_scope&) = delete;
    ~timeout_scope() { timer_.cancel(); }

    std::optional<double> when() const noexcept { return when_; }
    /// Moves the deadline (nullopt removes it); allowed before and inside run().
    void reschedule(std::optional<double> when);
    /// True once the deadline passed and cancelled the task.
    bool expired() const noexcept { return state_ == state::expiring || state_ == state::expired; }

    /// Awaits `aw` (a task, run inline or awaited if scheduled, or a future) under the
    /// deadline and returns its result. Throws timeout_error if the deadline cancelled it.
    template <class Aw>
    task<detail::await_result_t<Aw>> run(Aw aw);

private:
    enum class state { created, entered, expiring, expired, exited };

    void enter();
    void exit(std::exception_ptr error);  // rethrows, or throws timeout_error
    void arm();
    void on_timeout();

    state state_ = state::created;
    std::optional<double> when_;
    handle timer_;  // call_at's, or call_soon's when the deadline is already past
    detail::task_base* task_ = nullptr;
    event_loop* loop_ = nullptr;
    int cancelling_at_enter_ = 0;
};

/// asyncio.timeout(delay): a scope whose deadline is `delay` seconds from now (nullopt: none).
timeout_scope timeout(std::optional<double> delay);
/// asyncio.timeout_at(when): a scope with an absolute deadline in loop time.
inline timeout_scope timeout_at(std::optional<double> when) {
    return timeout_scope(when);
}

template <class Aw>
task<detail::await_result_t<Aw>> timeout_scope::run(Aw aw) {
    using R = detail::await_result_t<Aw>;
    enter();
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
        try {
            co_await std::move(aw);
        } catch (...) {
            error = std::current_exception();
        }
        exit(error);
    } else {
        std::optional<R> result;
        try {
            result.emplace(co_await std::move(aw));
        } catch (...) {
            error = std::current_exception();
        }
        exit(error);
        co_return std::move(*result);
    }
}

/// asyncio.wait_for: awaits `aw` for at most `timeout` seconds (nullopt: no limit). On
/// timeout the awaited work is cancelled and waited for; then timeout_error is thrown (if the
/// work swallows the cancellation and returns, its result is returned, as asyncio 3.12).
template <class Aw>
task<detail::await_result_t<Aw>> wait_for(Aw aw, std::optional<double> timeout) {
    timeout_scope scope = corio::timeout(timeout);
    co_return co_await scope.run(std::move(aw));
}

}  // namespace corio
