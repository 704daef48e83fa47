// Baselines for cross-thread messaging, without a runtime: the queue alone (producer thread ->
// busy consumer thread, bulk dequeue), a blocking eventfd ping-pong, and a spin-then-futex
// ping-pong. corio's threadsafe/cross-loop benchmarks are measured against these in the same
// run (../shared/tools/bench-ratio).
#include <concurrentqueue.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include <benchmark/benchmark.h>

namespace {

constexpr std::int64_t flood_batch = 1000;

// What a message is in corio: a call through a function pointer with a few words of captures.
struct raw_message {
    void (*fn)(std::uint64_t&, std::uint64_t);
    std::uint64_t payload[5];
};

void add_payload(std::uint64_t& sum, std::uint64_t v) {
    sum += v;
}

// Producer thread -> busy consumer thread, bulk dequeue; the consumer runs each message.
void BM_raw_queue_flood(benchmark::State& state) {
    moodycamel::ConcurrentQueue<raw_message> q;
    std::atomic<std::int64_t> consumed{0};
    const std::int64_t total = static_cast<std::int64_t>(state.max_iterations) * flood_batch;
    std::thread producer([&] {
        moodycamel::ProducerToken tok(q);
        for (std::int64_t i = 0; i < total; ++i) {
            // Back-pressure as the corio benchmark does: at most 64k in flight.
            if ((i & 1023) == 0) {
                while (i - consumed.load(std::memory_order_relaxed) > 65536)
                    std::this_thread::yield();
            }
            q.enqueue(tok, raw_message{&add_payload, {static_cast<std::uint64_t>(i), 0, 0, 0, 0}});
        }
    });
    moodycamel::ConsumerToken ctok(q);
    raw_message buf[64];
    std::uint64_t sum = 0;
    std::int64_t done = 0;
    std::int64_t target = 0;  // cumulative: a bulk dequeue may overshoot one batch
    for (auto _ : state) {
        target += flood_batch;
        while (done < target) {
            std::size_t n = q.try_dequeue_bulk(ctok, buf, 64);
            for (std::size_t i = 0; i < n; ++i)
                buf[i].fn(sum, buf[i].payload[0]);
            done += static_cast<std::int64_t>(n);
            consumed.store(done, std::memory_order_relaxed);
        }
    }
    while (done < total) {  // let the producer finish
        done += static_cast<std::int64_t>(q.try_dequeue_bulk(ctok, buf, 64));
        consumed.store(done, std::memory_order_relaxed);
    }
    producer.join();
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations() * flood_batch);
}
BENCHMARK(BM_raw_queue_flood)->UseRealTime();

// Two threads, a blocking eventfd read each way: the floor of a syscall-woken round trip.
void BM_raw_eventfd_pingpong(benchmark::State& state) {
    int ping = ::eventfd(0, EFD_CLOEXEC);
    int pong = ::eventfd(0, EFD_CLOEXEC);
    std::thread echo([&] {
        std::uint64_t v;
        for (;;) {
            if (::read(ping, &v, sizeof v) != sizeof v)
                return;
            if (v == 2)
                return;
            std::uint64_t one = 1;
            if (::write(pong, &one, sizeof one) != sizeof one)
                return;
        }
    });
    std::uint64_t v = 1;
    for (auto _ : state) {
        v = 1;
        if (::write(ping, &v, sizeof v) != sizeof v)
            break;
        if (::read(pong, &v, sizeof v) != sizeof v)
            break;
    }
    v = 2;
    [[maybe_unused]] auto n = ::write(ping, &v, sizeof v);
    echo.join();
    ::close(ping);
    ::close(pong);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_raw_eventfd_pingpong)->UseRealTime();

// Spin up to 50 us, then sleep on the futex (std::atomic::wait).
void wait_for_value(std::atomic<std::uint32_t>& a, std::uint32_t want) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    while (a.load(std::memory_order_acquire) != want) {
        if (std::chrono::steady_clock::now() > until) {
            std::uint32_t seen = a.load(std::memory_order_acquire);
            while (seen != want) {
                a.wait(seen, std::memory_order_acquire);
                seen = a.load(std::memory_order_acquire);
            }
            return;
        }
    }
}

// Two threads, spin-then-futex each way: the floor of a round trip with idle polling.
void BM_raw_spin_pingpong(benchmark::State& state) {
    std::atomic<std::uint32_t> ping{0}, pong{0};
    std::atomic<bool> stop{false};
    std::thread echo([&] {
        for (std::uint32_t i = 1;; ++i) {
            wait_for_value(ping, i);
            if (stop.load(std::memory_order_relaxed))
                return;
            pong.store(i, std::memory_order_release);
            pong.notify_one();
        }
    });
    std::uint32_t i = 0;
    for (auto _ : state) {
        ++i;
        ping.store(i, std::memory_order_release);
        ping.notify_one();
        wait_for_value(pong, i);
    }
    stop.store(true);
    ping.store(i + 1, std::memory_order_release);
    ping.notify_one();
    echo.join();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_raw_spin_pingpong)->UseRealTime();

}  // namespace
