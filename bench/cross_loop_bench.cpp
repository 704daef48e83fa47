// Loop -> loop with submit_to: a flood (1000 calls in flight per iteration) and a ping-pong
// (one call at a time), with and without idle polling.
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <corio/runtime.hpp>
#include <corio/threads.hpp>

namespace {

struct remote_loop {
    corio::event_loop loop;
    std::thread thread;
    explicit remote_loop(const corio::loop_options& o) : loop(o) {
        thread = std::thread([this] {
            loop.call_soon([] {});
            loop.run_forever();
        });
    }
    ~remote_loop() {
        loop.call_soon_threadsafe([this] { loop.stop(); });
        thread.join();
    }
};

corio::loop_options with_poll(std::chrono::nanoseconds idle_poll) {
    corio::loop_options o;
    o.idle_poll = idle_poll;
    return o;
}

constexpr std::int64_t flood_batch = 1000;

corio::task<void> flood(benchmark::State& state, corio::event_loop& target) {
    std::vector<corio::future<int>> pending;
    pending.reserve(flood_batch);
    for (auto _ : state) {
        for (std::int64_t i = 0; i < flood_batch; ++i) {
            pending.push_back(corio::submit_to(target, [i] { return static_cast<int>(i); }));
        }
        for (auto& f : pending)
            benchmark::DoNotOptimize(co_await f);
        pending.clear();
    }
}

void BM_cross_loop_flood(benchmark::State& state) {
    remote_loop remote(with_poll(corio::detail::inbox::default_idle_poll));
    corio::event_loop caller(with_poll(corio::detail::inbox::default_idle_poll));
    caller.run_until_complete(flood(state, remote.loop));
    const double msgs = static_cast<double>(state.iterations() * flood_batch);
    // Both directions: requests into the remote loop, results back into the caller.
    state.counters["wakeups_per_msg"] =
        static_cast<double>(caller.stats().wakeups_sent + remote.loop.stats().wakeups_sent) /
        (2 * msgs);
    state.SetItemsProcessed(state.iterations() * flood_batch);
}
BENCHMARK(BM_cross_loop_flood)->UseRealTime();

corio::task<void> pingpong(benchmark::State& state, corio::event_loop& target) {
    for (auto _ : state)
        benchmark::DoNotOptimize(co_await corio::submit_to(target, [] { return 1; }));
}

void cross_pingpong(benchmark::State& state, std::chrono::nanoseconds idle_poll) {
    remote_loop remote(with_poll(idle_poll));
    corio::event_loop caller(with_poll(idle_poll));
    caller.run_until_complete(pingpong(state, remote.loop));
    state.SetItemsProcessed(state.iterations());
}

void BM_cross_loop_pingpong(benchmark::State& state) {
    cross_pingpong(state, corio::detail::inbox::default_idle_poll);
}
BENCHMARK(BM_cross_loop_pingpong)->UseRealTime();

void BM_cross_loop_pingpong_nopoll(benchmark::State& state) {
    cross_pingpong(state, std::chrono::nanoseconds(0));
}
BENCHMARK(BM_cross_loop_pingpong_nopoll)->UseRealTime();

}  // namespace

// The same two shapes on a runtime of 2 pinned loops (issue 6): loop 0 submits to loop 1
// through runtime::submit_to, which also counts the pair and samples its latency; the
// sampled submit-to-run latency is reported next to the time.
namespace {

corio::runtime::options two_pinned_loops() {
    corio::runtime::options o;
    o.loops = 2;
    return o;
}

void report_pair_latency(benchmark::State& state, const corio::runtime& rt) {
    for (const corio::loop_pair_stats& p : rt.stats().pairs) {
        if (p.from == 0 && p.to == 1) {
            state.counters["p50_ns"] = static_cast<double>(p.latency.quantile_ns(0.5));
            state.counters["p99_ns"] = static_cast<double>(p.latency.quantile_ns(0.99));
        }
    }
}

corio::task<void> runtime_flood(benchmark::State& state, corio::runtime& rt) {
    std::vector<corio::future<int>> pending;
    pending.reserve(flood_batch);
    for (auto _ : state) {
        for (std::int64_t i = 0; i < flood_batch; ++i)
            pending.push_back(rt.submit_to(1, [i] { return static_cast<int>(i); }));
        for (auto& f : pending)
            benchmark::DoNotOptimize(co_await f);
        pending.clear();
    }
}

void BM_runtime_cross_loop_flood(benchmark::State& state) {
    corio::runtime rt(two_pinned_loops());
    rt.run(runtime_flood(state, rt));
    state.SetItemsProcessed(state.iterations() * flood_batch);
    report_pair_latency(state, rt);
}
BENCHMARK(BM_runtime_cross_loop_flood)->UseRealTime();

corio::task<void> runtime_pingpong(benchmark::State& state, corio::runtime& rt) {
    for (auto _ : state)
        benchmark::DoNotOptimize(co_await rt.submit_to(1, [] { return 1; }));
}

void BM_runtime_cross_loop_pingpong(benchmark::State& state) {
    corio::runtime rt(two_pinned_loops());
    rt.run(runtime_pingpong(state, rt));
    state.SetItemsProcessed(state.iterations());
    report_pair_latency(state, rt);
}
BENCHMARK(BM_runtime_cross_loop_pingpong)->UseRealTime();

}  // namespace
