// run_on and task groups across loops (remote_tasks.hpp): the remote task's outcome comes
// home, a cancellation goes out and is waited for, and a group with children on several loops
// keeps asyncio's TaskGroup rules.
#include <atomic>
#include <stdexcept>

#include <gtest/gtest.h>

#include <corio/exceptions.hpp>
#include <corio/locks.hpp>
#include <corio/remote_tasks.hpp>
#include <corio/runtime.hpp>
#include <corio/timeouts.hpp>

#include "../support/test_timeout.hpp"

namespace corio {
namespace {

// Every multi-loop test runs on 2 loops and on 4, which on this 2-CPU machine share CPUs
// (oversubscription must not change any rule). The tests use loops 0 and 1.
class across_loops : public testing::TestWithParam<std::size_t> {
protected:
    runtime::options loops() const {
        runtime::options o;
        o.loops = GetParam();
        return o;
    }
};
using run_on_test = across_loops;
using task_group_across_loops = across_loops;

task<std::size_t> where_am_i() {
    co_return *runtime::this_loop_index();
}

task<int> fail_with(std::string what) {
    co_await sleep(0);
    throw std::logic_error(what);
}

// Fails once `arrived` counts both children: neither can have been cancelled by then, since
// the last to arrive throws without suspending and the first throws in its next iteration,
// before the other's failure can travel home and back out as a cancellation.
task<int> fail_together(std::atomic<int>& arrived) {
    arrived.fetch_add(1);
    while (arrived.load() < 2)
        co_await sleep(0);
    throw std::logic_error("failed together");
}

// Blocks until cancelled, telling `home` (an event of the caller's loop) that it started;
// after the cancellation it still needs a loop iteration of clean-up before `cleaned` is set.
// The signal is posted without awaiting, in the same step that suspends in the sleep: a
// cancellation sent once the caller sees it finds the task inside the try. (Awaiting the
// signal's round trip instead would let the cancel land as the task resumes from that await,
// outside the try, and the task would end cancelled with no clean-up, as asyncio's would.)
task<int> wait_for_cancel(event_loop& home, event& started, std::atomic<int>& cleaned,
                          int swallow_with = -1) {
    bool cancelled = false;
    try {
        home.call_soon_threadsafe([&started] { started.set(); });
        co_await sleep(3600);
    } catch (const cancelled_error&) {
        cancelled = true;
    }
    if (!cancelled)
        co_return 0;
    co_await sleep(0.001);
    cleaned.fetch_add(1);
    if (swallow_with >= 0)
        co_return swallow_with;
    throw cancelled_error();
}

// Waits for `e`, bounded: a test that hangs fails instead.
task<void> started_in_time(event& e) {
    auto wait = [](event& e) -> task<void> { co_await e.wait(); };
    co_await wait_for(wait(e), 10.0 * test::timeout_multiplier());
}

TEST_P(run_on_test, returns_the_remote_result_or_exception) {
    runtime rt(loops());
    auto main = [](runtime& rt) -> task<void> {
        EXPECT_EQ(co_await run_on(rt.loop(1), where_am_i()), 1u);
        EXPECT_EQ(co_await run_on(rt.loop(0), where_am_i()), 0u);
        EXPECT_THROW(co_await run_on(rt.loop(1), fail_with("boom")), std::logic_error);
    };
    rt.run(main(rt));
}

TEST_P(run_on_test, cancelling_the_caller_cancels_the_remote_task_and_waits_for_its_end) {
    runtime rt(loops());
    std::atomic<int> cleaned{0};
    auto main = [](runtime& rt, std::atomic<int>& cleaned) -> task<void> {
        event started;
        task<int> t =
            create_task(run_on(rt.loop(1), wait_for_cancel(rt.loop(0), started, cleaned)));
        co_await started_in_time(started);
        EXPECT_TRUE(t.cancel());
        EXPECT_THROW(co_await t, cancelled_error);
        // The remote clean-up finished before the local task did.
        EXPECT_EQ(cleaned.load(), 1);
    };
    rt.run(main(rt, cleaned));
}

TEST_P(run_on_test, a_remote_task_that_swallows_the_cancellation_returns_its_value) {
    runtime rt(loops());
    std::atomic<int> cleaned{0};
    auto main = [](runtime& rt, std::atomic<int>& cleaned) -> task<void> {
        event started;
        task<int> t =
            create_task(run_on(rt.loop(1), wait_for_cancel(rt.loop(0), started, cleaned, 7)));
        co_await started_in_time(started);
        t.cancel();
        EXPECT_EQ(co_await t, 7);
        EXPECT_FALSE(t.cancelled());
    };
    rt.run(main(rt, cleaned));
}

TEST(run_on, bad_input_is_refused_at_the_call) {
    event_loop closed;
    closed.close();
    event_loop loop;
    auto main = [](event_loop& closed) -> task<void> {
        EXPECT_THROW((void)run_on(closed, where_am_i()), std::runtime_error);
        EXPECT_THROW((void)run_on(get_running_loop(), task<std::size_t>{}), std::invalid_argument);
        co_return;
    };
    loop.run_until_complete(main(closed));
}

TEST_P(task_group_across_loops, children_run_on_their_loops_and_the_group_waits_for_them) {
    runtime rt(loops());
    auto main = [](runtime& rt) -> task<void> {
        std::vector<task<std::size_t>> children;
        co_await task_group::run([&](task_group& tg) -> task<void> {
            for (std::size_t i = 0; i < 4; ++i)
                children.push_back(create_task_on(tg, rt.loop(i % 2), where_am_i()));
            co_return;
        });
        for (std::size_t i = 0; i < 4; ++i) {
            EXPECT_TRUE(children[i].done());
            if (children[i].done()) {
                EXPECT_EQ(children[i].result(), i % 2);
            }
        }
    };
    rt.run(main(rt));
}

TEST_P(task_group_across_loops, a_failure_cancels_the_siblings_on_every_loop_and_waits_for_them) {
    runtime rt(loops());
    std::atomic<int> cleaned{0};
    auto main = [](runtime& rt, std::atomic<int>& cleaned) -> task<void> {
        event started0, started1;
        try {
            co_await task_group::run([&](task_group& tg) -> task<void> {
                create_task_on(tg, rt.loop(0), wait_for_cancel(rt.loop(0), started0, cleaned));
                create_task_on(tg, rt.loop(1), wait_for_cancel(rt.loop(0), started1, cleaned));
                co_await started_in_time(started0);
                co_await started_in_time(started1);
                create_task_on(tg, rt.loop(1), fail_with("child on loop 1"));
            });
            ADD_FAILURE() << "the group should have failed";
        } catch (const exception_group& eg) {
            EXPECT_EQ(eg.exceptions.size(), 1u);
            if (!eg.exceptions.empty()) {
                EXPECT_THROW(std::rethrow_exception(eg.exceptions[0]), std::logic_error);
            }
        }
        EXPECT_EQ(cleaned.load(), 2);  // both siblings had finished their clean-up
    };
    rt.run(main(rt, cleaned));
}

TEST_P(task_group_across_loops, errors_from_several_loops_come_back_together) {
    runtime rt(loops());
    auto main = [](runtime& rt) -> task<void> {
        std::atomic<int> arrived{0};
        try {
            co_await task_group::run([&](task_group& tg) -> task<void> {
                create_task_on(tg, rt.loop(0), fail_together(arrived));
                create_task_on(tg, rt.loop(1), fail_together(arrived));
                co_return;
            });
            ADD_FAILURE() << "the group should have failed";
        } catch (const exception_group& eg) {
            EXPECT_EQ(eg.exceptions.size(), 2u);
        }
    };
    rt.run(main(rt));
}

TEST_P(task_group_across_loops, a_deadline_applies_to_the_whole_group) {
    runtime rt(loops());
    std::atomic<int> cleaned{0};
    auto main = [](runtime& rt, std::atomic<int>& cleaned) -> task<void> {
        event started0, started1;
        auto body = [&](task_group& tg) -> task<void> {
            create_task_on(tg, rt.loop(0), wait_for_cancel(rt.loop(0), started0, cleaned));
            create_task_on(tg, rt.loop(1), wait_for_cancel(rt.loop(0), started1, cleaned));
            // Both started before the deadline, so both have clean-up to wait for.
            co_await started_in_time(started0);
            co_await started_in_time(started1);
        };
        const double deadline = 0.2 * test::timeout_multiplier();
        EXPECT_THROW(co_await wait_for(task_group::run(body), deadline), timeout_error);
        EXPECT_EQ(cleaned.load(), 2);
    };
    rt.run(main(rt, cleaned));
}

std::string loops_label(const testing::TestParamInfo<std::size_t>& info) {
    return std::to_string(info.param) + "_loops";
}
INSTANTIATE_TEST_SUITE_P(loops, run_on_test, testing::Values(2u, 4u), loops_label);
INSTANTIATE_TEST_SUITE_P(loops, task_group_across_loops, testing::Values(2u, 4u), loops_label);

}  // namespace
}  // namespace corio
