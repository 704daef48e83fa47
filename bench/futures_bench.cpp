// BM_future_callback: create a future, add a done callback, set_result, run the callback.
#include <cstdint>

#include <benchmark/benchmark.h>

#include <corio/corio.hpp>

namespace {

void BM_future_callback(benchmark::State& state) {
    corio::event_loop loop;
    const std::int64_t n = state.range(0);
    std::int64_t sum = 0;
    for (auto _ : state) {
        for (std::int64_t i = 0; i < n; ++i) {
            corio::future<std::int64_t> f = loop.create_future<std::int64_t>();
            f.add_done_callback(
                [&sum](corio::future<std::int64_t>& done) { sum += done.result(); });
            f.set_result(i);
        }
        loop.stop();
        loop.run_forever();
    }
    if (sum != state.iterations() * (n * (n - 1) / 2))
        state.SkipWithError("callbacks lost");
    state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_future_callback)->Arg(4096);

}  // namespace
