// task<T>, create_task, cancellation, sleep and run(): asyncio's Task rules, one test each.
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <corio/runners.hpp>
#include <corio/tasks.hpp>

#include "../support/manual_clock_loop.hpp"

namespace corio {
namespace {

using test::manual_clock_loop;

task<int> forty_two() {
    co_return 42;
}

task<int> add_one(task<int> inner) {
    co_return co_await std::move(inner) + 1;
}

task<void> fail() {
    throw std::runtime_error("failed");
    co_return;
}

TEST(task, create_task_runs_the_coroutine_in_a_later_iteration) {
    manual_clock_loop t;
    task<int> tk = t.loop.create_task(forty_two());
    EXPECT_FALSE(tk.done());
    EXPECT_EQ(t.loop.run_until_complete(tk), 42);
    EXPECT_TRUE(tk.done());
    EXPECT_EQ(tk.result(), 42);
}

TEST(task, awaiting_a_coroutine_runs_it_inline) {
    manual_clock_loop t;
    EXPECT_EQ(t.loop.run_until_complete(add_one(forty_two())), 43);
}

TEST(task, an_exception_reaches_the_awaiter) {
    manual_clock_loop t;
    auto outer = []() -> task<std::string> {
        try {
            co_await fail();
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    EXPECT_EQ(t.loop.run_until_complete(outer()), "failed");
    EXPECT_THROW(t.loop.run_until_complete(fail()), std::runtime_error);
}

TEST(task, awaiting_a_future_returns_its_result) {
    manual_clock_loop t;
    future<int> f = t.loop.create_future<int>();
    t.loop.call_later(1.0, [&] { f.set_result(7); });
    auto waiter = [](future<int> fut) -> task<int> { co_return co_await fut; };
    EXPECT_EQ(t.loop.run_until_complete(waiter(f)), 7);
}

TEST(task, cancel_throws_cancelled_error_at_the_suspension_point) {
    manual_clock_loop t;
    std::string seen;
    auto sleeper = [](std::string& seen) -> task<void> {
        try {
            co_await sleep(10.0);
        } catch (const cancelled_error& e) {
            seen = e.message();
            throw;
        }
    };
    task<void> tk = t.loop.create_task(sleeper(seen));
    t.loop.call_later(1.0, [&] { EXPECT_TRUE(tk.cancel("enough")); });
    EXPECT_THROW(t.loop.run_until_complete(tk), cancelled_error);
    EXPECT_EQ(seen, "enough");
    EXPECT_TRUE(tk.cancelled());
    EXPECT_FALSE(tk.cancel());      // done: false
    EXPECT_LT(t.loop.time(), 5.0);  // the timer was cancelled, not waited for
}

TEST(task, a_task_that_swallows_cancellation_is_not_cancelled) {
    manual_clock_loop t;
    auto stubborn = []() -> task<int> {
        try {
            co_await sleep(10.0);
        } catch (const cancelled_error&) {
            co_return 5;
        }
        co_return 0;
    };
    task<int> tk = t.loop.create_task(stubborn());
    t.loop.call_soon([&] { tk.cancel(); });
    EXPECT_EQ(t.loop.run_until_complete(tk), 5);
    EXPECT_FALSE(tk.cancelled());
    EXPECT_EQ(tk.cancelling(), 1);
    EXPECT_EQ(tk.uncancel(), 0);
}

TEST(task, a_task_cancelled_before_its_first_step_never_runs_its_body) {
    manual_clock_loop t;
    bool ran = false;
    auto body = [](bool& ran) -> task<void> {
        ran = true;
        co_return;
    };
    task<void> tk = t.loop.create_task(body(ran));
    tk.cancel();
    EXPECT_THROW(t.loop.run_until_complete(tk), cancelled_error);
    EXPECT_FALSE(ran);
}

// asyncio's _must_cancel at StopIteration: a cancel() made while the task runs its last
// step (here, by the task itself) is recorded, not thrown; the coroutine then returns, and
// the task ends cancelled, with the message of the request.
TEST(task, a_cancel_requested_in_the_last_step_cancels_the_task_with_its_message) {
    manual_clock_loop t;
    auto body = []() -> task<int> {
        EXPECT_TRUE(current_task()->cancel("from inside"));
        co_return 1;
    };
    task<int> tk = t.loop.create_task(body());
    std::string seen;
    try {
        t.loop.run_until_complete(tk);
    } catch (const cancelled_error& e) {
        seen = e.message();
    }
    EXPECT_EQ(seen, "from inside");
    EXPECT_TRUE(tk.cancelled());
}

// Python 3.13: uncancel() back to zero also drops a cancellation still waiting to be thrown,
// so the next resumption carries on.
TEST(task, uncancel_to_zero_drops_a_pending_cancellation) {
    manual_clock_loop t;
    auto body = []() -> task<int> {
        detail::task_base* self = current_task();
        self->cancel("dropped");
        self->uncancel();
        co_await sleep(0);
        co_return 2;
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), 2);
}

TEST(task, cancellation_wins_over_a_future_completed_in_the_same_iteration) {
    manual_clock_loop t;
    future<int> f = t.loop.create_future<int>();
    auto waiter = [](future<int> fut) -> task<int> { co_return co_await fut; };
    task<int> tk = t.loop.create_task(waiter(f));
    t.loop.call_later(1.0, [&] {
        f.set_result(1);  // schedules the task's wake-up...
        tk.cancel();      // ...and the cancel arrives before it runs
    });
    EXPECT_THROW(t.loop.run_until_complete(tk), cancelled_error);
    EXPECT_TRUE(tk.cancelled());
}

TEST(task, sleep_zero_yields_exactly_one_iteration) {
    manual_clock_loop t;
    std::vector<std::string> order;
    auto worker = [](std::vector<std::string>& order, std::string name) -> task<void> {
        order.push_back(name + "1");
        co_await sleep(0);
        order.push_back(name + "2");
    };
    task<void> a = t.loop.create_task(worker(order, "a"));
    task<void> b = t.loop.create_task(worker(order, "b"));
    t.loop.run_until_complete(b);
    EXPECT_EQ(order, (std::vector<std::string>{"a1", "b1", "a2", "b2"}));
}

TEST(task, sleep_waits_on_the_loop_clock) {
    manual_clock_loop t;
    auto sleeper = [](event_loop& loop) -> task<double> {
        double start = loop.time();
        co_await sleep(std::chrono::milliseconds(1500));
        co_return loop.time() - start;
    };
    EXPECT_DOUBLE_EQ(t.loop.run_until_complete(sleeper(t.loop)), 1.5);
}

TEST(task, awaiting_itself_is_an_error) {
    manual_clock_loop t;
    task<void> self;
    auto body = [](task<void>& self) -> task<void> {
        co_await sleep(0);
        co_await self;
    };
    self = t.loop.create_task(body(self));
    try {
        t.loop.run_until_complete(self);
        ADD_FAILURE();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot await on itself"), std::string::npos);
    }
}

TEST(task, awaiting_another_loops_future_is_an_error) {
    manual_clock_loop a, b;
    future<int> foreign = b.loop.create_future<int>();
    auto waiter = [](future<int> fut) -> task<int> { co_return co_await fut; };
    try {
        a.loop.run_until_complete(waiter(foreign));
        ADD_FAILURE();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("different loop"), std::string::npos);
    }
}

TEST(task, names_current_task_and_all_tasks) {
    manual_clock_loop t;
    std::string name;
    std::size_t count = 0;
    bool current_is_self = false;
    auto body = [&]() -> task<void> {
        name = current_task()->get_name();
        count = all_tasks().size();
        co_await sleep(0);
        current_is_self = current_task() != nullptr;
    };
    task<void> tk = t.loop.create_task(body(), "worker");
    t.loop.run_until_complete(tk);
    EXPECT_EQ(name, "worker");
    EXPECT_EQ(count, 1u);
    EXPECT_TRUE(current_is_self);
    task<int> unnamed = t.loop.create_task(forty_two());
    EXPECT_EQ(unnamed.get_name().rfind("Task-", 0), 0u);
    t.loop.run_until_complete(unnamed);
}

task<void> wait_for_gate(future<void> gate) {
    co_await gate;
}

// What all_tasks() must list: the running task and every worker not done yet.
std::multiset<detail::task_base*> running_and_pending(const std::vector<task<void>>& workers) {
    std::multiset<detail::task_base*> live{current_task()};
    for (const task<void>& w : workers) {
        if (!w.done())
            live.insert(w.promise());
    }
    return live;
}

task<void> churn_tasks(int rounds) {
    std::vector<future<void>> gates;
    std::vector<task<void>> workers;
    event_loop& loop = get_running_loop();
    for (int round = 0; round < rounds; ++round) {
        for (int i = 0; i < 100; ++i) {
            gates.push_back(loop.create_future());
            workers.push_back(create_task(wait_for_gate(gates.back())));
        }
        // Two in three of the gates still closed, in a stride across creation order: the
        // loop's list of tasks fills with holes, squeezes them out and grows.
        for (std::size_t i = 0; i < gates.size(); ++i) {
            if ((i + static_cast<std::size_t>(round)) % 3 != 0 && !gates[i].done())
                gates[i].set_result();
        }
        co_await sleep(0);  // the workers step
        co_await sleep(0);  // and finish
        std::vector<detail::task_base*> listed = all_tasks();
        EXPECT_EQ(std::multiset<detail::task_base*>(listed.begin(), listed.end()),
                  running_and_pending(workers))
            << "round " << round;
    }
    for (future<void>& g : gates) {
        if (!g.done())
            g.set_result();
    }
    co_await gather(std::move(workers));
    EXPECT_EQ(all_tasks().size(), 1u);
}

TEST(task, all_tasks_lists_exactly_the_live_tasks_as_they_come_and_go) {
    manual_clock_loop t;
    t.loop.run_until_complete(churn_tasks(8));
    // Every task has ended: the next one is the only one listed.
    auto count_all = []() -> task<std::size_t> { co_return all_tasks().size(); };
    EXPECT_EQ(t.loop.run_until_complete(count_all()), 1u);
}

TEST(task, closing_a_loop_with_pending_tasks_reports_each) {
    std::vector<std::string> reports;
    {
        manual_clock_loop t;
        t.loop.set_exception_handler([&](event_loop&, const exception_context& c) {
            reports.push_back(c.message + " " + c.source);
        });
        auto forever = [](future<void> f) -> task<void> { co_await f; };
        future<void> never = t.loop.create_future();
        task<void> a = t.loop.create_task(forever(never), "a");
        t.loop.create_task(forever(never), "b");
        t.run_once();
        t.loop.close();
    }
    ASSERT_EQ(reports.size(), 2u);
    EXPECT_NE(reports[0].find("Task was destroyed but it is pending!"), std::string::npos);
}

TEST(task, an_exception_nobody_retrieves_is_reported) {
    manual_clock_loop t;
    std::vector<std::string> reports;
    t.loop.set_exception_handler(
        [&](event_loop&, const exception_context& c) { reports.push_back(c.message); });
    t.loop.create_task(fail());
    t.run_once();
    EXPECT_EQ(reports, (std::vector<std::string>{"Future exception was never retrieved"}));
}

// -- run() --------------------------------------------------------------------------------

task<int> main_with_leftover(bool& leftover_cancelled) {
    auto leftover = [](bool& flag) -> task<void> {
        try {
            co_await sleep(3600.0);
        } catch (const cancelled_error&) {
            flag = true;
            throw;
        }
    };
    create_task(leftover(leftover_cancelled));
    co_await sleep(0.001);
    co_return 3;
}

TEST(run, returns_the_result_and_cancels_leftover_tasks) {
    bool leftover_cancelled = false;
    EXPECT_EQ(run(main_with_leftover(leftover_cancelled)), 3);
    EXPECT_TRUE(leftover_cancelled);
    EXPECT_THROW(get_event_loop(), std::runtime_error);  // reset after run()
}

TEST(run, propagates_the_main_exception) {
    EXPECT_THROW(run(fail()), std::runtime_error);
}

TEST(run, cannot_be_called_from_a_running_loop) {
    auto nested = []() -> task<std::string> {
        try {
            run(forty_two());
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no error";
    };
    EXPECT_EQ(run(nested()), "run() cannot be called from a running event loop");
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

TEST(task, debug_mode_records_where_a_task_was_created) {
    test::manual_clock_loop t;
    t.loop.set_debug(true);
    std::vector<std::string> sources;
    t.loop.set_exception_handler(
        [&](event_loop&, const exception_context& c) { sources.push_back(c.source); });
    auto forever = [](future<void> f) -> task<void> { co_await f; };
    future<void> never = t.loop.create_future();
    task<void> pending = t.loop.create_task(forever(never), "stuck");  // this line is reported
    const int line = __LINE__ - 1;
    t.run_once();
    t.loop.close();
    ASSERT_EQ(sources.size(), 1u);
    EXPECT_NE(sources[0].find("stuck created at"), std::string::npos) << sources[0];
    EXPECT_NE(sources[0].find("task_test.cpp:" + std::to_string(line)), std::string::npos)
        << sources[0];
}

TEST(task, the_task_factory_sees_every_created_task) {
    test::manual_clock_loop t;
    std::vector<std::string> seen;
    EXPECT_FALSE(t.loop.get_task_factory());
    t.loop.set_task_factory([&](event_loop&, detail::task_base& tk) {
        seen.push_back(tk.get_name());
        tk.set_name("decorated-" + tk.get_name());
    });
    task<int> a = t.loop.create_task(forty_two(), "a");
    EXPECT_EQ(a.get_name(), "decorated-a");
    EXPECT_EQ(t.loop.run_until_complete(a), 42);
    EXPECT_EQ(seen, (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

TEST(task, move_only_results_can_be_awaited_inline_and_scheduled) {
    test::manual_clock_loop t;
    auto make = []() -> task<std::unique_ptr<int>> { co_return std::make_unique<int>(4); };
    auto body = [&]() -> task<int> {
        std::unique_ptr<int> a = co_await make();
        task<std::unique_ptr<int>> scheduled = create_task(make());
        std::unique_ptr<int> b = co_await scheduled;
        co_return *a + *b;
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), 8);
}

}  // namespace
}  // namespace corio
