// runtime: one event loop per core, each on its own pinned thread (Seastar's smp), with
// loop-to-loop calls through the inboxes. No asyncio analogue.
//
//     corio::runtime rt;                                   // one loop per physical core
//     int n = rt.run(main_task(rt));                       // main runs on loop 0
//     // inside a loop of rt:
//     int v = co_await rt.submit_to(1, [] { return 42; }); // runs on loop 1, never blocks
//
// It lives in corio::sync, beside the cross-thread machinery it is made of; the topology it
// plans with is core's (<corio/topology.hpp>).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <corio/concurrent_future.hpp>
#include <corio/events.hpp>
#include <corio/runtime_stats.hpp>
#include <corio/threads.hpp>
#include <corio/topology.hpp>

namespace corio {

class runtime {
public:
    struct options {
        std::optional<std::size_t> loops;  // default: one per physical core
        std::vector<unsigned> cpus;        // an explicit plan: loop i on cpus[i]
        bool pin = true;                   // bind each loop's thread to its CPU
        loop_options loop;                 // backend, debug mode, ...
    };

    /// Starts the loops (each built on, and pinned to, its own thread) and returns when all
    /// run. More loops than allowed CPUs works (loops share CPUs) and logs that once; an
    /// explicit CPU the process may not use throws std::invalid_argument naming it.
    runtime() : runtime(options{}) {}
    explicit runtime(options opts);
    /// Stops the runtime if it still runs.
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    std::size_t size() const noexcept { return loops_.size(); }
    /// Loop i; std::out_of_range if there is none.
    event_loop& loop(std::size_t i) const;
    const loop_plan& plan() const noexcept { return plan_; }
    /// The index of the loop running on this thread, if it is one of a runtime's.
    static std::optional<std::size_t> this_loop_index() noexcept;

    /// From a loop of any runtime: runs fn() (a task if fn returns one) on loop i and returns
    /// a future of the calling loop. Throws std::out_of_range for a bad index and
    /// std::runtime_error once the runtime is stopping.
    template <class F>
    auto submit_to(std::size_t i, F&& fn) {
        check_accepting();
        event_loop& target = loop(i);
        return corio::submit_to(target, counted(i, std::forward<F>(fn)));
    }

    /// From any thread (not a loop of this runtime that would then block on itself): the
    /// same, returning a concurrent_future.
    template <class F>
    auto submit_to_threadsafe(std::size_t i, F&& fn) {
        check_accepting();
        event_loop& target = loop(i);
        return run_coroutine_threadsafe(as_task(counted(i, std::forward<F>(fn))), target);
    }

    /// Runs fn() on every loop (Seastar's invoke_on_all); completes when all have. Call it
    /// from a loop.
    template <class F>
    task<void> invoke_on_all(F fn) {
        std::vector<future<submit_result_t<F>>> pending;
        for (std::size_t i = 0; i < size(); ++i)
            pending.push_back(submit_to(i, fn));
        for (auto& f : pending)
            co_await f;
    }

    /// Seastar's map_reduce: mapper() on every loop, folded with reduce(acc, value) in loop
    /// order on the calling loop.
    template <class Map, class T, class Reduce>
    task<T> map_reduce(Map mapper, T initial, Reduce reduce) {
        std::vector<future<submit_result_t<Map>>> pending;
        for (std::size_t i = 0; i < size(); ++i)
            pending.push_back(submit_to(i, mapper));
        for (auto& f : pending)
            initial = reduce(std::move(initial), co_await f);
        co_return initial;
    }

    /// Runs `main` as a task on loop 0 and blocks the calling (non-loop) thread until it is
    /// done; returns its result or throws its exception.
    template <class T>
    T run(task<T> main) {
        return run_coroutine_threadsafe(std::move(main), loop(0)).result();
    }

    /// Orderly stop: refuse new submissions (std::runtime_error), let each loop run what is
    /// queued, close the loops (anything still queued is refused to its submitter, counted and
    /// reported), join the threads. Idempotent; must not be called from a loop of this runtime.
    void stop();
    bool stopped() const noexcept { return stopping_.load(std::memory_order_acquire); }

    /// Every loop's counters and, per pair of loops, the submit_to traffic and its latency
    /// (runtime_stats.hpp). From any thread, while the runtime runs or after it stopped.
    runtime_stats stats() const;

private:
    template <class F>
    using submit_result_t = typename detail::submit_result<F>::type;

    template <class F>
    static task<submit_result_t<F>> as_task(F fn) {
        if constexpr (detail::is_task<std::invoke_result_t<F&>>::value) {
            co_return co_await fn();
        } else {
            co_return fn();
        }
    }

    // Wraps a submitted function so that the pair counters see it leave and arrive. The
    // wrapper adds 12 bytes to the message (a timestamp and the sender), which keeps a small
    // submission inside the inbox message's inline storage.
    template <class F>
    auto counted(std::size_t to, F&& fn) {
        const std::uint32_t from = static_cast<std::uint32_t>(sender_index());
        const std::int64_t sent_at = pairs_.note_sent(from, to) ? now_ns() : 0;
        return [from, sent_at, fn = std::forward<F>(fn)]() mutable {
            note_arrival(from, sent_at);
            return fn();
        };
    }
    // This runtime's index of the calling thread's loop, or size() for any other thread.
    std::size_t sender_index() const noexcept;
    static void note_arrival(std::uint32_t from, std::int64_t sent_at) noexcept;
    static std::int64_t now_ns() noexcept;

    void check_accepting() const {
        if (stopping_.load(std::memory_order_acquire)) {
            throw std::runtime_error("the runtime is stopping: no new work is accepted");
        }
    }
    void run_loop(event_loop& loop);

    options opts_;
    topology topology_;
    loop_plan plan_;
    detail::pair_counters pairs_;
    std::vector<std::unique_ptr<event_loop>> loops_;
    std::vector<std::thread> threads_;
    // acquire/release: a thread that sees "stopping" also sees everything stop() did before.
    std::atomic<bool> stopping_{false};
    std::atomic<bool> joined_{false};
};

}  // namespace corio
