// Loop-side primitives (<corio/locks.hpp>, <corio/queues.hpp>).
// BM_lock_uncontended: one task acquires and releases a free lock; one item = one
// acquire + release (the fast path: no future, no yield).
// BM_lock_handoff: two tasks pass a lock back and forth; every acquire waits for the other
// task's release (a future, a wake-up, a task switch); one item = one acquire + release.
// BM_queue_put_get: one task puts and gets on a queue that has room; one item = put + get.
// BM_queue_producer_consumer: a producer and a consumer on a queue of 64; one item = put + get,
// with the waits that a full or empty queue costs.
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include <corio/corio.hpp>
#include <corio/locks.hpp>
#include <corio/queues.hpp>

namespace {

constexpr std::int64_t n_items = 4096;

corio::task<void> lock_unlock(corio::lock& l, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        co_await l.acquire();
        l.release();
    }
}

void BM_lock_uncontended(benchmark::State& state) {
    corio::event_loop loop;
    corio::lock l;
    for (auto _ : state)
        loop.run_until_complete(lock_unlock(l, n_items));
    state.SetItemsProcessed(state.iterations() * n_items);
}
BENCHMARK(BM_lock_uncontended);

// Takes the lock first and yields once holding it, so that the other task is queued; from
// then on every release wakes the other task and every acquire queues behind it (FIFO).
corio::task<void> handoff_first(corio::lock& l, std::int64_t n) {
    co_await l.acquire();
    co_await corio::sleep(0);
    for (std::int64_t i = 1; i < n; ++i) {
        l.release();
        co_await l.acquire();
    }
    l.release();
}

corio::task<void> handoff_pair(corio::lock& l, std::int64_t n) {
    std::vector<corio::task<void>> pair;
    pair.push_back(corio::create_task(handoff_first(l, n)));
    pair.push_back(corio::create_task(lock_unlock(l, n)));
    co_await corio::gather(std::move(pair));
}

void BM_lock_handoff(benchmark::State& state) {
    corio::event_loop loop;
    corio::lock l;
    for (auto _ : state)
        loop.run_until_complete(handoff_pair(l, n_items / 2));
    state.SetItemsProcessed(state.iterations() * n_items);
}
BENCHMARK(BM_lock_handoff);

corio::task<std::int64_t> put_get(corio::queue<std::int64_t>& q, std::int64_t n) {
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        co_await q.put(i);
        sum += co_await q.get();
    }
    co_return sum;
}

void BM_queue_put_get(benchmark::State& state) {
    corio::event_loop loop;
    corio::queue<std::int64_t> q(64);
    for (auto _ : state)
        benchmark::DoNotOptimize(loop.run_until_complete(put_get(q, n_items)));
    state.SetItemsProcessed(state.iterations() * n_items);
}
BENCHMARK(BM_queue_put_get);

corio::task<void> produce(corio::queue<std::int64_t>& q, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i)
        co_await q.put(i);
}

corio::task<void> consume(corio::queue<std::int64_t>& q, std::int64_t n, std::int64_t& sum) {
    for (std::int64_t i = 0; i < n; ++i)
        sum += co_await q.get();
}

corio::task<void> produce_consume(corio::queue<std::int64_t>& q, std::int64_t n,
                                  std::int64_t& sum) {
    std::vector<corio::task<void>> pair;
    pair.push_back(corio::create_task(produce(q, n)));
    pair.push_back(corio::create_task(consume(q, n, sum)));
    co_await corio::gather(std::move(pair));
}

void BM_queue_producer_consumer(benchmark::State& state) {
    corio::event_loop loop;
    corio::queue<std::int64_t> q(64);
    std::int64_t sum = 0;
    for (auto _ : state)
        loop.run_until_complete(produce_consume(q, n_items, sum));
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations() * n_items);
}
BENCHMARK(BM_queue_producer_consumer);

}  // namespace
