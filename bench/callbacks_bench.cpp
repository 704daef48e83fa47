// Callback dispatch through a real loop (default policy: epoll backend, monotonic clock).
// BM_call_soon_chain: one callback re-schedules itself N times (one iteration each).
// BM_call_soon_burst: one callback schedules N callbacks, which run in the next iteration.
#include <cstdint>

#include <benchmark/benchmark.h>

#include <corio/corio.hpp>

namespace {

struct chain {
    corio::event_loop& loop;
    std::int64_t left;
    void step() {
        if (--left > 0) {
            loop.call_soon([this] { step(); });
        } else {
            loop.stop();
        }
    }
};

void BM_call_soon_chain(benchmark::State& state) {
    corio::event_loop loop;
    const std::int64_t n = state.range(0);
    for (auto _ : state) {
        chain c{loop, n};
        loop.call_soon([&c] { c.step(); });
        loop.run_forever();
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.counters["iterations_per_item"] =
        static_cast<double>(loop.stats().iterations) / static_cast<double>(state.iterations() * n);
}
BENCHMARK(BM_call_soon_chain)->Arg(4096);

void BM_call_soon_burst(benchmark::State& state) {
    corio::event_loop loop;
    const std::int64_t n = state.range(0);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        loop.call_soon([&] {
            for (std::int64_t i = 0; i < n; ++i)
                loop.call_soon([&sum, i] { sum += static_cast<std::uint64_t>(i); });
            loop.call_soon([&] { loop.stop(); });
        });
        loop.run_forever();
    }
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_call_soon_burst)->Arg(4096);

}  // namespace
