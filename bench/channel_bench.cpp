// channel<T> (<corio/channel.hpp>): a foreign thread floods a loop through a bounded channel.
// Shaped like BM_raw_queue_flood (bench/baselines/queue_baselines.cpp) so that the ratio of the
// two is the channel's cost over moodycamel alone: one producer thread, a 48-byte item (the
// raw_message's size), 1000 items per iteration, at most 64 Ki items in flight (the raw
// producer's back-pressure window is the channel's capacity here), the consumer summing one
// word of each item. What the channel adds: the slot accounting (a CAS on the senders' line
// per send, a plain store on the receiver's per receive) and the wake-up handshake,
// send_blocking's waits when the channel is full, the receiving task's awaits and the loop's
// sleeps when it is empty; wakeups_per_msg counts the inbox wake-ups of the sleeping loop.
#include <atomic>
#include <cstdint>
#include <thread>

#include <benchmark/benchmark.h>

#include <corio/channel.hpp>
#include <corio/runners.hpp>

namespace {

constexpr std::int64_t flood_batch = 1000;
constexpr std::size_t flood_window = 65536;

struct flood_item {
    std::uint64_t payload[6];
};
static_assert(sizeof(flood_item) == 48);

corio::task<void> receive_batch(corio::channel<flood_item>& ch, std::int64_t n,
                                std::uint64_t& sum) {
    for (std::int64_t i = 0; i < n; ++i)
        sum += (co_await ch.receive()).payload[0];
}

void BM_channel_flood(benchmark::State& state) {
    corio::event_loop loop;
    corio::channel<flood_item> ch(loop, flood_window);
    const std::int64_t total = static_cast<std::int64_t>(state.max_iterations) * flood_batch;
    std::thread producer([&] {
        for (std::int64_t i = 0; i < total; ++i)
            ch.send_blocking(flood_item{{static_cast<std::uint64_t>(i), 0, 0, 0, 0, 0}});
    });
    std::uint64_t sum = 0;
    std::int64_t done = 0;
    const corio::loop_stats before = loop.stats();
    for (auto _ : state) {
        loop.run_until_complete(receive_batch(ch, flood_batch, sum));
        done += flood_batch;
    }
    const corio::loop_stats after = loop.stats();
    loop.run_until_complete(receive_batch(ch, total - done, sum));  // let the producer finish
    producer.join();
    benchmark::DoNotOptimize(sum);
    const double items = static_cast<double>(state.iterations() * flood_batch);
    state.counters["wakeups_per_msg"] =
        static_cast<double>(after.wakeups_sent - before.wakeups_sent) / items;
    state.SetItemsProcessed(state.iterations() * flood_batch);
}
BENCHMARK(BM_channel_flood)->UseRealTime();

}  // namespace
