// queue, priority_queue, lifo_queue: asyncio's queues.py rules (with Python 3.13's shutdown),
// one test each, on a manual clock.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <corio/queues.hpp>
#include <corio/runners.hpp>
#include <corio/tasks.hpp>

#include "../support/error_of.hpp"
#include "../support/manual_clock_loop.hpp"

namespace corio {
namespace {

using test::manual_clock_loop;
using log_t = std::vector<std::string>;

using test::error_of;

// Gets one item and logs "<name>:<item>", or "<name>:shutdown".
task<void> get_one(queue<int>& q, log_t& log, std::string name) {
    try {
        int item = co_await q.get();
        log.push_back(name + ":" + std::to_string(item));
    } catch (const queue_shutdown&) {
        log.push_back(name + ":shutdown");
    }
}

task<void> put_one(queue<int>& q, log_t& log, int item) {
    try {
        co_await q.put(item);
        log.push_back("put:" + std::to_string(item));
    } catch (const queue_shutdown&) {
        log.push_back("put:shutdown");
    }
}

TEST(queue, is_first_in_first_out_with_size_accounting) {
    manual_clock_loop t;
    queue<int> q(2);
    EXPECT_EQ(q.maxsize(), 2u);
    EXPECT_TRUE(q.empty());
    auto body = [&]() -> task<std::vector<int>> {
        co_await q.put(1);
        q.put_nowait(2);
        EXPECT_EQ(q.qsize(), 2u);
        EXPECT_TRUE(q.full());
        std::vector<int> out;
        out.push_back(co_await q.get());
        out.push_back(q.get_nowait());
        EXPECT_TRUE(q.empty());
        co_return out;
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), (std::vector<int>{1, 2}));
}

TEST(queue, nowait_calls_throw_queue_full_and_queue_empty) {
    queue<int> q(1);
    EXPECT_THROW(q.get_nowait(), queue_empty);
    q.put_nowait(1);
    EXPECT_THROW(q.put_nowait(2), queue_full);
    EXPECT_EQ(q.get_nowait(), 1);
}

TEST(queue, maxsize_zero_is_unbounded) {
    queue<int> q;
    for (int i = 0; i < 10000; ++i)
        q.put_nowait(i);
    EXPECT_FALSE(q.full());
    EXPECT_EQ(q.qsize(), 10000u);
}

TEST(lifo_queue, is_last_in_first_out) {
    lifo_queue<int> q;
    for (int i : {1, 2, 3})
        q.put_nowait(i);
    EXPECT_EQ(q.get_nowait(), 3);
    EXPECT_EQ(q.get_nowait(), 2);
    EXPECT_EQ(q.get_nowait(), 1);
}

TEST(priority_queue, gives_the_smallest_item_first) {
    priority_queue<std::pair<int, std::string>> q;
    q.put_nowait({3, "c"});
    q.put_nowait({1, "a"});
    q.put_nowait({2, "b"});
    q.put_nowait({0, "z"});
    EXPECT_EQ(q.get_nowait().second, "z");
    EXPECT_EQ(q.get_nowait().second, "a");
    EXPECT_EQ(q.get_nowait().second, "b");
    EXPECT_EQ(q.get_nowait().second, "c");
    priority_queue<int, std::greater<int>> largest_first;
    for (int i : {2, 5, 1})
        largest_first.put_nowait(i);
    EXPECT_EQ(largest_first.get_nowait(), 5);
}

TEST(queue, holds_move_only_items) {
    manual_clock_loop t;
    queue<std::unique_ptr<int>> q(1);
    auto body = [&]() -> task<int> {
        co_await q.put(std::make_unique<int>(7));
        std::unique_ptr<int> p = co_await q.get();
        co_return *p;
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), 7);
}

TEST(queue, getters_wait_for_items_and_are_served_in_order) {
    manual_clock_loop t;
    queue<int> q;
    log_t log;
    auto body = [&]() -> task<void> {
        std::vector<task<void>> getters;
        for (const char* name : {"a", "b", "c"}) {
            getters.push_back(create_task(get_one(q, log, name)));
        }
        co_await sleep(1.0);
        EXPECT_TRUE(log.empty());
        for (int i : {1, 2, 3})
            q.put_nowait(i);
        co_await gather(std::move(getters));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"a:1", "b:2", "c:3"}));
}

TEST(queue, putters_wait_for_room_and_are_served_in_order) {
    manual_clock_loop t;
    queue<int> q(1);
    log_t log;
    auto body = [&]() -> task<void> {
        q.put_nowait(0);
        std::vector<task<void>> putters;
        for (int i : {1, 2})
            putters.push_back(create_task(put_one(q, log, i)));
        co_await sleep(1.0);
        EXPECT_TRUE(log.empty());
        std::vector<int> got;
        for (int i = 0; i < 3; ++i)
            got.push_back(co_await q.get());
        EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
        co_await gather(std::move(putters));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"put:1", "put:2"}));
}

// a is woken for the item and cancelled before it runs: the item goes to b.
TEST(queue, a_getter_cancelled_as_it_is_woken_passes_the_item_on) {
    manual_clock_loop t;
    queue<int> q;
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> a = create_task(get_one(q, log, "a"));
        task<void> b = create_task(get_one(q, log, "b"));
        co_await sleep(0);
        q.put_nowait(42);
        a.cancel();
        co_await b;  // would never finish if the wake-up were lost
        EXPECT_TRUE(a.cancelled());
        EXPECT_TRUE(q.empty());
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"b:42"}));
}

// p1 is woken for the free slot and cancelled before it runs: p2 gets the slot.
TEST(queue, a_putter_cancelled_as_it_is_woken_passes_the_slot_on) {
    manual_clock_loop t;
    queue<int> q(1);
    log_t log;
    auto body = [&]() -> task<void> {
        q.put_nowait(0);
        task<void> p1 = create_task(put_one(q, log, 1));
        task<void> p2 = create_task(put_one(q, log, 2));
        co_await sleep(0);
        EXPECT_EQ(q.get_nowait(), 0);
        p1.cancel();
        co_await p2;
        EXPECT_TRUE(p1.cancelled());
        EXPECT_EQ(q.get_nowait(), 2);
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"put:2"}));
}

TEST(queue, a_getter_cancelled_while_waiting_takes_nothing) {
    manual_clock_loop t;
    queue<int> q;
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> a = create_task(get_one(q, log, "a"));
        task<void> b = create_task(get_one(q, log, "b"));
        co_await sleep(0);
        a.cancel();
        co_await sleep(0);
        EXPECT_TRUE(a.cancelled());
        q.put_nowait(1);
        co_await b;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"b:1"}));
}

// As asyncio's: a woken getter re-checks when it runs; if a get that did not wait took the
// item first, it waits again (at the back of the line).
TEST(queue, a_woken_getter_waits_again_if_the_item_was_taken) {
    manual_clock_loop t;
    queue<int> q;
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> a = create_task(get_one(q, log, "a"));
        co_await sleep(0);
        q.put_nowait(1);
        EXPECT_EQ(q.get_nowait(), 1);  // taken before a runs
        co_await sleep(1.0);
        EXPECT_FALSE(a.done());
        q.put_nowait(2);
        co_await a;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"a:2"}));
}

TEST(queue, join_waits_until_every_item_is_done) {
    manual_clock_loop t;
    queue<int> q;
    log_t log;
    auto worker = [&]() -> task<void> {
        for (int i = 0; i < 3; ++i) {
            int item = co_await q.get();
            co_await sleep(1.0);
            log.push_back("done:" + std::to_string(item));
            q.task_done();
        }
    };
    auto body = [&]() -> task<void> {
        co_await q.join();  // nothing outstanding: at once
        for (int i : {1, 2, 3})
            q.put_nowait(i);
        task<void> w = create_task(worker());
        double start = t.loop.time();
        co_await q.join();
        log.push_back("joined");
        EXPECT_DOUBLE_EQ(t.loop.time() - start, 3.0);
        co_await w;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"done:1", "done:2", "done:3", "joined"}));
}

TEST(queue, task_done_called_too_many_times_is_an_error) {
    queue<int> q;
    q.put_nowait(1);
    q.get_nowait();
    q.task_done();
    EXPECT_EQ(error_of<std::invalid_argument>([&] { q.task_done(); }),
              "task_done() called too many times");
}

TEST(queue, shutdown_wakes_every_waiter) {
    manual_clock_loop t;
    queue<int> empty_q;
    queue<int> full_q(1);
    log_t log;
    auto body = [&]() -> task<void> {
        full_q.put_nowait(0);
        std::vector<task<void>> all;
        all.push_back(create_task(get_one(empty_q, log, "g1")));
        all.push_back(create_task(get_one(empty_q, log, "g2")));
        all.push_back(create_task(put_one(full_q, log, 1)));
        all.push_back(create_task(put_one(full_q, log, 2)));
        co_await sleep(0);
        empty_q.shutdown();
        full_q.shutdown();
        co_await gather(std::move(all));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"g1:shutdown", "g2:shutdown", "put:shutdown", "put:shutdown"}));
}

TEST(queue, after_shutdown_puts_fail_and_gets_drain_what_is_left) {
    manual_clock_loop t;
    queue<int> q;
    log_t log;
    auto body = [&]() -> task<void> {
        q.put_nowait(1);
        q.shutdown();
        EXPECT_THROW(q.put_nowait(2), queue_shutdown);
        EXPECT_THROW(co_await q.put(2), queue_shutdown);
        EXPECT_EQ(co_await q.get(), 1);
        EXPECT_THROW(co_await q.get(), queue_shutdown);
        EXPECT_THROW(q.get_nowait(), queue_shutdown);
    };
    t.loop.run_until_complete(body());
}

TEST(queue, immediate_shutdown_drops_the_items_and_releases_join) {
    manual_clock_loop t;
    queue<int> q;
    log_t log;
    auto joiner = [&]() -> task<void> {
        co_await q.join();
        log.push_back("joined");
    };
    auto body = [&]() -> task<void> {
        for (int i : {1, 2, 3})
            q.put_nowait(i);
        EXPECT_EQ(co_await q.get(), 1);  // taken, not yet done
        task<void> j = create_task(joiner());
        co_await sleep(1.0);
        EXPECT_TRUE(log.empty());
        q.shutdown(true);
        EXPECT_TRUE(q.empty());
        EXPECT_THROW(co_await q.get(), queue_shutdown);
        co_await sleep(0);
        EXPECT_TRUE(log.empty());  // item 1 is still being processed
        q.task_done();
        co_await j;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"joined"}));
}

TEST(queue, waiting_from_another_loop_is_an_error) {
    manual_clock_loop a, b;
    queue<int> q;
    log_t log;
    auto consume = [&]() -> task<void> {
        task<void> g = create_task(get_one(q, log, "g"));
        co_await sleep(0);  // g waits: q is now bound to this loop
        q.put_nowait(1);
        co_await g;
    };
    a.loop.run_until_complete(consume());
    EXPECT_EQ(error_of<std::runtime_error>([&] { b.loop.run_until_complete(consume()); }),
              "corio::queue is bound to a different event loop");
    EXPECT_EQ(log, (log_t{"g:1"}));
}

}  // namespace
}  // namespace corio
