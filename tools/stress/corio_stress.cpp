// corio-stress: hammers loops with cross-thread submissions and accounts for every message.
//
//   corio-stress [--mode threadsafe|coroutine|submit|executor|mixed] [--producers P]
//                [--loops L] [--duration SECONDS | --count N] [--idle-poll-us US] [--soak]
//
// P producers (foreign threads; in submit mode, producer loops on their own threads) send
// sequence-numbered messages round-robin to L target loops, each on its own thread. Every
// target checks, on its own thread, that each producer's messages arrive exactly once and (all
// modes but executor, whose pool has no order) in FIFO order. Exit status 1 on any loss,
// duplicate or reordering. --soak runs until SIGINT/SIGTERM, printing a line every 10 s.
// mixed gives producer p the mode p % 4 (threadsafe, coroutine, submit, executor).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <corio/executor.hpp>
#include <corio/threads.hpp>

namespace {

using clock_type = std::chrono::steady_clock;
enum class mode { threadsafe, coroutine, submit, executor, mixed };

struct options {
    mode m = mode::mixed;
    int producers = 4;
    int loops = 2;
    double duration = 10;
    long count = 0;  // per producer; 0: use duration
    long idle_poll_us = -1;
    bool soak = false;
};

std::atomic<bool> interrupted{false};
void on_signal(int) {
    interrupted.store(true);
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_type::now().time_since_epoch())
        .count();
}

// Latency histogram: 8 sub-buckets per power of two, in ns.
struct histogram {
    std::vector<std::uint64_t> buckets = std::vector<std::uint64_t>(64 * 8, 0);
    std::uint64_t max = 0;
    static std::size_t index(std::uint64_t v) {
        if (v < 8)
            return static_cast<std::size_t>(v);
        int msb = 63 - __builtin_clzll(v);
        std::uint64_t sub = (v >> (msb - 3)) & 7;
        return static_cast<std::size_t>(msb) * 8 + static_cast<std::size_t>(sub);
    }
    static std::uint64_t lower(std::size_t i) {
        if (i < 8)
            return i;
        std::size_t msb = i / 8, sub = i % 8;
        return (std::uint64_t{1} << msb) | (std::uint64_t{sub} << (msb - 3));
    }
    void add(std::uint64_t v) {
        ++buckets[index(v)];
        max = std::max(max, v);
    }
    void merge(const histogram& o) {
        for (std::size_t i = 0; i < buckets.size(); ++i)
            buckets[i] += o.buckets[i];
        max = std::max(max, o.max);
    }
    std::uint64_t percentile(double p) const {
        std::uint64_t total = 0;
        for (auto b : buckets)
            total += b;
        if (total == 0)
            return 0;
        auto want = static_cast<std::uint64_t>(p * static_cast<double>(total));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets.size(); ++i) {
            seen += buckets[i];
            if (seen > want)
                return lower(i);
        }
        return max;
    }
};

// One target loop's bookkeeping, touched only on that loop's thread.
struct checker {
    std::vector<long> next;               // FIFO modes: expected sequence per producer
    std::vector<std::vector<bool>> seen;  // executor: exactly-once per producer
    long received = 0, lost_or_reordered = 0, duplicated = 0;
    histogram latency;

    explicit checker(int producers)
        : next(static_cast<std::size_t>(producers), 0), seen(static_cast<std::size_t>(producers)) {}
    void fifo(int p, long seq, std::int64_t sent) {
        long& n = next[static_cast<std::size_t>(p)];
        if (seq < n) {
            ++duplicated;
        } else {
            if (seq > n)
                ++lost_or_reordered;
            n = seq + 1;
        }
        note(sent);
    }
    void unordered(int p, long seq, std::int64_t sent) {
        auto& s = seen[static_cast<std::size_t>(p)];
        if (static_cast<std::size_t>(seq) >= s.size())
            s.resize(static_cast<std::size_t>(seq) * 2 + 1024);
        if (s[static_cast<std::size_t>(seq)])
            ++duplicated;
        s[static_cast<std::size_t>(seq)] = true;
        note(sent);
    }
    void note(std::int64_t sent) {
        ++received;
        latency.add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns() - sent)));
    }
};

struct target {
    std::unique_ptr<corio::event_loop> loop;
    std::unique_ptr<checker> check;
    std::thread thread;
};

struct run_state {
    options opt;
    std::vector<target> targets;
    std::atomic<bool> stop{false};
    std::vector<std::vector<long>> sent;  // [producer][target]: written by the producer only
    corio::thread_pool_executor pool{4};
    // Executor mode's back-pressure: completions per producer (relaxed: a throttle only).
    std::unique_ptr<std::atomic<long>[]> completed;
};

bool keep_going(run_state& rs, long i) {
    if (rs.opt.count > 0)
        return i < rs.opt.count;
    return !rs.stop.load(std::memory_order_relaxed);
}

corio::loop_options loop_opts(const options& o) {
    corio::loop_options lo;
    if (o.idle_poll_us >= 0)
        lo.idle_poll = std::chrono::microseconds(o.idle_poll_us);
    return lo;
}

// At most this many of one producer's call_soon_threadsafe messages in flight: posting is
// cheaper than running, and a soak without a bound would grow the inboxes without end.
constexpr long threadsafe_window = 65536;

void threadsafe_producer(run_state& rs, int p) {
    const int n = static_cast<int>(rs.targets.size());
    std::atomic<long>* done_count = &rs.completed[static_cast<std::size_t>(p)];
    for (long i = 0; keep_going(rs, i); ++i) {
        const int t = static_cast<int>(i % n);
        const long seq = rs.sent[static_cast<std::size_t>(p)][static_cast<std::size_t>(t)]++;
        // 32 bytes of captures: the size call_soon_threadsafe posts without allocating.
        rs.targets[static_cast<std::size_t>(t)].loop->call_soon_threadsafe([state = &rs, p, t, seq,
                                                                            sent = now_ns()] {
            state->targets[static_cast<std::size_t>(t)].check->fifo(p, seq, sent);
            state->completed[static_cast<std::size_t>(p)].fetch_add(1, std::memory_order_relaxed);
        });
        if ((i & 1023) == 0) {
            while (i + 1 - done_count->load(std::memory_order_relaxed) > threadsafe_window &&
                   !rs.stop.load(std::memory_order_relaxed))
                std::this_thread::yield();
        }
    }
}

corio::task<int> check_task(checker* c, int p, long seq, std::int64_t sent) {
    c->fifo(p, seq, sent);  // the task's first step: in the order the tasks were created
    co_return 0;
}

void coroutine_producer(run_state& rs, int p) {
    const int n = static_cast<int>(rs.targets.size());
    std::deque<corio::concurrent_future<int>> window;
    for (long i = 0; keep_going(rs, i); ++i) {
        const int t = static_cast<int>(i % n);
        const long seq = rs.sent[static_cast<std::size_t>(p)][static_cast<std::size_t>(t)]++;
        window.push_back(corio::run_coroutine_threadsafe(
            check_task(rs.targets[static_cast<std::size_t>(t)].check.get(), p, seq, now_ns()),
            *rs.targets[static_cast<std::size_t>(t)].loop));
        if (window.size() > 256) {
            window.front().result();
            window.pop_front();
        }
    }
    for (auto& f : window)
        f.result();
}

corio::task<void> submit_driver(run_state& rs, int p) {
    const int n = static_cast<int>(rs.targets.size());
    std::deque<corio::future<int>> window;
    for (long i = 0; keep_going(rs, i); ++i) {
        const int t = static_cast<int>(i % n);
        const long seq = rs.sent[static_cast<std::size_t>(p)][static_cast<std::size_t>(t)]++;
        checker* c = rs.targets[static_cast<std::size_t>(t)].check.get();
        window.push_back(corio::submit_to(*rs.targets[static_cast<std::size_t>(t)].loop,
                                          [c, p, seq, sent = now_ns()] {
                                              c->fifo(p, seq, sent);
                                              return 0;
                                          }));
        if (window.size() > 256) {
            co_await window.front();
            window.pop_front();
        }
    }
    for (auto& f : window)
        co_await f;
}

void submit_producer(run_state& rs, int p) {
    corio::event_loop source(loop_opts(rs.opt));
    source.run_until_complete(submit_driver(rs, p));
}

// A message asks the target loop to run a job on the pool; the job's completion comes back
// through the loop's inbox and is checked there (exactly once; the pool has no order).
void executor_producer(run_state& rs, int p) {
    const int n = static_cast<int>(rs.targets.size());
    for (long i = 0; keep_going(rs, i); ++i) {
        const int t = static_cast<int>(i % n);
        const long seq = rs.sent[static_cast<std::size_t>(p)][static_cast<std::size_t>(t)]++;
        corio::event_loop* loop = rs.targets[static_cast<std::size_t>(t)].loop.get();
        checker* c = rs.targets[static_cast<std::size_t>(t)].check.get();
        corio::thread_pool_executor* pool = &rs.pool;
        std::atomic<long>* done_count = &rs.completed[static_cast<std::size_t>(p)];
        const std::int64_t sent = now_ns();
        loop->call_soon_threadsafe([loop, c, p, seq, pool, sent, done_count] {
            auto f = loop->run_in_executor(pool, [seq] { return seq; });
            f.add_done_callback([c, p, sent, done_count](corio::future<long>& done) {
                c->unordered(p, done.result(), sent);
                done_count->fetch_add(1, std::memory_order_relaxed);
            });
        });
        // Back-pressure: the pool is slower than the inbox; keep at most 4096 in flight.
        while (i + 1 - done_count->load(std::memory_order_relaxed) > 4096)
            std::this_thread::yield();
    }
}

mode mode_of(const options& o, int p) {
    if (o.m != mode::mixed)
        return o.m;
    return static_cast<mode>(p % 4);
}

long query_received(target& t) {
    auto f = corio::run_coroutine_threadsafe(
        [](checker* c) -> corio::task<long> { co_return c->received; }(t.check.get()), *t.loop);
    return f.result(std::chrono::seconds(10));
}

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--mode") {
            std::string m = value();
            if (m == "threadsafe")
                o.m = mode::threadsafe;
            else if (m == "coroutine")
                o.m = mode::coroutine;
            else if (m == "submit")
                o.m = mode::submit;
            else if (m == "executor")
                o.m = mode::executor;
            else if (m == "mixed")
                o.m = mode::mixed;
            else
                return false;
        } else if (a == "--producers") {
            o.producers = std::atoi(value());
        } else if (a == "--loops") {
            o.loops = std::atoi(value());
        } else if (a == "--duration") {
            o.duration = std::atof(value());
        } else if (a == "--count") {
            o.count = std::atol(value());
        } else if (a == "--idle-poll-us") {
            o.idle_poll_us = std::atol(value());
        } else if (a == "--soak") {
            o.soak = true;
        } else {
            return false;
        }
    }
    return o.producers > 0 && o.loops > 0;
}

const char* mode_name(mode m) {
    switch (m) {
        case mode::threadsafe:
            return "threadsafe";
        case mode::coroutine:
            return "coroutine";
        case mode::submit:
            return "submit";
        case mode::executor:
            return "executor";
        case mode::mixed:
            return "mixed";
    }
    return "?";
}

}  // namespace

int main(int argc, char** argv) {
    run_state rs;
    if (!parse(argc, argv, rs.opt)) {
        std::fprintf(stderr,
                     "usage: corio-stress [--mode threadsafe|coroutine|submit|executor|mixed]\n"
                     "                    [--producers P] [--loops L] [--duration S | --count N]\n"
                     "                    [--idle-poll-us US] [--soak]\n");
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const options& o = rs.opt;
    rs.completed = std::make_unique<std::atomic<long>[]>(static_cast<std::size_t>(o.producers));
    rs.sent.assign(static_cast<std::size_t>(o.producers),
                   std::vector<long>(static_cast<std::size_t>(o.loops), 0));
    for (int l = 0; l < o.loops; ++l) {
        target t;
        t.loop = std::make_unique<corio::event_loop>(loop_opts(o));
        t.check = std::make_unique<checker>(o.producers);
        rs.targets.push_back(std::move(t));
    }
    for (target& t : rs.targets) {
        corio::event_loop* loop = t.loop.get();
        t.thread = std::thread([loop] {
            loop->call_soon([] {});
            loop->run_forever();
        });
    }
    std::printf("corio-stress: mode=%s producers=%d loops=%d %s backend=%s\n", mode_name(o.m),
                o.producers, o.loops,
                o.soak ? "soak (until SIGINT)"
                       : (o.count > 0 ? ("count=" + std::to_string(o.count)).c_str()
                                      : ("duration=" + std::to_string(o.duration) + "s").c_str()),
                std::string(rs.targets[0].loop->backend_name()).c_str());
    std::fflush(stdout);
    const auto start = clock_type::now();
    std::vector<std::thread> producers;
    for (int p = 0; p < o.producers; ++p) {
        producers.emplace_back([&rs, p] {
            switch (mode_of(rs.opt, p)) {
                case mode::threadsafe:
                    threadsafe_producer(rs, p);
                    break;
                case mode::coroutine:
                    coroutine_producer(rs, p);
                    break;
                case mode::submit:
                    submit_producer(rs, p);
                    break;
                default:
                    executor_producer(rs, p);
                    break;
            }
        });
    }
    if (o.count == 0) {
        auto last = clock_type::now();
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (interrupted.load())
                break;
            if (!o.soak && clock_type::now() - start >= std::chrono::duration<double>(o.duration))
                break;
            if (o.soak && clock_type::now() - last >= std::chrono::seconds(10)) {
                last = clock_type::now();
                long got = 0;
                for (auto& t : rs.targets)
                    got += query_received(t);
                std::printf("  %.0f s: %ld messages received\n",
                            std::chrono::duration<double>(last - start).count(), got);
                std::fflush(stdout);
            }
        }
        rs.stop.store(true);
    }
    for (auto& t : producers)
        t.join();
    const double send_seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    long expected = 0;
    for (auto& per : rs.sent)
        for (long n : per)
            expected += n;
    // Everything sent must arrive; wait for it (bounded), then stop the loops.
    const auto deadline = clock_type::now() + std::chrono::seconds(30);
    long received = 0;
    for (;;) {
        received = 0;
        for (auto& t : rs.targets)
            received += query_received(t);
        if (received >= expected || clock_type::now() > deadline)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    rs.pool.shutdown();
    for (auto& t : rs.targets) {
        corio::event_loop* loop = t.loop.get();
        loop->call_soon_threadsafe([loop] { loop->stop(); });
        t.thread.join();
    }
    histogram all;
    long lost = 0, dup = 0, reordered = 0;
    std::uint64_t wakeups = 0, messages = 0, idle_ns = 0;
    for (auto& t : rs.targets) {
        checker& c = *t.check;
        all.merge(c.latency);
        dup += c.duplicated;
        reordered += c.lost_or_reordered;
        wakeups += t.loop->stats().wakeups_sent;
        messages += t.loop->stats().inbox_messages;
        idle_ns += t.loop->stats().idle_poll_ns;
        t.loop->close();
    }
    lost = expected - received + dup;  // received counts duplicates too
    if (lost < 0)
        lost = 0;
    std::printf("sent %ld, received %ld in %.2f s: %.0f msg/s\n", expected, received, send_seconds,
                static_cast<double>(received) / send_seconds);
    std::printf("latency ns: p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  max %llu\n",
                static_cast<unsigned long long>(all.percentile(0.5)),
                static_cast<unsigned long long>(all.percentile(0.9)),
                static_cast<unsigned long long>(all.percentile(0.99)),
                static_cast<unsigned long long>(all.percentile(0.999)),
                static_cast<unsigned long long>(all.max));
    std::printf(
        "inbox messages %llu, wake-up syscalls %llu (%.4f per message), idle polling %.2f s\n",
        static_cast<unsigned long long>(messages), static_cast<unsigned long long>(wakeups),
        messages ? static_cast<double>(wakeups) / static_cast<double>(messages) : 0.0,
        static_cast<double>(idle_ns) * 1e-9);
    std::printf("lost %ld, duplicated %ld, out of order %ld: %s\n", lost, dup, reordered,
                lost == 0 && dup == 0 && reordered == 0 ? "OK" : "FAILED");
    return lost == 0 && dup == 0 && reordered == 0 ? 0 : 1;
}
