// thread_pool_executor: Python's concurrent.futures.ThreadPoolExecutor, and the loop's
// run_in_executor (asyncio's loop.run_in_executor), whose results come back through the
// loop's inbox as a corio::future.
#pragma once

#include <blockingconcurrentqueue.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/concurrent_future.hpp>
#include <corio/detail/inbox.hpp>
#include <corio/detail/inbox_hook.hpp>
#include <corio/detail/inline_function.hpp>
#include <corio/detail/remote_promise.hpp>
#include <corio/events.hpp>
#include <corio/futures.hpp>

namespace corio {

/// Python's ThreadPoolExecutor. Thread-safe. Workers start on demand, up to max_workers
/// (default min(32, cores + 4), Python's); work runs in FIFO order per submitting thread.
class thread_pool_executor {
public:
    /// A unit of work: called once, with run on a worker, or with dropped when
    /// shutdown(cancel_futures=true) discards it.
    using work_item = detail::inline_function<void(detail::message_fate), 48>;

    static std::size_t default_max_workers() noexcept;

    explicit thread_pool_executor(std::size_t max_workers = default_max_workers());
    /// shutdown(wait=true).
    ~thread_pool_executor();
    thread_pool_executor(const thread_pool_executor&) = delete;
    thread_pool_executor& operator=(const thread_pool_executor&) = delete;

    /// Python's Executor.submit: runs fn(args...) on a worker; returns a concurrent future of
    /// its result. Throws std::runtime_error("cannot schedule new futures after shutdown").
    template <class F, class... Args>
    auto submit(F&& fn, Args&&... args);

    /// Python's Executor.shutdown: refuses new work; with cancel_futures, discards queued work
    /// (its futures are cancelled); with wait, returns once every worker has exited (queued
    /// work runs first unless discarded). Idempotent.
    void shutdown(bool wait = true, bool cancel_futures = false);

    /// Queues a work item (what submit and run_in_executor build). Same error as submit.
    void post(work_item&& w);

    std::size_t max_workers() const noexcept { return max_workers_; }
    /// Workers started so far.
    std::size_t worker_count() const;

private:
    void start_worker_if_needed();  // under mutex_
    void worker() noexcept;

    moodycamel::BlockingConcurrentQueue<work_item> queue_;
    const std::size_t max_workers_;
    // Python's _idle_semaphore as a counter: a worker adds one when it waits for work; a post
    // that takes one starts no new worker. Relaxed: a heuristic for how many threads to start,
    // publishing no data (the queue does).
    std::atomic<std::size_t> idle_{0};
    mutable std::mutex mutex_;  // guards threads_, shutdown_; every enqueue happens under it
    std::vector<std::thread> threads_;
    bool shutdown_ = false;
};

namespace detail {

template <class F, class... Args>
auto bind_call(F&& fn, Args&&... args) {
    return
        [fn = std::forward<F>(fn), tup = std::make_tuple(std::forward<Args>(args)...)]() mutable {
            return std::apply(fn, std::move(tup));
        };
}

inline thread_pool_executor& resolve_executor(event_loop& loop, std::nullptr_t) {
    return inbox_of(loop).default_executor();
}
inline thread_pool_executor& resolve_executor(event_loop&, thread_pool_executor* e) {
    return e != nullptr ? *e
                        : throw std::invalid_argument("run_in_executor: null executor pointer");
}
inline thread_pool_executor& resolve_executor(event_loop&, thread_pool_executor& e) {
    return e;
}

}  // namespace detail

template <class F, class... Args>
auto thread_pool_executor::submit(F&& fn, Args&&... args) {
    auto call = detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...);
    using R = std::invoke_result_t<decltype(call)&>;
    concurrent_future<R> result;
    concurrent_future<R> mine = result;
    post(
        work_item([call = std::move(call), f = std::move(mine)](detail::message_fate fate) mutable {
            if (fate == detail::message_fate::dropped) {
                f.cancel();
                return;
            }
            if (!f.set_running_or_notify_cancel())
                return;
            try {
                if constexpr (std::is_void_v<R>) {
                    call();
                    f.set_result();
                } else {
                    f.set_result(call());
                }
            } catch (...) {
                f.set_exception(std::current_exception());
            }
        }));
    return result;
}

/// asyncio's loop.run_in_executor (declared in events.hpp): `executor` is a
/// thread_pool_executor (pointer or reference) or nullptr for the loop's default executor.
/// Returns a future of this loop, completed through the loop's inbox with fn's result or
/// exception; if the executor discards the work (shutdown with cancel_futures), the future is
/// cancelled. Cancelling the future does not stop work already started.
template <class E, class F, class... Args>
auto event_loop::run_in_executor(E&& executor, F&& fn, Args&&... args) {
    if (is_closed())
        throw std::runtime_error("Event loop is closed");
    thread_pool_executor& pool = detail::resolve_executor(*this, std::forward<E>(executor));
    auto call = detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...);
    using R = std::invoke_result_t<decltype(call)&>;
    future<R> f = create_future<R>();
    pool.post(
        thread_pool_executor::work_item([call = std::move(call), p = detail::remote_promise<R>(f)](
                                            detail::message_fate fate) mutable {
            if (fate == detail::message_fate::dropped) {
                p.cancel();
                return;
            }
            try {
                if constexpr (std::is_void_v<R>) {
                    call();
                    p.set_value();
                } else {
                    p.set_value(call());
                }
            } catch (...) {
                p.set_exception(std::current_exception());
            }
        }));
    return f;
}

}  // namespace corio
