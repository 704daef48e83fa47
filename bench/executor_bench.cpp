// run_in_executor round trip: loop -> pool worker -> back through the loop's inbox.
#include <benchmark/benchmark.h>

#include <corio/executor.hpp>
#include <corio/threads.hpp>

namespace {

corio::task<void> roundtrips(benchmark::State& state, corio::thread_pool_executor& ex) {
    corio::event_loop& loop = corio::get_running_loop();
    for (auto _ : state)
        benchmark::DoNotOptimize(co_await loop.run_in_executor(ex, [] { return 1; }));
}

void executor_roundtrip(benchmark::State& state, std::chrono::nanoseconds idle_poll) {
    corio::loop_options o;
    o.idle_poll = idle_poll;
    corio::event_loop loop(o);
    corio::thread_pool_executor ex(1);
    loop.run_until_complete(roundtrips(state, ex));
    ex.shutdown();
    state.SetItemsProcessed(state.iterations());
}

void BM_executor_roundtrip(benchmark::State& state) {
    executor_roundtrip(state, corio::detail::inbox::default_idle_poll);
}
BENCHMARK(BM_executor_roundtrip)->UseRealTime();

void BM_executor_roundtrip_nopoll(benchmark::State& state) {
    executor_roundtrip(state, std::chrono::nanoseconds(0));
}
BENCHMARK(BM_executor_roundtrip_nopoll)->UseRealTime();

}  // namespace
