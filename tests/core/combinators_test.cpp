// gather, wait, as_completed, shield, wait_for, timeout and task_group: asyncio's rules, on a
// manual clock (the fake backend jumps time to the next timer, so every wait is exact).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <corio/taskgroups.hpp>
#include <corio/tasks.hpp>
#include <corio/timeouts.hpp>

#include "../support/manual_clock_loop.hpp"

namespace corio {
namespace {

using test::manual_clock_loop;

task<int> value_after(double delay, int v) {
    co_await sleep(delay);
    co_return v;
}

task<int> fail_after(double delay, std::string what) {
    co_await sleep(delay);
    throw std::runtime_error(what);
}

// -- gather -----------------------------------------------------------------------------

TEST(gather, returns_results_in_argument_order) {
    manual_clock_loop t;
    auto body = []() -> task<std::vector<int>> {
        std::vector<task<int>> v;
        v.push_back(value_after(3, 1));
        v.push_back(value_after(1, 2));
        v.push_back(value_after(2, 3));
        co_return co_await gather(std::move(v));
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), (std::vector<int>{1, 2, 3}));
    EXPECT_DOUBLE_EQ(t.loop.time(), 4.0);  // concurrently: 3 s, not 6 (the clock started at 1)
}

TEST(gather, the_first_error_propagates_while_the_others_keep_running) {
    manual_clock_loop t;
    task<int> slow;
    auto body = [](task<int>& slow) -> task<void> {
        slow = create_task(value_after(5, 9));
        std::vector<task<int>> v;
        v.push_back(slow);
        v.push_back(fail_after(1, "boom"));
        co_await gather(std::move(v));
    };
    EXPECT_THROW(t.loop.run_until_complete(body(slow)), std::runtime_error);
    EXPECT_FALSE(slow.done());  // not cancelled by the failure
    EXPECT_EQ(t.loop.run_until_complete(slow), 9);
}

TEST(gather, cancelling_the_gather_cancels_every_child) {
    manual_clock_loop t;
    std::vector<task<int>> children;
    children.push_back(value_after(10, 1));
    children.push_back(value_after(20, 2));
    auto body = [](std::vector<task<int>> c) -> task<std::vector<int>> {
        co_return co_await gather(std::move(c));
    };
    auto run = [&]() -> task<void> {
        std::vector<task<int>> scheduled;
        for (auto& c : children)
            scheduled.push_back(create_task(std::move(c)));
        children = scheduled;
        co_await body(std::move(scheduled));
    };
    task<void> g = t.loop.create_task(run());
    t.loop.call_later(1.0, [&] { g.cancel(); });
    EXPECT_THROW(t.loop.run_until_complete(g), cancelled_error);
    t.run_once();  // the children's cancellations land
    for (auto& c : children)
        EXPECT_TRUE(c.cancelled());
}

TEST(gather, return_exceptions_reports_errors_and_cancelled_children_as_outcomes) {
    manual_clock_loop t;
    task<int> victim;
    auto body = [](task<int>& victim) -> task<std::vector<outcome<int>>> {
        victim = create_task(value_after(10, 3));
        std::vector<task<int>> v;
        v.push_back(value_after(1, 1));
        v.push_back(fail_after(2, "bad"));
        v.push_back(victim);
        co_return co_await gather(std::move(v), return_exceptions);
    };
    t.loop.call_later(3.0, [&] { victim.cancel(); });
    std::vector<outcome<int>> out = t.loop.run_until_complete(body(victim));
    ASSERT_EQ(out.size(), 3u);
    EXPECT_TRUE(out[0].ok());
    EXPECT_EQ(*out[0].value, 1);
    EXPECT_THROW(std::rethrow_exception(out[1].error), std::runtime_error);
    EXPECT_THROW(std::rethrow_exception(out[2].error), cancelled_error);
}

// -- wait / as_completed ----------------------------------------------------------------------

TEST(wait, first_completed_splits_done_and_pending) {
    manual_clock_loop t;
    auto body = []() -> task<std::pair<std::size_t, std::size_t>> {
        std::vector<task<int>> v;
        v.push_back(value_after(2, 1));
        v.push_back(value_after(1, 2));
        wait_result<int> r =
            co_await wait(std::move(v), std::nullopt, return_when::first_completed);
        co_return std::pair{r.done.size(), r.pending.size()};
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), (std::pair<std::size_t, std::size_t>{1, 1}));
}

TEST(wait, first_exception_returns_at_the_failure_and_timeout_returns_without_raising) {
    manual_clock_loop t;
    auto body = [](event_loop& loop) -> task<std::vector<double>> {
        std::vector<double> times;
        std::vector<task<int>> v;
        v.push_back(value_after(10, 1));
        v.push_back(fail_after(2, "x"));
        double start = loop.time();
        wait_result<int> r =
            co_await wait(std::move(v), std::nullopt, return_when::first_exception);
        times.push_back(loop.time() - start);
        std::vector<task<int>> w;
        w.push_back(value_after(100, 1));
        start = loop.time();
        wait_result<int> r2 = co_await wait(std::move(w), 5.0);
        times.push_back(loop.time() - start);
        times.push_back(static_cast<double>(r2.pending.size()));
        r2.pending[0].cancel();
        for (auto& p : r.pending)
            p.cancel();
        co_return times;
    };
    EXPECT_EQ(t.loop.run_until_complete(body(t.loop)), (std::vector<double>{2, 5, 1}));
}

TEST(as_completed, yields_tasks_in_completion_order) {
    manual_clock_loop t;
    auto body = []() -> task<std::vector<int>> {
        std::vector<task<int>> v;
        v.push_back(value_after(3, 3));
        v.push_back(value_after(1, 1));
        v.push_back(value_after(2, 2));
        as_completed<int> finished(std::move(v));
        std::vector<int> order;
        while (finished.has_next()) {
            task<int> done = co_await finished.next();
            order.push_back(done.result());
        }
        co_return order;
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), (std::vector<int>{1, 2, 3}));
}

TEST(as_completed, next_throws_timeout_error_after_the_deadline) {
    manual_clock_loop t;
    auto body = []() -> task<int> {
        std::vector<task<int>> v;
        v.push_back(value_after(1, 1));
        v.push_back(value_after(10, 2));
        as_completed<int> finished(std::move(v), 5.0);
        int got = (co_await finished.next()).result();
        try {
            co_await finished.next();
        } catch (const timeout_error&) {
            co_return got;
        }
        co_return -1;
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), 1);
}

// -- shield -----------------------------------------------------------------------------------

TEST(shield, keeps_the_inner_task_running_when_the_outer_is_cancelled) {
    manual_clock_loop t;
    task<int> inner;
    auto outer = [](task<int>& inner) -> task<int> {
        inner = create_task(value_after(5, 7));
        co_return co_await shield(inner);
    };
    task<int> o = t.loop.create_task(outer(inner));
    t.loop.call_later(1.0, [&] { o.cancel(); });
    EXPECT_THROW(t.loop.run_until_complete(o), cancelled_error);
    EXPECT_FALSE(inner.cancelled());
    EXPECT_EQ(t.loop.run_until_complete(inner), 7);
}

// -- wait_for / timeout -----------------------------------------------------------------------

TEST(wait_for, returns_the_result_in_time) {
    manual_clock_loop t;
    EXPECT_EQ(t.loop.run_until_complete(wait_for(value_after(1, 5), 2.0)), 5);
}

TEST(wait_for, cancels_the_inner_waits_for_it_then_throws_timeout_error) {
    manual_clock_loop t;
    // The inner ignores the cancellation for 3 more seconds, then gives in.
    auto stubborn = [](bool& cleaned) -> task<int> {
        try {
            co_await sleep(100);
        } catch (const cancelled_error&) {
        }
        co_await sleep(3);
        cleaned = true;
        throw cancelled_error("gave in");
    };
    bool cleaned = false;
    task<int> inner;
    auto body = [&]() -> task<int> {
        inner = create_task(stubborn(cleaned));
        co_return co_await wait_for(inner, 2.0);
    };
    double start = t.loop.time();
    EXPECT_THROW(t.loop.run_until_complete(body()), timeout_error);
    EXPECT_TRUE(cleaned);  // wait_for waited for the inner to finish
    EXPECT_TRUE(inner.cancelled());
    EXPECT_DOUBLE_EQ(t.loop.time() - start, 5.0);
}

TEST(wait_for, an_outside_cancellation_stays_a_cancellation) {
    manual_clock_loop t;
    task<int> w = t.loop.create_task(wait_for(value_after(10, 1), 5.0));
    t.loop.call_later(1.0, [&] { w.cancel(); });
    EXPECT_THROW(t.loop.run_until_complete(w), cancelled_error);
}

TEST(timeout, reschedule_moves_the_deadline_and_expired_reports_it) {
    manual_clock_loop t;
    auto body = [](event_loop& loop) -> task<std::string> {
        timeout_scope scope = timeout(1.0);
        scope.reschedule(loop.time() + 3.0);
        try {
            co_await scope.run(value_after(2, 1));  // would have expired at 1 s
        } catch (const timeout_error&) {
            co_return "expired early";
        }
        timeout_scope second = timeout_at(loop.time() + 1.0);
        try {
            co_await second.run(value_after(2, 1));
        } catch (const timeout_error&) {
            co_return second.expired() ? "expired" : "not marked";
        }
        co_return "no timeout";
    };
    EXPECT_EQ(t.loop.run_until_complete(body(t.loop)), "expired");
}

// -- task_group -------------------------------------------------------------------------------

TEST(task_group, waits_for_every_child) {
    manual_clock_loop t;
    int done = 0;
    auto body = [&]() -> task<void> {
        co_await task_group::run([&done](task_group& tg) -> task<void> {
            auto child = [](int& done, double d) -> task<void> {
                co_await sleep(d);
                ++done;
            };
            tg.create_task(child(done, 1));
            tg.create_task(child(done, 2));
            co_return;
        });
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(done, 2);
}

TEST(task_group, two_failing_children_are_reported_together_and_siblings_cancelled) {
    manual_clock_loop t;
    task<int> sibling;
    auto body = [&]() -> task<void> {
        co_await task_group::run([&sibling](task_group& tg) -> task<void> {
            tg.create_task(fail_after(1, "a"));
            tg.create_task(fail_after(1, "b"));
            sibling = tg.create_task(value_after(10, 1));
            co_await sleep(100);  // the body is cancelled by the first failure
        });
    };
    try {
        t.loop.run_until_complete(body());
        ADD_FAILURE() << "no exception";
    } catch (const exception_group& g) {
        EXPECT_EQ(g.exceptions.size(), 2u);
    }
    EXPECT_TRUE(sibling.cancelled());
    EXPECT_LT(t.loop.time(), 5.0);
}

TEST(task_group, an_outside_cancellation_cancels_the_children_and_propagates) {
    manual_clock_loop t;
    task<int> child;
    auto body = [&]() -> task<void> {
        co_await task_group::run([&child](task_group& tg) -> task<void> {
            child = tg.create_task(value_after(10, 1));
            co_return;
        });
    };
    task<void> b = t.loop.create_task(body());
    t.loop.call_later(1.0, [&] { b.cancel(); });
    EXPECT_THROW(t.loop.run_until_complete(b), cancelled_error);
    EXPECT_TRUE(child.cancelled());
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

TEST(gather, of_different_types_returns_a_tuple) {
    test::manual_clock_loop t;
    auto text = []() -> task<std::string> {
        co_await sleep(1);
        co_return "x";
    };
    auto nothing = []() -> task<void> { co_await sleep(2); };
    auto body = [&]() -> task<std::tuple<int, std::string, std::monostate>> {
        co_return co_await gather(value_after(3, 5), text(), nothing());
    };
    auto [n, s, v] = t.loop.run_until_complete(body());
    EXPECT_EQ(n, 5);
    EXPECT_EQ(s, "x");
    (void)v;
    EXPECT_DOUBLE_EQ(t.loop.time(), 4.0);
}

TEST(gather, of_different_types_propagates_the_first_error) {
    test::manual_clock_loop t;
    auto body = [&]() -> task<void> { co_await gather(value_after(3, 5), fail_after(1, "bad")); };
    EXPECT_THROW(t.loop.run_until_complete(body()), std::runtime_error);
}

}  // namespace
}  // namespace corio

// -- gather's order of events -------------------------------------------------------------
//
// gather takes a child's finish without a ready entry when it can (done_watcher's
// child_finished) and then wakes through a call_soon placed where the child's done callback
// would have run. These scenarios pin what that must preserve: every event, tagged with the
// loop iteration it happened in, in the order asyncio's one-callback-per-child gather gives.
// A bystander task logs "by" once per iteration, so a wake-up one iteration late shows.

namespace corio {
namespace {

struct event_log {
    event_loop* loop = nullptr;
    std::string text;
    void note(const std::string& what) {
        text += (text.empty() ? "" : " ") + std::to_string(loop->stats().iterations) + ":" + what;
    }
};
event_log order;

task<int> steps(int n, std::string name, bool fail = false) {
    for (int i = 0; i < n; ++i)
        co_await sleep(0);
    order.note("end " + name);
    if (fail)
        throw std::runtime_error("boom " + name);
    co_return n;
}

task<void> bystander(int n) {
    for (int i = 0; i < n; ++i) {
        order.note("by");
        co_await sleep(0);
    }
}

std::string run_logged(task<void> (*scenario)()) {
    test::manual_clock_loop t;
    order = {&t.loop, {}};
    t.loop.run_until_complete(scenario());
    return order.text;
}

// Children of different lengths, one left for gather to schedule: each ends in its own
// iteration; gather resumes in the iteration after the last one ends (c, iteration 5 ->
// gathered at 7: the wake-up's call_soon at 6, the gather's step at 7).
task<void> children_of_different_lengths() {
    auto b = create_task(bystander(8));
    std::vector<task<int>> c;
    c.push_back(create_task(steps(2, "a")));
    c.push_back(create_task(steps(0, "b")));
    c.push_back(steps(3, "c"));
    auto r = co_await gather(std::move(c));
    order.note("gathered " + std::to_string(r[0] + r[1] + r[2]));
    co_await b;
}

TEST(gather_order, children_of_different_lengths) {
    EXPECT_EQ(run_logged(children_of_different_lengths),
              "2:by 2:end b 3:by 4:by 4:end a 5:by 5:end c 6:by 7:by 7:gathered 5 8:by 9:by");
}

// Children with user callbacks added before and after gather's own registration, and one
// child (z) already done when gathered: user callbacks and the gather's wake-up keep their
// registration order.
task<void> user_callbacks_around_the_gather() {
    auto b = create_task(bystander(8));
    auto x = create_task(steps(1, "x"));
    x.add_done_callback([] { order.note("cb x"); });
    auto y = create_task(steps(2, "y"));
    auto z = create_task(steps(0, "z"));
    co_await sleep(0);
    co_await sleep(0);
    std::vector<task<int>> c{x, y, z};
    auto g = create_task(gather(c));
    y.add_done_callback([] { order.note("cb y"); });
    auto r = co_await g;
    order.note("gathered " + std::to_string(r.size()));
    co_await b;
}

TEST(gather_order, user_callbacks_around_the_gather) {
    EXPECT_EQ(run_logged(user_callbacks_around_the_gather),
              "2:by 2:end z 3:by 3:end x 4:by 4:cb x 4:end y 5:by 5:cb y 6:by 7:by "
              "7:gathered 3 8:by 9:by");
}

// The first failure wakes the gather, which rethrows it; the other children keep running
// (bad2 fails later, ok ends later still) and the gather's caller sees only the first.
task<void> the_first_failure_wakes_the_gather() {
    auto b = create_task(bystander(8));
    std::vector<task<int>> c;
    c.push_back(create_task(steps(3, "ok")));
    c.push_back(create_task(steps(1, "bad", true)));
    c.push_back(create_task(steps(2, "bad2", true)));
    try {
        co_await gather(c);
    } catch (const std::exception& e) {
        order.note(std::string("caught ") + e.what());
    }
    co_await b;
    for (auto& t : c) {
        if (!t.done())
            co_await sleep(0);
    }
    co_await sleep(0);
    co_await sleep(0);
}

TEST(gather_order, the_first_failure_wakes_the_gather) {
    EXPECT_EQ(run_logged(the_first_failure_wakes_the_gather),
              "2:by 3:by 3:end bad 4:by 4:end bad2 5:by 5:end ok 5:caught boom bad 6:by 7:by "
              "8:by 9:by");
}

// A child (B) that finished before the gather, with a callback batch of its own scheduled
// when the gather registers: the gather's notification for B waits behind that batch, so the
// gather wakes after "cb B" although A's finish came first.
task<void> a_child_with_a_pending_callback_batch() {
    auto b = create_task(bystander(8));
    auto bb = create_task(steps(0, "B"));
    auto aa = create_task(steps(1, "A"));
    co_await sleep(0);
    bb.add_done_callback([] { order.note("cb B"); });
    std::vector<task<int>> c{aa, bb};
    auto g = create_task(gather(c));
    auto r = co_await g;
    order.note("gathered " + std::to_string(r.size()));
    co_await b;
}

TEST(gather_order, a_child_with_a_pending_callback_batch) {
    EXPECT_EQ(run_logged(a_child_with_a_pending_callback_batch),
              "2:by 2:end B 3:by 3:end A 3:cb B 4:by 5:by 6:by 6:gathered 2 7:by 8:by 9:by");
}

// Cancelling the gather in the iteration where its wake-up is already queued: the gather
// ends cancelled, and the queued wake-up finds it done and does nothing.
task<void> cancelled_while_its_wake_up_is_queued() {
    auto b = create_task(bystander(8));
    std::vector<task<int>> c;
    c.push_back(create_task(steps(1, "p")));
    c.push_back(create_task(steps(1, "q")));
    auto g = create_task(gather(c));
    co_await sleep(0);
    co_await sleep(0);
    g.cancel();
    try {
        co_await g;
        order.note("gather returned");
    } catch (const cancelled_error&) {
        order.note("gather cancelled");
    }
    co_await b;
}

TEST(gather_order, cancelled_while_its_wake_up_is_queued) {
    EXPECT_EQ(run_logged(cancelled_while_its_wake_up_is_queued),
              "2:by 3:by 3:end p 3:end q 4:by 5:by 5:gather cancelled 6:by 7:by 8:by 9:by");
}

// The tuple form, return_exceptions, and an empty gather (which is done at once).
task<void> tuple_return_exceptions_and_empty() {
    auto b = create_task(bystander(8));
    auto [p, q] = co_await gather(steps(1, "t1"), steps(2, "t2"));
    order.note("tuple " + std::to_string(p + q));
    std::vector<task<int>> c;
    c.push_back(create_task(steps(2, "r1", true)));
    c.push_back(create_task(steps(1, "r2")));
    auto out = co_await gather(std::move(c), return_exceptions);
    order.note("outcomes " + std::to_string(out[0].ok()) + std::to_string(out[1].ok()));
    std::vector<task<int>> none;
    co_await gather(std::move(none));
    order.note("empty");
    co_await b;
}

TEST(gather_order, tuple_return_exceptions_and_empty) {
    EXPECT_EQ(run_logged(tuple_return_exceptions_and_empty),
              "2:by 3:by 3:end t1 4:by 4:end t2 5:by 6:by 6:tuple 3 7:by 8:by 8:end r2 9:by "
              "9:end r1 11:outcomes 01 11:empty");
}

// A child with callbacks added before and after the gather registered, finishing last: its
// batch runs both callbacks and the gather's notification in registration order.
task<void> the_last_child_has_callbacks_on_both_sides() {
    auto b = create_task(bystander(8));
    auto x = create_task(steps(3, "x"));
    auto y = create_task(steps(1, "y"));
    x.add_done_callback([] { order.note("cb1 x"); });
    std::vector<task<int>> c{x, y};
    auto g = create_task(gather(c));
    x.add_done_callback([] { order.note("cb2 x"); });
    co_await g;
    order.note("gathered");
    co_await b;
}

TEST(gather_order, the_last_child_has_callbacks_on_both_sides) {
    EXPECT_EQ(run_logged(the_last_child_has_callbacks_on_both_sides),
              "2:by 3:by 3:end y 4:by 5:by 5:end x 6:by 6:cb1 x 6:cb2 x 7:by 8:by 8:gathered "
              "9:by");
}

}  // namespace
}  // namespace corio
