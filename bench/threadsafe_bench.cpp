// Foreign thread -> loop: call_soon_threadsafe flood and run_coroutine_threadsafe round trips
// (with and without idle polling). Baselines: bench/baselines/queue_baselines.cpp.
#include <atomic>
#include <memory>
#include <thread>

#include <benchmark/benchmark.h>

#include <corio/detail/cache_line.hpp>
#include <corio/threads.hpp>

namespace {

constexpr std::int64_t flood_batch = 1000;

// A foreign producer floods the loop running on the benchmark thread; one iteration is 1000
// messages run. wakeups_per_msg comes from the loop's own counters.
void BM_threadsafe_flood(benchmark::State& state) {
    corio::event_loop loop;
    // On cache lines of its own: the loop writes it with every message, and a neighbour the
    // producer reads (the loop's fields, `total`) would bounce with it. The raw baseline keeps
    // its counters in registers.
    struct alignas(corio::detail::cache_line_size) shared {
        std::atomic<std::int64_t> consumed{0};
        std::int64_t done = 0;  // loop thread only
        std::int64_t target = 0;
        std::uint64_t sum = 0;
    } s;
    const std::int64_t total = static_cast<std::int64_t>(state.max_iterations) * flood_batch;
    std::thread producer([&s, &loop, total] {
        for (std::int64_t i = 0; i < total; ++i) {
            if ((i & 1023) == 0) {
                while (i - s.consumed.load(std::memory_order_relaxed) > 65536)
                    std::this_thread::yield();
            }
            loop.call_soon_threadsafe([p = &s, &loop, i] {
                p->sum += static_cast<std::uint64_t>(i);
                p->consumed.store(++p->done, std::memory_order_relaxed);
                if (p->done >= p->target)
                    loop.stop();
            });
        }
    });
    const corio::loop_stats before = loop.stats();
    for (auto _ : state) {
        // Cumulative: the ready snapshot may run past a stop, so a batch can already be done.
        s.target += flood_batch;
        if (s.done < s.target)
            loop.run_forever();
    }
    const corio::loop_stats after = loop.stats();
    if (s.done < total) {
        s.target = total;
        loop.run_forever();
    }
    producer.join();
    benchmark::DoNotOptimize(s.sum);
    const double msgs = static_cast<double>(state.iterations() * flood_batch);
    state.counters["wakeups_per_msg"] =
        static_cast<double>(after.wakeups_sent - before.wakeups_sent) / msgs;
    // How many messages one loop iteration drains: the fewer, the more often both threads
    // touch the same lines (the queue's indices) per message.
    state.counters["msgs_per_iteration"] =
        static_cast<double>(after.inbox_messages - before.inbox_messages) /
        static_cast<double>(after.iterations - before.iterations);
    state.SetItemsProcessed(state.iterations() * flood_batch);
}
BENCHMARK(BM_threadsafe_flood)->UseRealTime();

corio::task<int> answer() {
    co_return 42;
}

// A loop on its own thread; the benchmark thread submits a coroutine and blocks in result().
void roundtrip(benchmark::State& state, std::chrono::nanoseconds idle_poll,
               std::chrono::nanoseconds spin) {
    corio::loop_options o;
    o.idle_poll = idle_poll;
    corio::event_loop loop(o);
    std::thread runner([&] {
        loop.call_soon([] {});
        loop.run_forever();
    });
    for (auto _ : state) {
        auto f = corio::run_coroutine_threadsafe(answer(), loop);
        benchmark::DoNotOptimize(f.result(std::nullopt, spin));
    }
    loop.call_soon_threadsafe([&loop] { loop.stop(); });
    runner.join();
    state.counters["wakeups_per_msg"] =
        static_cast<double>(loop.stats().wakeups_sent) / static_cast<double>(state.iterations());
    state.SetItemsProcessed(state.iterations());
}

void BM_threadsafe_roundtrip(benchmark::State& state) {
    roundtrip(state, corio::detail::inbox::default_idle_poll, corio::detail::default_result_spin);
}
BENCHMARK(BM_threadsafe_roundtrip)->UseRealTime();

void BM_threadsafe_roundtrip_nopoll(benchmark::State& state) {
    roundtrip(state, std::chrono::nanoseconds(0), std::chrono::nanoseconds(0));
}
BENCHMARK(BM_threadsafe_roundtrip_nopoll)->UseRealTime();

}  // namespace
