// BM_timer_schedule_cancel: schedule N timers with random delays, cancel half, run the rest.
// The loop runs on a manual clock, advanced past the last deadline, so the figure is the
// timer machinery's cost and not time spent waiting.
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include <corio/corio.hpp>

namespace {

void BM_timer_schedule_cancel(benchmark::State& state) {
    corio::manual_clock clock;
    corio::loop_options options;
    options.clock = &clock;
    corio::event_loop loop(options);
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<double> delays(n);
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> dist(0.0, 1.0);
    for (double& d : delays)
        d = dist(rng);
    std::vector<corio::timer_handle> handles(n);
    std::uint64_t fired = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; ++i)
            handles[i] = loop.call_later(delays[i], [&fired] { ++fired; });
        for (std::size_t i = 0; i < n; i += 2)
            handles[i].cancel();
        clock.advance(2'000'000'000);
        loop.stop();
        loop.run_forever();
    }
    if (fired != state.iterations() * (n / 2))
        state.SkipWithError("wrong number of timers fired");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_timer_schedule_cancel)->Arg(4096);

}  // namespace
