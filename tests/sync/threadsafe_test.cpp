// Cross-thread entry points on real loops, on both backends: call_soon_threadsafe from
// foreign threads, submit_to between two loops (values, exceptions, coroutines, closed
// targets), and close() racing producers.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <corio/threads.hpp>

#include "loop_thread.hpp"

namespace corio {
namespace {

using threadsafe = test::xthread_test;

TEST_P(threadsafe, call_soon_threadsafe_from_foreign_threads_runs_every_callback) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread lt(std::move(l));
    std::atomic<int> ran{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < 3; ++p) {
        producers.emplace_back([&] {
            for (int i = 0; i < 5000; ++i)
                lt.loop->call_soon_threadsafe([&] { ran.fetch_add(1); });
        });
    }
    for (auto& t : producers)
        t.join();
    EXPECT_TRUE(test::wait_until([&] { return ran.load() == 15000; }));
}

task<int> add_later(int a, int b) {
    co_await sleep(0.001);
    co_return a + b;
}

task<void> fail_later() {
    co_await sleep(0);
    throw std::logic_error("remote failure");
}

TEST_P(threadsafe, submit_to_returns_values_exceptions_and_coroutine_results) {
    CORIO_LOOP_OR_SKIP(l);
    test::loop_thread other(std::move(l));
    CORIO_LOOP_OR_SKIP(caller);
    event_loop* target = other.loop.get();
    auto body = [](event_loop* target) -> task<int> {
        int a = co_await submit_to(*target, [] { return 20; });
        int b = co_await submit_to(*target, [] { return add_later(1, 1); });
        bool threw = false;
        try {
            co_await submit_to(*target, [] { throw std::runtime_error("x"); });
        } catch (const std::runtime_error&) {
            threw = true;
        }
        try {
            co_await submit_to(*target, [] { return fail_later(); });
        } catch (const std::logic_error&) {
            threw = threw && true;
        }
        // The submitted function ran on the target's thread.
        std::thread::id there =
            co_await submit_to(*target, [] { return std::this_thread::get_id(); });
        co_return a + b + (threw ? 100 : 0) + (there != std::this_thread::get_id() ? 1000 : 0);
    };
    EXPECT_EQ(caller->run_until_complete(body(target)), 1122);
}

TEST_P(threadsafe, submit_to_a_closed_loop_throws) {
    CORIO_LOOP_OR_SKIP(target);
    CORIO_LOOP_OR_SKIP(caller);
    target->close();
    auto body = [](event_loop* t) -> task<void> { co_await submit_to(*t, [] { return 1; }); };
    EXPECT_THROW(caller->run_until_complete(body(target.get())), std::runtime_error);
}

// close() racing producers: every callback accepted is run exactly once or reported as
// dropped (counted by the exception handler), and a call refused throws "Event loop is closed".
TEST_P(threadsafe, close_racing_producers_loses_nothing) {
    for (int round = 0; round < 5; ++round) {
        CORIO_LOOP_OR_SKIP(l);
        std::atomic<long> ran{0}, dropped{0}, refused{0}, accepted{0};
        l->set_exception_handler([&](event_loop&, const exception_context& c) {
            if (c.source == "call_soon_threadsafe")
                dropped.fetch_add(1);
        });
        test::loop_thread* lt = new test::loop_thread(std::move(l));
        std::atomic<bool> go{true};
        std::vector<std::thread> producers;
        for (int p = 0; p < 3; ++p) {
            producers.emplace_back([&] {
                while (go.load()) {
                    try {
                        lt->loop->call_soon_threadsafe([&] { ran.fetch_add(1); });
                        accepted.fetch_add(1);
                    } catch (const std::runtime_error&) {
                        refused.fetch_add(1);
                        if (refused.load() > 100)
                            return;
                    }
                }
            });
        }
        // Close while the producers are posting, and let them go on until each kind of
        // outcome has happened: messages accepted before the close and calls refused after.
        EXPECT_TRUE(test::wait_until([&] { return accepted.load() > 1000; }));
        lt->stop_and_join();
        lt->loop->close();
        EXPECT_TRUE(test::wait_until([&] { return refused.load() > 0; }));
        go.store(false);
        for (auto& t : producers)
            t.join();
        std::unique_ptr<event_loop> loop = std::move(lt->loop);
        lt->loop = nullptr;
        lt->thread = std::thread();
        delete lt;     // loop already closed and moved out
        loop.reset();  // the destructor sweeps stragglers
        EXPECT_EQ(ran.load() + dropped.load(), accepted.load() + 0) << "round " << round;
        EXPECT_GT(refused.load(), 0);
    }
}

CORIO_INSTANTIATE_BACKENDS(threadsafe);

}  // namespace
}  // namespace corio
