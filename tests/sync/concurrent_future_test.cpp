// concurrent_future and run_coroutine_threadsafe / wrap_future: results from any thread,
// timeouts, the own-thread deadlock error, and cancellation in both directions.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include <corio/threads.hpp>

#include "loop_thread.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

TEST(concurrent_future, set_result_from_another_thread_wakes_a_blocked_waiter) {
    concurrent_future<int> f;
    std::thread t([f]() mutable {
        std::this_thread::sleep_for(2ms);
        f.set_result(7);
    });
    EXPECT_EQ(f.result(test::scaled(5s), 0ns), 7);  // no spin: really blocks
    t.join();
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.exception(), nullptr);
}

TEST(concurrent_future, result_timeout_expires_with_timeout_error) {
    concurrent_future<int> f;
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(f.result(5ms), timeout_error);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 5ms);
    EXPECT_FALSE(f.done());
}

TEST(concurrent_future, exception_cancel_and_callbacks) {
    concurrent_future<void> f;
    int called = 0;
    f.add_done_callback([&](concurrent_future<void>& d) { called += d.cancelled() ? 10 : 1; });
    EXPECT_TRUE(f.cancel());
    EXPECT_EQ(called, 10);
    EXPECT_THROW(f.result(), cancelled_error);
    EXPECT_FALSE(f.set_result());
    f.add_done_callback([&] { ++called; });  // already done: runs now
    EXPECT_EQ(called, 11);

    concurrent_future<int> g;
    g.set_exception(std::make_exception_ptr(std::logic_error("bad")));
    EXPECT_THROW(g.result(), std::logic_error);
    EXPECT_NE(g.exception(), nullptr);
}

TEST(concurrent_future, a_running_future_cannot_be_cancelled) {
    concurrent_future<int> f;
    EXPECT_TRUE(f.set_running_or_notify_cancel());
    EXPECT_FALSE(f.cancel());
    f.set_result(1);
    EXPECT_EQ(f.result(), 1);
}

using threadsafe_coroutines = test::xthread_test;

task<int> slow_double(int x) {
    co_await sleep(0.001);
    co_return 2 * x;
}

task<int> throws_logic() {
    co_await sleep(0);
    throw std::logic_error("inside");
}

TEST_P(threadsafe_coroutines, result_and_exception_from_a_foreign_thread) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    auto f = run_coroutine_threadsafe(slow_double(21), *lt.loop);
    EXPECT_EQ(f.result(test::scaled(5s)), 42);
    auto g = run_coroutine_threadsafe(throws_logic(), *lt.loop);
    EXPECT_THROW(g.result(test::scaled(5s)), std::logic_error);
}

TEST_P(threadsafe_coroutines, result_timeout_expires_while_the_task_runs_on) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    auto never = []() -> task<int> {
        co_await sleep(3600);
        co_return 0;
    };
    auto f = run_coroutine_threadsafe(never(), *lt.loop);
    EXPECT_THROW(f.result(2ms), timeout_error);
    EXPECT_TRUE(f.cancel());
}

// Cancel from the concurrent future reaches the task: it sees cancelled_error at its await.
TEST_P(threadsafe_coroutines, cancel_propagates_to_the_task) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    std::atomic<int> state{0};  // 1: started, 2: saw cancellation
    auto body = [](std::atomic<int>* s) -> task<int> {
        s->store(1);
        try {
            co_await sleep(3600);
        } catch (const cancelled_error&) {
            s->store(2);
            throw;
        }
        co_return 0;
    };
    auto f = run_coroutine_threadsafe(body(&state), *lt.loop);
    ASSERT_TRUE(test::wait_until([&] { return state.load() == 1; }));
    EXPECT_TRUE(f.cancel());
    EXPECT_THROW(f.result(), cancelled_error);
    EXPECT_TRUE(test::wait_until([&] { return state.load() == 2; }));
}

// ... and back: a task cancelled on its own loop cancels the concurrent future.
TEST_P(threadsafe_coroutines, a_task_cancelled_on_its_loop_cancels_the_future) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    auto body = []() -> task<int> {
        current_task()->cancel("from inside");
        co_await sleep(0);
        co_return 1;
    };
    auto f = run_coroutine_threadsafe(body(), *lt.loop);
    EXPECT_THROW(f.result(test::scaled(5s)), cancelled_error);
    EXPECT_TRUE(f.cancelled());
}

TEST_P(threadsafe_coroutines, result_on_the_loops_own_thread_is_an_error_not_a_deadlock) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    auto never = []() -> task<int> {
        co_await sleep(3600);
        co_return 0;
    };
    auto f = run_coroutine_threadsafe(never(), *lt.loop);
    std::atomic<int> outcome{0};
    lt.loop->call_soon_threadsafe([&outcome, f]() mutable {
        try {
            f.result();
            outcome = 1;
        } catch (const std::runtime_error&) {
            outcome = 2;
        }
    });
    EXPECT_TRUE(test::wait_until([&] { return outcome.load() != 0; }));
    EXPECT_EQ(outcome.load(), 2);
    f.cancel();
}

TEST_P(threadsafe_coroutines, closed_loop_throws_and_close_fails_pending_starts) {
    CORIO_LOOP_OR_SKIP(l);
    auto f = run_coroutine_threadsafe(slow_double(1), *l);  // accepted, never run
    l->close();
    EXPECT_THROW(f.result(1s), std::runtime_error);
    EXPECT_THROW(run_coroutine_threadsafe(slow_double(1), *l), std::runtime_error);
}

// wrap_future: a loop awaits another thread's concurrent future without blocking.
TEST_P(threadsafe_coroutines, wrap_future_lets_a_loop_await_another_threads_work) {
    CORIO_LOOP_OR_SKIP(l);
    concurrent_future<int> cf;
    std::thread worker([cf]() mutable {
        std::this_thread::sleep_for(1ms);
        cf.set_result(5);
    });
    auto body = [](concurrent_future<int> cf) -> task<int> {
        int ticks = 0;
        future<int> f = wrap_future(cf);
        while (!f.done()) {  // the loop keeps running meanwhile
            ++ticks;
            co_await sleep(0.0001);
        }
        co_return co_await f + (ticks > 0 ? 100 : 0);
    };
    EXPECT_EQ(l->run_until_complete(body(cf)), 105);
    worker.join();
}

CORIO_INSTANTIATE_BACKENDS(threadsafe_coroutines);

}  // namespace
}  // namespace corio
