// Tasks: spawn cost (with heap bytes per task) and switch cost.
// BM_task_spawn: N tasks that each co_await sleep(0) once and return, gathered.
// BM_task_switch: two tasks hand a value back and forth through futures; one item = one
// hand-off.
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include <corio/corio.hpp>

#include "../tests/support/alloc_counter.hpp"

namespace {

corio::task<void> yield_once() {
    co_await corio::sleep(0);
}

corio::task<void> spawn_all(std::int64_t n) {
    std::vector<corio::task<void>> children;
    children.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
        children.push_back(corio::create_task(yield_once()));
    co_await corio::gather(std::move(children));
}

void BM_task_spawn(benchmark::State& state) {
    corio::event_loop loop;
    const std::int64_t n = state.range(0);
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        // Heap bytes, with frames counted at their requested size whether the frame cache
        // or operator new supplied them (and cache misses not counted twice).
        const auto& frames = corio::detail::frame_stats();
        std::uint64_t heap0 = corio::test::allocated_bytes(), frame0 = frames.bytes,
                      miss0 = frames.miss_bytes;
        loop.run_until_complete(spawn_all(n));
        bytes += (corio::test::allocated_bytes() - heap0) - (frames.miss_bytes - miss0) +
                 (frames.bytes - frame0);
    }
    state.SetItemsProcessed(state.iterations() * n);
    // Everything the spawn allocated (frames, the children vector, gather's state), per task.
    state.counters["bytes_per_task"] =
        static_cast<double>(bytes) / static_cast<double>(state.iterations() * n);
}
BENCHMARK(BM_task_spawn)->Arg(4096);

struct mailboxes {
    corio::future<std::int64_t> to_a, to_b;
};

corio::task<void> ping(corio::event_loop& loop, mailboxes& m, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        m.to_a = loop.create_future<std::int64_t>();
        m.to_b.set_result(i);
        co_await m.to_a;
    }
}

corio::task<void> pong(corio::event_loop& loop, mailboxes& m, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        corio::future<std::int64_t> in = m.to_b;
        std::int64_t v = co_await in;
        m.to_b = loop.create_future<std::int64_t>();
        m.to_a.set_result(v);
    }
}

corio::task<void> switch_pair(corio::event_loop& loop, std::int64_t n) {
    mailboxes m{loop.create_future<std::int64_t>(), loop.create_future<std::int64_t>()};
    std::vector<corio::task<void>> pair;
    pair.push_back(corio::create_task(pong(loop, m, n)));
    pair.push_back(corio::create_task(ping(loop, m, n)));
    co_await corio::gather(std::move(pair));
}

void BM_task_switch(benchmark::State& state) {
    corio::event_loop loop;
    const std::int64_t n = state.range(0);
    for (auto _ : state)
        loop.run_until_complete(switch_pair(loop, n));
    state.SetItemsProcessed(state.iterations() * n * 2);
}
BENCHMARK(BM_task_switch)->Arg(4096);

}  // namespace
