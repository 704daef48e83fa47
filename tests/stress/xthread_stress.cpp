// Cross-thread stress: foreign producers and loops exchanging messages with exact accounting
// and per-producer FIFO, close racing producers, result(timeout) expiring, cancellation both
// ways, executor exceptions. Iteration counts scale with CORIO_STRESS_SCALE (default 1);
// CORIO_STRESS_SOAK=1 multiplies them by 50 for a long soak. Waits scale with
// CORIO_TEST_TIMEOUT_MULTIPLIER.
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <corio/executor.hpp>
#include <corio/threads.hpp>

#include "../sync/loop_thread.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

long scale(long base) {
    const char* s = std::getenv("CORIO_STRESS_SCALE");
    double f = s != nullptr ? std::atof(s) : 1.0;
    if (f <= 0)
        f = 1.0;
    const char* soak = std::getenv("CORIO_STRESS_SOAK");
    if (soak != nullptr && *soak == '1')
        f *= 50;
    return std::max(1L, static_cast<long>(static_cast<double>(base) * f));
}

using stress = test::xthread_test;

// Per-(loop, producer) checker, touched only on its loop's thread.
struct fifo_check {
    std::vector<long> next;  // expected sequence per producer
    long received = 0;
    long out_of_order = 0;
    explicit fifo_check(std::size_t producers) : next(producers, 0) {}
    void see(std::size_t producer, long seq) {
        if (seq != next[producer])
            ++out_of_order;
        next[producer] = seq + 1;
        ++received;
    }
};

// 4 foreign producers post to 2 loops; each loop also forwards to the other loop (as a fifth
// producer) every tenth message it receives. Exact counts, FIFO per producer per loop.
TEST_P(stress, four_producers_two_loops_exact_counts_and_fifo) {
    constexpr std::size_t producers = 4;
    const long per_producer = scale(50000);
    CORIO_LOOP_OR_SKIP(a);
    CORIO_LOOP_OR_SKIP(b);
    fifo_check check_a(producers + 1), check_b(producers + 1);
    long forwarded_a = 0, forwarded_b = 0;  // loop-thread counters of forwards sent
    test::loop_thread la(std::move(a)), lb(std::move(b));
    event_loop* loops[2] = {la.loop.get(), lb.loop.get()};
    fifo_check* checks[2] = {&check_a, &check_b};
    long* forwarded[2] = {&forwarded_a, &forwarded_b};
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            long seq[2] = {0, 0};
            for (long i = 0; i < per_producer; ++i) {
                const int to = static_cast<int>((i + static_cast<long>(p)) % 2);
                event_loop* target = loops[to];
                fifo_check* c = checks[to];
                event_loop* other = loops[1 - to];
                fifo_check* oc = checks[1 - to];
                long* fw = forwarded[to];
                long s = seq[to]++;
                target->call_soon_threadsafe([c, p, s, other, oc, fw] {
                    c->see(p, s);
                    if (s % 10 == 0) {
                        long f = (*fw)++;
                        other->call_soon_threadsafe([oc, f] { oc->see(producers, f); });
                    }
                });
            }
        });
    }
    for (auto& t : threads)
        t.join();
    const long total_foreign = per_producer * static_cast<long>(producers);
    // Wait until both loops have received everything, including forwards; read the
    // counters on their own threads.
    auto settled = [&] {
        std::atomic<long> sum{-1};
        long got = 0;
        for (int i = 0; i < 2; ++i) {
            auto f = run_coroutine_threadsafe(
                [](fifo_check* c) -> task<long> { co_return c->received; }(checks[i]), *loops[i]);
            got += f.result(test::scaled(10s));
        }
        sum = got;
        return sum.load();
    };
    long expected_forwards = 0;
    for (std::size_t p = 0; p < producers; ++p) {
        for (int to = 0; to < 2; ++to) {
            long n = 0;  // messages producer p sent to loop `to`
            for (long i = 0; i < per_producer; ++i)
                n += ((i + static_cast<long>(p)) % 2) == to;
            expected_forwards += (n + 9) / 10;
        }
    }
    EXPECT_TRUE(
        test::wait_until([&] { return settled() == total_foreign + expected_forwards; }, 30s));
    la.stop_and_join();
    lb.stop_and_join();
    EXPECT_EQ(check_a.received + check_b.received, total_foreign + expected_forwards);
    EXPECT_EQ(check_a.out_of_order, 0);
    EXPECT_EQ(check_b.out_of_order, 0);
    for (std::size_t p = 0; p < producers; ++p) {
        EXPECT_EQ(check_a.next[p] + check_b.next[p], per_producer);
    }
    // Under a flood the loops seldom sleep: far fewer wake-ups than messages.
    const loop_stats& s = la.loop->stats();
    EXPECT_LT(s.wakeups_sent, s.inbox_messages);
}

// close() racing producers, many rounds: every accepted callback ran or was reported.
TEST_P(stress, close_racing_producers_every_message_run_or_reported) {
    const long rounds = scale(8);
    for (long round = 0; round < rounds; ++round) {
        CORIO_LOOP_OR_SKIP(l);
        std::atomic<long> ran{0}, dropped{0}, accepted{0};
        l->set_exception_handler([&](event_loop&, const exception_context& c) {
            if (c.source == "call_soon_threadsafe")
                dropped.fetch_add(1);
        });
        auto lt = std::make_unique<test::loop_thread>(std::move(l));
        std::atomic<bool> go{true};
        std::vector<std::thread> producers;
        for (int p = 0; p < 4; ++p) {
            producers.emplace_back([&] {
                for (long i = 0; go.load(std::memory_order_relaxed); ++i) {
                    if (i % 64 == 0)
                        std::this_thread::yield();  // a race, not a flood
                    try {
                        lt->loop->call_soon_threadsafe([&] { ran.fetch_add(1); });
                        accepted.fetch_add(1);
                    } catch (const std::runtime_error&) {
                    }
                }
            });
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200 + 300 * (round % 7)));
        lt->stop_and_join();
        lt->loop->close();
        std::this_thread::sleep_for(200us);
        go.store(false);
        for (auto& t : producers)
            t.join();
        std::unique_ptr<event_loop> loop = std::move(lt->loop);
        lt.reset();
        loop.reset();  // sweeps stragglers
        ASSERT_EQ(ran.load() + dropped.load(), accepted.load()) << "round " << round;
    }
}

task<int> finish_after(double seconds, int v) {
    co_await sleep(seconds);
    co_return v;
}

// result(timeout) racing completion: each call returns the value or throws timeout_error,
// never hangs, and a future that timed out still completes later.
TEST_P(stress, result_timeout_races_completion) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    const long n = scale(300);
    long timeouts = 0, values = 0;
    for (long i = 0; i < n; ++i) {
        auto f = run_coroutine_threadsafe(finish_after(0.0002 * static_cast<double>(i % 5), 1),
                                          *lt.loop);
        try {
            values += f.result(std::chrono::microseconds(100 * (i % 4)), 0ns);
        } catch (const timeout_error&) {
            ++timeouts;
            EXPECT_EQ(f.result(test::scaled(5s)), 1);
        }
    }
    EXPECT_EQ(values + timeouts, n);
    EXPECT_GT(timeouts, 0);
}

// Cancel from the concurrent future at random moments: every future ends done, and a task
// either finished or saw its cancellation; and tasks cancelled on their loop cancel their
// futures.
TEST_P(stress, cancellation_both_ways) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    const long n = scale(500);
    std::atomic<long> saw_cancel{0}, finished{0};
    auto body = [](std::atomic<long>* saw, std::atomic<long>* fin, int i) -> task<int> {
        try {
            co_await sleep(0.00005 * (i % 3));
            if (i % 5 == 0)
                current_task()->cancel({});
            co_await sleep(0);
        } catch (const cancelled_error&) {
            saw->fetch_add(1);
            throw;
        }
        fin->fetch_add(1);
        co_return i;
    };
    long cancelled = 0, ok = 0;
    for (long i = 0; i < n; ++i) {
        auto f =
            run_coroutine_threadsafe(body(&saw_cancel, &finished, static_cast<int>(i)), *lt.loop);
        if (i % 3 == 0)
            f.cancel();
        try {
            f.result(test::scaled(5s));
            ++ok;
        } catch (const cancelled_error&) {
            ++cancelled;
        }
    }
    EXPECT_EQ(ok + cancelled, n);
    // Let cancels posted to already-finished tasks drain, then check the task side agrees.
    EXPECT_TRUE(test::wait_until([&] { return saw_cancel.load() + finished.load() <= n; }));
    EXPECT_GE(cancelled, n / 5);
}

// Executor exceptions propagate to the awaiting loop, every one of them.
TEST_P(stress, executor_exceptions_propagate) {
    CORIO_LOOP_OR_SKIP(l);
    thread_pool_executor ex(4);
    const long n = scale(2000);
    auto body = [](thread_pool_executor* ex, long n) -> task<long> {
        event_loop& loop = get_running_loop();
        std::vector<future<long>> fs;
        for (long i = 0; i < n; ++i) {
            fs.push_back(loop.run_in_executor(ex, [i] {
                if (i % 2)
                    throw std::runtime_error("odd");
                return i;
            }));
        }
        long errors = 0, sum = 0;
        for (auto& f : fs) {
            try {
                sum += co_await f;
            } catch (const std::runtime_error&) {
                ++errors;
            }
        }
        co_return errors * 1'000'000'000L + sum;
    };
    long r = l->run_until_complete(body(&ex, n));
    long evens = (n + 1) / 2;
    EXPECT_EQ(r / 1'000'000'000L, n / 2);
    EXPECT_EQ(r % 1'000'000'000L, (evens - 1) * evens);  // 0 + 2 + ... + 2(evens-1)
}

CORIO_INSTANTIATE_BACKENDS(stress);

}  // namespace
}  // namespace corio
