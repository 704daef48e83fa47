// event_loop: ordering, timers, stop(), errors and debug mode, on a manual clock.
#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <corio/futures.hpp>
#include <corio/log.hpp>
#include <corio/tasks.hpp>

#include "../support/manual_clock_loop.hpp"

namespace corio {
namespace {

using test::manual_clock_loop;

// Captures log lines for the duration of a test.
struct log_capture {
    std::mutex mutex;
    std::vector<std::string> lines;
    log_sink previous;
    log_capture() {
        previous = set_log_sink([this](log_level level, std::string_view text) {
            std::lock_guard lock(mutex);
            lines.push_back(std::string(to_string(level)) + ": " + std::string(text));
        });
    }
    ~log_capture() { set_log_sink(std::move(previous)); }
    bool contains(std::string_view needle) {
        std::lock_guard lock(mutex);
        for (const auto& l : lines)
            if (l.find(needle) != std::string::npos)
                return true;
        return false;
    }
    std::string text() {
        std::lock_guard lock(mutex);
        std::string all;
        for (const auto& l : lines)
            all += l + "\n";
        return all;
    }
};

TEST(event_loop, call_soon_runs_callbacks_in_fifo_order) {
    manual_clock_loop t;
    std::vector<int> order;
    for (int i = 0; i < 5; ++i)
        t.loop.call_soon([&order, i] { order.push_back(i); });
    t.run_once();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(event_loop, callbacks_scheduled_by_callbacks_run_in_the_next_iteration) {
    manual_clock_loop t;
    std::vector<std::string> order;
    t.loop.call_soon([&] {
        order.push_back("a");
        t.loop.call_soon([&] { order.push_back("c"); });
    });
    t.loop.call_soon([&] { order.push_back("b"); });
    t.run_once();
    EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
    t.run_once();
    EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(event_loop, stop_while_running_finishes_the_batch_and_keeps_what_it_scheduled) {
    manual_clock_loop t;
    std::vector<int> order;
    t.loop.call_soon([&] {
        order.push_back(1);
        t.loop.stop();
        t.loop.call_soon([&] { order.push_back(3); });
    });
    t.loop.call_soon([&] { order.push_back(2); });
    t.loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));  // the batch finished, 3 waits
    EXPECT_FALSE(t.loop.is_running());
    t.run_once();
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(event_loop, stop_before_run_forever_runs_exactly_one_iteration) {
    manual_clock_loop t;
    int runs = 0;
    std::function<void()> again = [&] {
        ++runs;
        t.loop.call_soon(again);
    };
    t.loop.call_soon(again);
    std::uint64_t before = t.loop.stats().iterations;
    t.loop.stop();
    t.loop.run_forever();
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(t.loop.stats().iterations - before, 1u);
}

TEST(event_loop, timers_fire_at_their_deadline_not_before) {
    manual_clock_loop t;
    t.backend->auto_advance = false;
    bool fired = false;
    t.loop.call_later(1.0, [&] { fired = true; });
    t.loop.call_soon([] {});  // keep the first iteration from waiting
    t.run_once();
    EXPECT_FALSE(fired);
    t.advance(0.999);
    t.run_once();
    EXPECT_FALSE(fired);
    t.advance(0.001);
    t.run_once();
    EXPECT_TRUE(fired);
}

TEST(event_loop, poll_timeout_is_the_time_to_the_earliest_timer) {
    manual_clock_loop t;
    t.loop.call_later(2.0, [] {});
    t.loop.call_later(0.5, [] {});
    t.run_once();  // stop() is set: a stopping loop does not wait
    t.backend->timeouts.clear();
    bool fired = false;
    t.loop.call_later(0.25, [&] {
        fired = true;
        t.loop.stop();
    });
    t.loop.run_forever();  // auto-advance jumps the clock by the poll timeout
    ASSERT_FALSE(t.backend->timeouts.empty());
    EXPECT_EQ(t.backend->timeouts.front(), std::chrono::milliseconds(250));
    EXPECT_TRUE(fired);
}

TEST(event_loop, equal_deadlines_fire_in_the_order_they_were_scheduled) {
    manual_clock_loop t;
    std::vector<int> order;
    double when = t.loop.time() + 1.0;
    for (int i = 0; i < 50; ++i)
        t.loop.call_at(when, [&order, i] { order.push_back(i); });
    t.loop.call_at(when + 0.1, [&] { t.loop.stop(); });
    t.loop.run_forever();
    ASSERT_EQ(order.size(), 50u);
    for (int i = 0; i < 50; ++i)
        EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST(event_loop, timers_fire_in_deadline_order) {
    manual_clock_loop t;
    std::vector<int> order;
    t.loop.call_later(0.3, [&] { order.push_back(3); });
    t.loop.call_later(0.1, [&] { order.push_back(1); });
    t.loop.call_later(std::chrono::milliseconds(200), [&] { order.push_back(2); });
    t.loop.call_later(0.4, [&] { t.loop.stop(); });
    t.loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(event_loop, negative_delay_runs_as_soon_as_possible) {
    manual_clock_loop t;
    t.backend->auto_advance = false;
    bool fired = false;
    timer_handle h = t.loop.call_later(-5.0, [&] { fired = true; });
    EXPECT_LT(h.when(), t.loop.time());
    t.run_once();
    EXPECT_TRUE(fired);
}

TEST(event_loop, nan_or_infinite_delay_is_rejected) {
    manual_clock_loop t;
    EXPECT_THROW(t.loop.call_later(std::nan(""), [] {}), std::invalid_argument);
    EXPECT_THROW(t.loop.call_later(std::numeric_limits<double>::infinity(), [] {}),
                 std::invalid_argument);
    EXPECT_THROW(t.loop.call_at(-std::numeric_limits<double>::infinity(), [] {}),
                 std::invalid_argument);
    EXPECT_EQ(t.loop.stats().timers_scheduled, 0u);
}

TEST(event_loop, a_cancelled_handle_does_not_run) {
    manual_clock_loop t;
    bool ran = false, other = false;
    handle h = t.loop.call_soon([&] { ran = true; });
    t.loop.call_soon([&] { other = true; });
    EXPECT_FALSE(h.cancelled());
    h.cancel();
    EXPECT_TRUE(h.cancelled());
    t.run_once();
    EXPECT_FALSE(ran);
    EXPECT_TRUE(other);
    EXPECT_EQ(t.loop.stats().callbacks_cancelled, 1u);
}

task<void> log_first_step(std::vector<int>& order, int i) {
    order.push_back(i);
    co_return;
}

// The ready queue keeps task steps and callables in two rings (ready_queue.hpp): a burst that
// grows both past their first size still runs in push order, and a handle still cancels its
// own callable after the growth moved it.
TEST(event_loop, a_burst_of_callbacks_and_task_steps_runs_in_order_across_growth) {
    manual_clock_loop t;
    std::vector<int> order;
    std::vector<handle> handles;
    std::vector<task<void>> tasks;
    std::vector<int> expected;
    for (int i = 0; i < 5000; ++i) {
        if (i % 2 == 0) {
            tasks.push_back(t.loop.create_task(log_first_step(order, i)));
        } else {
            handles.push_back(t.loop.call_soon([&order, i] { order.push_back(i); }));
        }
        if (i % 6 != 3)  // odd i with i % 6 == 3: cancelled below
            expected.push_back(i);
    }
    for (std::size_t k = 1; k < handles.size(); k += 3)  // the callbacks of i = 3, 9, 15, ...
        handles[k].cancel();
    t.run_once();
    EXPECT_EQ(order, expected);
    EXPECT_EQ(t.loop.stats().callbacks_cancelled, 833u);
}

TEST(event_loop, cancel_destroys_the_callable_at_once) {
    manual_clock_loop t;
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    handle h = t.loop.call_soon([token = std::move(token)] {});
    EXPECT_FALSE(watch.expired());
    h.cancel();
    EXPECT_TRUE(watch.expired());
}

TEST(event_loop, cancelling_after_the_callback_ran_does_nothing) {
    manual_clock_loop t;
    int runs = 0;
    handle h = t.loop.call_soon([&] { ++runs; });
    t.run_once();
    // The record is reused by the next callback; the stale handle must not cancel it.
    handle next = t.loop.call_soon([&] { ++runs; });
    h.cancel();
    t.run_once();
    EXPECT_EQ(runs, 2);
    EXPECT_FALSE(next.cancelled());
}

TEST(event_loop, a_cancelled_timer_does_not_fire) {
    manual_clock_loop t;
    bool fired = false;
    timer_handle h = t.loop.call_later(1.0, [&] { fired = true; });
    t.loop.call_later(2.0, [&] { t.loop.stop(); });
    h.cancel();
    t.loop.run_forever();
    EXPECT_FALSE(fired);
    EXPECT_EQ(t.loop.stats().timers_cancelled, 1u);
}

TEST(event_loop, cancelled_timers_are_compacted_when_they_dominate) {
    manual_clock_loop t;
    t.backend->auto_advance = false;
    std::vector<timer_handle> handles;
    int fired = 0;
    for (int i = 0; i < 1000; ++i)
        handles.push_back(t.loop.call_later(100.0 + i, [&] { ++fired; }));
    for (int i = 0; i < 900; ++i)
        handles[static_cast<std::size_t>(i) + 100].cancel();
    t.loop.call_soon([] {});
    t.run_once();
    EXPECT_EQ(t.loop.stats().timer_compactions, 1u);
    t.advance(2000);
    t.run_once();
    EXPECT_EQ(fired, 100);
}

TEST(event_loop, time_follows_the_injected_clock) {
    manual_clock_loop t;
    double before = t.loop.time();
    t.advance(2.5);
    EXPECT_DOUBLE_EQ(t.loop.time() - before, 2.5);
    EXPECT_EQ(t.loop.time_ns().count(), t.clock.now_ns());
}

TEST(event_loop, scheduling_on_a_closed_loop_is_an_error) {
    manual_clock_loop t;
    t.loop.close();
    EXPECT_TRUE(t.loop.is_closed());
    auto expect_closed = [](auto&& f) {
        try {
            f();
            ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "Event loop is closed");
        }
    };
    expect_closed([&] { t.loop.call_soon([] {}); });
    expect_closed([&] { t.loop.call_later(1.0, [] {}); });
    expect_closed([&] { t.loop.call_at(1.0, [] {}); });
    expect_closed([&] { t.loop.run_forever(); });
    expect_closed([&] { t.loop.create_future<int>(); });
    t.loop.close();  // idempotent
}

TEST(event_loop, close_drops_pending_callbacks_and_timers) {
    manual_clock_loop t;
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    t.loop.call_soon([token] {});
    t.loop.call_later(10.0, [token] {});
    token.reset();
    EXPECT_FALSE(watch.expired());
    t.loop.close();
    EXPECT_TRUE(watch.expired());
}

TEST(event_loop, running_a_running_loop_is_an_error) {
    manual_clock_loop t;
    std::string error;
    t.loop.call_soon([&] {
        try {
            t.loop.run_forever();
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        t.loop.stop();
    });
    t.loop.run_forever();
    EXPECT_EQ(error, "This event loop is already running");
}

TEST(event_loop, running_a_loop_inside_another_running_loop_is_an_error) {
    manual_clock_loop outer, inner;
    std::string error;
    outer.loop.call_soon([&] {
        try {
            inner.loop.run_forever();
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        outer.loop.stop();
    });
    outer.loop.run_forever();
    EXPECT_EQ(error, "Cannot run the event loop while another loop is running");
}

TEST(event_loop, closing_a_running_loop_is_an_error) {
    manual_clock_loop t;
    std::string error;
    t.loop.call_soon([&] {
        try {
            t.loop.close();
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        t.loop.stop();
    });
    t.loop.run_forever();
    EXPECT_EQ(error, "Cannot close a running event loop");
    EXPECT_FALSE(t.loop.is_closed());
}

TEST(event_loop, a_throwing_callback_goes_to_the_handler_and_the_loop_carries_on) {
    manual_clock_loop t;
    std::vector<exception_context> seen;
    t.loop.set_exception_handler(
        [&](event_loop&, const exception_context& c) { seen.push_back(c); });
    bool after = false;
    t.loop.call_soon([] { throw std::runtime_error("boom"); });
    t.loop.call_soon([&] { after = true; });
    t.run_once();
    EXPECT_TRUE(after);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].message, "Exception in callback");
    try {
        std::rethrow_exception(seen[0].exception);
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom");
    }
    EXPECT_EQ(t.loop.stats().callback_errors, 1u);
}

TEST(event_loop, the_default_handler_logs_and_a_throwing_handler_falls_back_to_it) {
    log_capture logs;
    manual_clock_loop t;
    t.loop.call_soon([] { throw std::runtime_error("first"); });
    t.run_once();
    EXPECT_TRUE(logs.contains("error: Exception in callback (callback): first"));

    t.loop.set_exception_handler(
        [](event_loop&, const exception_context&) { throw std::logic_error("handler broke"); });
    t.loop.call_soon([] { throw std::runtime_error("second"); });
    t.run_once();
    EXPECT_TRUE(logs.contains("Unhandled error in exception handler"));
    EXPECT_TRUE(logs.contains("handler broke"));
    EXPECT_TRUE(logs.contains("second"));

    t.loop.set_exception_handler({});
    EXPECT_FALSE(t.loop.get_exception_handler());
}

TEST(event_loop, debug_mode_rejects_calls_from_another_thread) {
    manual_clock_loop t;
    t.loop.set_debug(true);
    std::string error;
    t.loop.call_soon([&] {
        std::thread other([&] {
            try {
                t.loop.call_soon([] {});
            } catch (const std::runtime_error& e) {
                error = e.what();
            }
        });
        other.join();
        t.loop.stop();
    });
    t.loop.run_forever();
    EXPECT_NE(error.find("Non-thread-safe operation"), std::string::npos) << error;
    EXPECT_NE(error.find("call_soon"), std::string::npos) << error;
}

TEST(event_loop, debug_mode_warns_about_slow_callbacks) {
    log_capture logs;
    manual_clock_loop t;
    t.loop.set_debug(true);
    EXPECT_DOUBLE_EQ(t.loop.slow_callback_duration(), 0.1);
    t.loop.call_soon([&] { t.advance(0.25); });  // "takes" 250 ms on the loop's clock
    t.loop.call_soon([&] { t.advance(0.01); });
    t.run_once();
    EXPECT_EQ(t.loop.stats().slow_callbacks, 1u);
    EXPECT_TRUE(logs.contains("took 0.250 seconds"));
}

TEST(event_loop, debug_mode_reports_an_iteration_of_many_quick_callbacks_that_stalls) {
    log_capture logs;
    manual_clock_loop t;
    t.loop.set_debug(true);
    for (int i = 0; i < 6; ++i)
        t.loop.call_soon([&] { t.advance(0.02); });  // 120 ms in all
    t.run_once();
    EXPECT_EQ(t.loop.stats().slow_callbacks, 0u);
    EXPECT_EQ(t.loop.stats().slow_iterations, 1u);
    EXPECT_TRUE(logs.contains("ran 6 callbacks for 0.120 seconds")) << logs.text();
    EXPECT_TRUE(logs.contains("was a callback")) << logs.text();
}

TEST(event_loop, debug_mode_names_the_task_whose_step_was_slow) {
    log_capture logs;
    manual_clock_loop t;
    t.loop.set_debug(true);
    auto slow_steps = [](manual_clock_loop& t) -> task<void> {
        co_await sleep(0);
        t.advance(0.3);  // a step in the middle: the task is still alive when it is reported
        co_await sleep(0);
        t.advance(0.2);  // its last step: reported after the task has ended
    };
    task<void> job = t.loop.create_task(slow_steps(t), "the-slow-one");
    t.loop.run_until_complete(job);
    EXPECT_EQ(t.loop.stats().slow_callbacks, 2u);
    EXPECT_TRUE(logs.contains("Executing a step of the-slow-one")) << logs.text();
    EXPECT_TRUE(logs.contains("took 0.300 seconds")) << logs.text();
    EXPECT_TRUE(logs.contains("Executing the last step of the-slow-one")) << logs.text();
    EXPECT_TRUE(logs.contains("took 0.200 seconds")) << logs.text();
}

TEST(event_loop, stats_track_time_asleep_and_running) {
    manual_clock_loop t;
    EXPECT_EQ(t.loop.stats().running_since_ns, 0u);
    std::uint64_t since = 0;
    t.loop.call_soon([&] {
        since = t.loop.stats().running_since_ns;
        t.advance(0.5);
    });
    t.run_once();
    EXPECT_EQ(since, 1'000'000'000u);  // the manual clock's start
    EXPECT_EQ(t.loop.stats().run_ns, 500'000'000u);
    EXPECT_EQ(t.loop.stats().running_since_ns, 0u);
}

TEST(event_loop, get_running_loop_is_the_loop_running_in_this_thread) {
    EXPECT_THROW(get_running_loop(), std::runtime_error);
    manual_clock_loop t;
    event_loop* seen = nullptr;
    t.loop.call_soon([&] { seen = &get_running_loop(); });
    t.run_once();
    EXPECT_EQ(seen, &t.loop);
    EXPECT_THROW(get_running_loop(), std::runtime_error);
}

TEST(event_loop, get_event_loop_prefers_the_running_loop_then_the_set_one) {
    manual_clock_loop a, b;
    set_event_loop(nullptr);
    EXPECT_THROW(get_event_loop(), std::runtime_error);
    set_event_loop(&a.loop);
    EXPECT_EQ(&get_event_loop(), &a.loop);
    event_loop* seen = nullptr;
    b.loop.call_soon([&] { seen = &get_event_loop(); });
    b.run_once();
    EXPECT_EQ(seen, &b.loop);
    set_event_loop(nullptr);
}

TEST(event_loop, run_until_complete_returns_the_result) {
    manual_clock_loop t;
    future<int> f = t.loop.create_future<int>();
    t.loop.call_later(0.5, [&] { f.set_result(42); });
    EXPECT_EQ(t.loop.run_until_complete(f), 42);
    EXPECT_FALSE(t.loop.is_running());
}

TEST(event_loop, run_until_complete_throws_the_futures_exception) {
    manual_clock_loop t;
    future<int> f = t.loop.create_future<int>();
    t.loop.call_soon([&] { f.set_exception(std::runtime_error("failed")); });
    EXPECT_THROW(t.loop.run_until_complete(f), std::runtime_error);
}

TEST(event_loop, run_until_complete_stopped_early_is_an_error) {
    manual_clock_loop t;
    future<void> f = t.loop.create_future();
    t.loop.call_soon([&] { t.loop.stop(); });
    try {
        t.loop.run_until_complete(f);
        ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Event loop stopped before Future completed.");
    }
}

TEST(event_loop, run_until_complete_rejects_another_loops_future) {
    manual_clock_loop a, b;
    future<int> f = b.loop.create_future<int>();
    EXPECT_THROW(a.loop.run_until_complete(f), std::invalid_argument);
}

TEST(event_loop, large_captures_are_boxed_and_still_run) {
    manual_clock_loop t;
    std::array<char, 200> big{};
    big[199] = 7;
    int seen = 0;
    t.loop.call_soon([big, &seen] { seen = big[199]; });
    t.run_once();
    EXPECT_EQ(seen, 7);
}

}  // namespace
}  // namespace corio
