// future<T>: asyncio.Future's states, errors and done-callback scheduling.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <corio/futures.hpp>

#include "../support/manual_clock_loop.hpp"

namespace corio {
namespace {

using test::manual_clock_loop;

TEST(future, a_pending_future_has_no_result_or_exception) {
    manual_clock_loop t;
    future<int> f = t.loop.create_future<int>();
    EXPECT_FALSE(f.done());
    EXPECT_FALSE(f.cancelled());
    try {
        f.result();
        ADD_FAILURE();
    } catch (const invalid_state_error& e) {
        EXPECT_STREQ(e.what(), "Result is not ready.");
    }
    try {
        f.exception();
        ADD_FAILURE();
    } catch (const invalid_state_error& e) {
        EXPECT_STREQ(e.what(), "Exception is not set.");
    }
}

TEST(future, set_result_completes_it_once) {
    manual_clock_loop t;
    future<std::string> f(t.loop);
    f.set_result("hello");
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.result(), "hello");
    EXPECT_EQ(f.exception(), nullptr);
    EXPECT_THROW(f.set_result("again"), invalid_state_error);
    EXPECT_THROW(f.set_exception(std::runtime_error("x")), invalid_state_error);
    EXPECT_FALSE(f.cancel());
}

TEST(future, set_exception_is_rethrown_by_result) {
    manual_clock_loop t;
    future<void> f(t.loop);
    f.set_exception(std::runtime_error("bad"));
    EXPECT_TRUE(f.done());
    EXPECT_NE(f.exception(), nullptr);
    EXPECT_THROW(f.result(), std::runtime_error);
    EXPECT_THROW(f.set_exception(std::exception_ptr{}), invalid_state_error);
}

TEST(future, cancel_makes_result_throw_cancelled_error_with_the_message) {
    manual_clock_loop t;
    future<int> f(t.loop);
    EXPECT_TRUE(f.cancel("stop now"));
    EXPECT_TRUE(f.cancelled());
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.cancel());
    try {
        f.result();
        ADD_FAILURE();
    } catch (const cancelled_error& e) {
        EXPECT_EQ(e.message(), "stop now");
    }
    EXPECT_THROW(f.exception(), cancelled_error);
    EXPECT_THROW(f.set_result(1), invalid_state_error);
}

TEST(future, cancelled_error_is_not_a_std_exception) {
    // As CancelledError is a BaseException: generic failure handlers do not swallow it.
    static_assert(!std::is_base_of_v<std::exception, cancelled_error>);
}

// States come from the frame cache, whose blocks are aligned to 64 bytes: a value that needs
// more must still get it.
TEST(future, an_over_aligned_value_is_stored_aligned) {
    manual_clock_loop t;
    struct alignas(256) wide {
        int v;
    };
    std::vector<future<wide>> futures;
    for (int i = 0; i < 8; ++i) {
        futures.emplace_back(t.loop);
        futures.back().set_result(wide{i});
    }
    for (int i = 0; i < 8; ++i) {
        wide& w = futures[static_cast<std::size_t>(i)].result();
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&w) % alignof(wide), 0u);
        EXPECT_EQ(w.v, i);
    }
}

TEST(future, done_callbacks_are_scheduled_not_run_inline) {
    manual_clock_loop t;
    future<int> f(t.loop);
    int seen = 0;
    f.add_done_callback([&](future<int>& done) { seen = done.result(); });
    f.set_result(5);
    EXPECT_EQ(seen, 0);
    t.run_once();
    EXPECT_EQ(seen, 5);
}

TEST(future, done_callbacks_run_in_registration_order_after_earlier_callbacks) {
    manual_clock_loop t;
    future<void> f(t.loop);
    std::vector<std::string> order;
    f.add_done_callback([&] { order.push_back("first"); });
    f.add_done_callback([&] { order.push_back("second"); });
    f.add_done_callback([&] { order.push_back("third"); });
    t.loop.call_soon([&] { order.push_back("earlier call_soon"); });
    f.set_result();
    t.loop.call_soon([&] { order.push_back("later call_soon"); });
    t.run_once();
    EXPECT_EQ(order, (std::vector<std::string>{"earlier call_soon", "first", "second", "third",
                                               "later call_soon"}));
}

TEST(future, remove_done_callback_keeps_the_others_in_order) {
    manual_clock_loop t;
    future<void> f(t.loop);
    std::vector<int> order;
    callback_id a = f.add_done_callback([&] { order.push_back(1); });
    f.add_done_callback([&] { order.push_back(2); });
    callback_id c = f.add_done_callback([&] { order.push_back(3); });
    EXPECT_EQ(f.remove_done_callback(a), 1u);
    EXPECT_EQ(f.remove_done_callback(a), 0u);
    f.add_done_callback([&] { order.push_back(4); });
    EXPECT_EQ(f.remove_done_callback(c), 1u);
    f.set_result();
    EXPECT_EQ(f.remove_done_callback(c), 0u);
    t.run_once();
    EXPECT_EQ(order, (std::vector<int>{2, 4}));
}

TEST(future, a_callback_added_to_a_done_future_is_scheduled_at_once) {
    manual_clock_loop t;
    future<int> f(t.loop);
    f.set_result(1);
    int runs = 0;
    f.add_done_callback([&] { ++runs; });
    EXPECT_EQ(runs, 0);
    t.run_once();
    EXPECT_EQ(runs, 1);
}

TEST(future, cancel_schedules_the_callbacks) {
    manual_clock_loop t;
    future<int> f(t.loop);
    bool saw_cancelled = false;
    f.add_done_callback([&](future<int>& done) { saw_cancelled = done.cancelled(); });
    f.cancel();
    t.run_once();
    EXPECT_TRUE(saw_cancelled);
}

TEST(future, a_throwing_done_callback_goes_to_the_handler_and_the_next_still_runs) {
    manual_clock_loop t;
    std::vector<std::string> messages;
    t.loop.set_exception_handler(
        [&](event_loop&, const exception_context& c) { messages.push_back(c.message); });
    future<void> f(t.loop);
    bool second = false;
    f.add_done_callback([] { throw std::runtime_error("cb"); });
    f.add_done_callback([&] { second = true; });
    f.set_result();
    t.run_once();
    EXPECT_TRUE(second);
    EXPECT_EQ(messages, (std::vector<std::string>{"Exception in callback"}));
}

TEST(future, an_exception_never_retrieved_is_reported_when_the_future_dies) {
    manual_clock_loop t;
    std::vector<std::string> messages;
    t.loop.set_exception_handler(
        [&](event_loop&, const exception_context& c) { messages.push_back(c.message); });
    {
        future<int> f(t.loop);
        f.set_exception(std::runtime_error("lost"));
    }
    EXPECT_EQ(messages, (std::vector<std::string>{"Future exception was never retrieved"}));
    {
        future<int> f(t.loop);
        f.set_exception(std::runtime_error("seen"));
        EXPECT_NE(f.exception(), nullptr);
    }
    EXPECT_EQ(messages.size(), 1u);
}

TEST(future, copies_share_one_state_and_callbacks_keep_it_alive) {
    manual_clock_loop t;
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    int seen = 0;
    {
        future<int> f(t.loop);
        future<int> g = f;
        EXPECT_TRUE(f == g);
        f.add_done_callback(
            [token = std::move(token), &seen](future<int>& d) { seen = d.result(); });
        g.set_result(9);
        EXPECT_TRUE(f.done());
    }
    EXPECT_FALSE(watch.expired());  // the scheduled callbacks still hold the state
    t.run_once();
    EXPECT_EQ(seen, 9);
    EXPECT_TRUE(watch.expired());
}

TEST(future, move_only_results_can_be_moved_out) {
    manual_clock_loop t;
    future<std::unique_ptr<int>> f(t.loop);
    f.set_result(std::make_unique<int>(3));
    std::unique_ptr<int> out = std::move(f.result());
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, 3);
}

}  // namespace
}  // namespace corio
