// thread_pool_executor and run_in_executor / to_thread / the default executor.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include <corio/executor.hpp>
#include <corio/runners.hpp>
#include <corio/threads.hpp>

#include "loop_thread.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;

TEST(thread_pool_executor, default_size_is_pythons) {
    std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    EXPECT_EQ(thread_pool_executor::default_max_workers(), std::min<std::size_t>(32, cores + 4));
}

TEST(thread_pool_executor, submit_returns_results_and_exceptions) {
    thread_pool_executor ex(2);
    auto f = ex.submit([](int a, int b) { return a * b; }, 6, 7);
    auto g = ex.submit([] { throw std::domain_error("worker"); });
    EXPECT_EQ(f.result(test::scaled(5s)), 42);
    EXPECT_THROW(g.result(test::scaled(5s)), std::domain_error);
    EXPECT_LE(ex.worker_count(), 2u);
}

TEST(thread_pool_executor, work_after_shutdown_is_refused) {
    thread_pool_executor ex(1);
    ex.submit([] {}).result();
    ex.shutdown();
    EXPECT_THROW(ex.submit([] {}), std::runtime_error);
}

TEST(thread_pool_executor, shutdown_runs_queued_work_unless_cancel_futures) {
    std::atomic<int> ran{0};
    {
        thread_pool_executor ex(1);
        for (int i = 0; i < 100; ++i)
            ex.submit([&] { ran.fetch_add(1); });
        ex.shutdown(true);
        EXPECT_EQ(ran.load(), 100);
    }
    thread_pool_executor ex(1);
    std::atomic<bool> release{false};
    auto blocker = ex.submit([&] {
        while (!release.load())
            std::this_thread::yield();
    });
    ASSERT_TRUE(test::wait_until([&] { return blocker.running(); }));
    std::vector<concurrent_future<void>> queued;
    for (int i = 0; i < 10; ++i)
        queued.push_back(ex.submit([&] { ran.fetch_add(1); }));
    std::thread releaser([&] {
        std::this_thread::sleep_for(2ms);
        release.store(true);
    });
    ex.shutdown(true, true);
    releaser.join();
    int cancelled = 0;
    for (auto& q : queued)
        cancelled += q.cancelled() ? 1 : 0;
    EXPECT_GT(cancelled, 0);
    EXPECT_EQ(ran.load(), 100 + (10 - cancelled));
    blocker.result();
}

using executor_loop = test::xthread_test;

TEST_P(executor_loop, run_in_executor_completes_a_loop_future_through_the_inbox) {
    CORIO_LOOP_OR_SKIP(l);
    thread_pool_executor ex(2);
    auto body = [](thread_pool_executor* ex) -> task<int> {
        event_loop& loop = get_running_loop();
        int a = co_await loop.run_in_executor(
            ex, [](int x) { return x + 1; }, 1);
        int b = co_await loop.run_in_executor(nullptr, [] { return 10; });
        int c = co_await to_thread([] { return 100; });
        bool other_thread = co_await to_thread(
            [id = std::this_thread::get_id()] { return std::this_thread::get_id() != id; });
        try {
            co_await loop.run_in_executor(*ex, [] { throw std::out_of_range("pool"); });
        } catch (const std::out_of_range&) {
            c += 1000;
        }
        co_return a + b + c + (other_thread ? 10000 : 0);
    };
    EXPECT_EQ(l->run_until_complete(body(&ex)), 11112);
    l->shutdown_default_executor();
    auto after = []() -> task<void> { co_await to_thread([] {}); };
    EXPECT_THROW(l->run_until_complete(after()), std::runtime_error);
}

CORIO_INSTANTIATE_BACKENDS(executor_loop);

TEST(executor_run, run_shuts_the_default_executor_down) {
    static std::atomic<int> done{0};
    auto main_task = []() -> task<int> {
        co_await to_thread([] {
            std::this_thread::sleep_for(1ms);
            done.fetch_add(1);
        });
        co_return 3;
    };
    EXPECT_EQ(run(main_task()), 3);
    EXPECT_EQ(done.load(), 1);
}

}  // namespace
}  // namespace corio
