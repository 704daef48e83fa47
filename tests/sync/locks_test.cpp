// event, lock, condition, semaphore, bounded_semaphore, barrier: asyncio's locks.py rules, one
// test each, on a manual clock (deterministic: no real time passes, every wait is a loop step).
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <corio/locks.hpp>
#include <corio/runners.hpp>
#include <corio/tasks.hpp>

#include "../support/error_of.hpp"
#include "../support/manual_clock_loop.hpp"

namespace corio {
namespace {

using test::manual_clock_loop;
using log_t = std::vector<std::string>;

using test::error_of;

// Takes the lock, logs, holds it for `seconds`, releases it.
task<void> hold(lock& l, log_t& log, std::string name, double seconds = 0) {
    co_await l.acquire();
    log.push_back(name);
    co_await sleep(seconds);
    l.release();
}

task<void> hold_permit(semaphore& s, log_t& log, std::string name, double seconds = 0) {
    auto guard = co_await s.scoped();
    log.push_back(name);
    co_await sleep(seconds);
}

task<void> wait_event(event& e, log_t& log, std::string name) {
    co_await e.wait();
    log.push_back(name);
}

// -- event ----------------------------------------------------------------------------------

TEST(event, wait_returns_at_once_when_set) {
    manual_clock_loop t;
    event e;
    e.set();
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> other = create_task(wait_event(e, log, "other"));
        co_await e.wait();  // set: no suspension, so `other` has not run yet
        log.push_back("main");
        co_await other;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"main", "other"}));
}

TEST(event, set_wakes_every_waiter_in_order) {
    manual_clock_loop t;
    event e;
    log_t log;
    auto body = [&]() -> task<void> {
        std::vector<task<void>> waiters;
        for (const char* name : {"a", "b", "c"}) {
            waiters.push_back(create_task(wait_event(e, log, name)));
        }
        co_await sleep(1.0);
        EXPECT_TRUE(log.empty());
        e.set();
        EXPECT_TRUE(e.is_set());
        co_await gather(std::move(waiters));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"a", "b", "c"}));
}

TEST(event, clear_makes_later_waits_suspend) {
    manual_clock_loop t;
    event e;
    log_t log;
    auto body = [&]() -> task<void> {
        e.set();
        e.clear();
        EXPECT_FALSE(e.is_set());
        task<void> w = create_task(wait_event(e, log, "w"));
        co_await sleep(1.0);
        EXPECT_FALSE(w.done());
        e.set();
        co_await w;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"w"}));
}

TEST(event, a_cancelled_waiter_leaves_the_others_waiting) {
    manual_clock_loop t;
    event e;
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> a = create_task(wait_event(e, log, "a"));
        task<void> b = create_task(wait_event(e, log, "b"));
        co_await sleep(0);
        a.cancel();
        co_await sleep(0);
        EXPECT_TRUE(a.cancelled());
        EXPECT_FALSE(b.done());
        e.set();
        co_await b;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"b"}));
}

// -- lock -----------------------------------------------------------------------------------

TEST(lock, an_uncontended_acquire_does_not_yield) {
    manual_clock_loop t;
    lock l;
    log_t log;
    auto other = [&]() -> task<void> {
        log.push_back("other");
        co_return;
    };
    auto body = [&]() -> task<void> {
        task<void> o = create_task(other());
        co_await l.acquire();
        EXPECT_TRUE(l.locked());
        log.push_back("acquired");
        l.release();
        EXPECT_FALSE(l.locked());
        co_await o;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"acquired", "other"}));
}

TEST(lock, release_of_a_free_lock_is_an_error) {
    lock l;
    EXPECT_EQ(error_of<std::runtime_error>([&] { l.release(); }), "Lock is not acquired.");
}

TEST(lock, waiters_acquire_in_arrival_order) {
    manual_clock_loop t;
    lock l;
    log_t log;
    auto body = [&]() -> task<void> {
        std::vector<task<void>> all;
        for (const char* name : {"a", "b", "c", "d"}) {
            all.push_back(create_task(hold(l, log, name, 1.0)));
        }
        co_await gather(std::move(all));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"a", "b", "c", "d"}));
}

// release() wakes the first waiter; until it runs the lock is free, yet a task that asks in
// between queues behind it (FIFO hand-off).
TEST(lock, a_newcomer_queues_behind_the_woken_waiter) {
    manual_clock_loop t;
    lock l;
    log_t log;
    auto body = [&]() -> task<void> {
        co_await l.acquire();
        task<void> b = create_task(hold(l, log, "b"));
        co_await sleep(0);  // b waits
        l.release();        // b is woken...
        EXPECT_FALSE(l.locked());
        co_await l.acquire();  // ...and goes first, though the lock was free when we asked
        log.push_back("newcomer");
        l.release();
        co_await b;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"b", "newcomer"}));
}

// The race asyncio guards against: b is woken by release() and cancelled before it runs. b
// must not keep the lock, and must not swallow the wake-up: c gets the lock.
TEST(lock, a_waiter_cancelled_as_it_is_woken_passes_the_lock_on) {
    manual_clock_loop t;
    lock l;
    log_t log;
    auto body = [&]() -> task<void> {
        co_await l.acquire();
        task<void> b = create_task(hold(l, log, "b"));
        task<void> c = create_task(hold(l, log, "c"));
        co_await sleep(0);
        l.release();  // b's wake-up is scheduled...
        b.cancel();   // ...and b is cancelled before it runs
        co_await c;   // would never finish if the wake-up were lost
        EXPECT_TRUE(b.cancelled());
        EXPECT_FALSE(l.locked());
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"c"}));
}

// b is cancelled while waiting and the lock is released in the same step, before b has left
// the queue: release() sees b first, b must pass the lock to c when it runs.
TEST(lock, a_waiter_cancelled_before_release_passes_the_lock_on) {
    manual_clock_loop t;
    lock l;
    log_t log;
    auto body = [&]() -> task<void> {
        co_await l.acquire();
        task<void> b = create_task(hold(l, log, "b"));
        task<void> c = create_task(hold(l, log, "c"));
        co_await sleep(0);
        b.cancel();
        l.release();
        co_await c;
        EXPECT_TRUE(b.cancelled());
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"c"}));
}

TEST(lock, a_newcomer_overtakes_only_cancelled_waiters) {
    manual_clock_loop t;
    lock l;
    log_t log;
    auto body = [&]() -> task<void> {
        co_await l.acquire();
        task<void> b = create_task(hold(l, log, "b"));
        co_await sleep(0);
        b.cancel();  // b's future is cancelled; b has not run yet
        l.release();
        co_await l.acquire();  // only a cancelled waiter ahead: no wait
        log.push_back("newcomer");
        EXPECT_FALSE(b.done());
        l.release();
        co_await sleep(0);
        EXPECT_TRUE(b.cancelled());
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"newcomer"}));
}

TEST(lock, scoped_releases_at_scope_exit_and_on_error) {
    manual_clock_loop t;
    lock l;
    auto body = [&]() -> task<void> {
        {
            auto guard = co_await l.scoped();
            EXPECT_TRUE(guard.owns());
            EXPECT_TRUE(l.locked());
        }
        EXPECT_FALSE(l.locked());
        try {
            auto guard = co_await l.scoped();
            throw std::runtime_error("inside");
        } catch (const std::runtime_error&) {
        }
        EXPECT_FALSE(l.locked());
        auto guard = co_await l.scoped();
        guard.release();  // early
        EXPECT_FALSE(guard.owns());
        EXPECT_FALSE(l.locked());
    };
    t.loop.run_until_complete(body());
}

TEST(lock, waiting_from_another_loop_is_an_error) {
    manual_clock_loop a, b;
    lock l;
    log_t log;
    auto contend = [&]() -> task<void> {
        co_await l.acquire();
        task<void> other = create_task(hold(l, log, "other"));
        co_await sleep(0);  // other waits: l is now bound to this loop
        l.release();
        co_await other;
    };
    a.loop.run_until_complete(contend());
    EXPECT_EQ(error_of<std::runtime_error>([&] { b.loop.run_until_complete(contend()); }),
              "corio::lock is bound to a different event loop");
    EXPECT_FALSE(l.locked());  // the error reached `other`; contend() released the lock
}

// Waking waiters (release, set, notify) from another running loop would touch futures of the
// bound loop from the wrong thread: an error, before anything changes.
TEST(event, set_from_another_running_loop_is_an_error) {
    manual_clock_loop a, b;
    event e;
    log_t log;
    task<void> w = a.loop.create_task(wait_event(e, log, "w"));
    a.run_once();  // w waits: e is bound to a
    auto set_it = [&]() -> task<void> {
        e.set();
        co_return;
    };
    EXPECT_EQ(error_of<std::runtime_error>([&] { b.loop.run_until_complete(set_it()); }),
              "corio::event is bound to a different event loop");
    EXPECT_FALSE(e.is_set());
    e.set();  // outside any running loop: allowed, as asyncio allows it
    a.loop.run_until_complete(w);
    EXPECT_EQ(log, (log_t{"w"}));
}

// -- condition ------------------------------------------------------------------------------

task<void> wait_notified(condition& c, log_t& log, std::string name) {
    auto guard = co_await c.scoped();
    co_await c.wait();
    EXPECT_TRUE(c.locked());  // wait() returns with the lock held
    log.push_back(name);
}

TEST(condition, wait_and_notify_need_the_lock) {
    manual_clock_loop t;
    condition c;
    EXPECT_EQ(error_of<std::runtime_error>([&] { c.notify(); }),
              "cannot notify on un-acquired lock");
    EXPECT_EQ(error_of<std::runtime_error>([&] { t.loop.run_until_complete(c.wait()); }),
              "cannot wait on un-acquired lock");
}

TEST(condition, notify_wakes_n_waiters_oldest_first) {
    manual_clock_loop t;
    condition c;
    log_t log;
    auto body = [&]() -> task<void> {
        std::vector<task<void>> waiters;
        for (const char* name : {"a", "b", "c"}) {
            waiters.push_back(create_task(wait_notified(c, log, name)));
        }
        co_await sleep(0);
        EXPECT_FALSE(c.locked());  // every waiter released the lock
        {
            auto guard = co_await c.scoped();
            c.notify(2);
        }
        co_await sleep(1.0);
        EXPECT_EQ(log, (log_t{"a", "b"}));
        {
            auto guard = co_await c.scoped();
            c.notify_all();
        }
        co_await gather(std::move(waiters));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"a", "b", "c"}));
}

TEST(condition, wait_for_returns_the_predicate_value) {
    manual_clock_loop t;
    condition c;
    int value = 0;
    auto consumer = [&]() -> task<int> {
        auto guard = co_await c.scoped();
        co_return co_await c.wait_for([&] { return value >= 3 ? value : 0; });
    };
    auto body = [&]() -> task<int> {
        task<int> r = create_task(consumer());
        for (int i = 0; i < 5; ++i) {
            co_await sleep(0.1);
            auto guard = co_await c.scoped();
            ++value;
            c.notify_all();
        }
        co_return co_await r;
    };
    EXPECT_EQ(t.loop.run_until_complete(body()), 3);
}

// asyncio: "Must re-acquire lock even if wait is cancelled". The waiter is cancelled while
// another task holds the lock: cancelled_error reaches it only once it holds the lock again.
TEST(condition, a_cancelled_wait_reacquires_the_lock_first) {
    manual_clock_loop t;
    condition c;
    bool held_when_cancelled = false;
    auto waiter = [&]() -> task<void> {
        co_await c.acquire();
        try {
            co_await c.wait();
        } catch (const cancelled_error&) {
            held_when_cancelled = c.locked();
            c.release();
            throw;
        }
    };
    auto body = [&]() -> task<void> {
        task<void> w = create_task(waiter());
        co_await sleep(0);
        co_await c.acquire();
        w.cancel();
        co_await sleep(1.0);
        EXPECT_FALSE(w.done());  // waits for the lock we hold
        c.release();
        try {
            co_await w;
        } catch (const cancelled_error&) {
        }
        EXPECT_TRUE(w.cancelled());
    };
    t.loop.run_until_complete(body());
    EXPECT_TRUE(held_when_cancelled);
    EXPECT_FALSE(c.locked());
}

// a is notified and cancelled before it runs: the notification goes to b (asyncio 3.13).
TEST(condition, a_waiter_cancelled_as_it_is_notified_passes_the_notification_on) {
    manual_clock_loop t;
    condition c;
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> a = create_task(wait_notified(c, log, "a"));
        task<void> b = create_task(wait_notified(c, log, "b"));
        co_await sleep(0);
        co_await c.acquire();
        c.notify(1);
        a.cancel();
        c.release();
        co_await b;  // would never finish if the notification were lost
        EXPECT_TRUE(a.cancelled());
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"b"}));
    EXPECT_FALSE(c.locked());
}

TEST(condition, shares_a_given_lock) {
    manual_clock_loop t;
    lock l;
    condition c(l);
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> w = create_task(wait_notified(c, log, "w"));
        co_await sleep(0);
        co_await l.acquire();
        EXPECT_TRUE(c.locked());
        c.notify();
        l.release();
        co_await w;
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"w"}));
    EXPECT_FALSE(l.locked());
}

// -- semaphore ------------------------------------------------------------------------------

TEST(semaphore, a_negative_initial_value_is_an_error) {
    EXPECT_EQ(error_of<std::invalid_argument>([] { semaphore s(-1); }),
              "Semaphore initial value must be >= 0");
}

TEST(semaphore, acquire_takes_permits_without_waiting_while_there_are_some) {
    manual_clock_loop t;
    semaphore s(2);
    auto body = [&]() -> task<void> {
        co_await s.acquire();
        EXPECT_FALSE(s.locked());
        co_await s.acquire();
        EXPECT_TRUE(s.locked());
        EXPECT_EQ(s.value(), 0u);
        s.release();
        s.release();
        EXPECT_EQ(s.value(), 2u);
    };
    t.loop.run_until_complete(body());
}

TEST(semaphore, waiters_get_permits_in_arrival_order) {
    manual_clock_loop t;
    semaphore s(0);
    log_t log;
    auto body = [&]() -> task<void> {
        std::vector<task<void>> all;
        for (const char* name : {"a", "b", "c"}) {
            all.push_back(create_task(hold_permit(s, log, name, 1.0)));
        }
        co_await sleep(0);
        s.release();
        co_await sleep(0.5);
        EXPECT_EQ(log, (log_t{"a"}));
        s.release();  // a second permit: for b, as a still holds the first
        co_await sleep(0.25);
        EXPECT_EQ(log, (log_t{"a", "b"}));
        co_await gather(std::move(all));  // a's permit goes to c
        EXPECT_EQ(s.value(), 2u);
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"a", "b", "c"}));
}

// release() hands the permit to the oldest waiter at once: a newcomer in the same step
// finds no permit. And a permit freed while older waiters queue is not for a newcomer.
TEST(semaphore, a_newcomer_waits_behind_queued_waiters) {
    manual_clock_loop t;
    semaphore s(0);
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> b = create_task(hold_permit(s, log, "b"));
        co_await sleep(0);
        s.release();  // b's, though b has not run
        EXPECT_EQ(s.value(), 0u);
        s.release();  // free, but b is still queued ahead of any newcomer
        EXPECT_EQ(s.value(), 1u);
        EXPECT_TRUE(s.locked());
        co_await s.acquire();
        log.push_back("newcomer");
        s.release();
        co_await b;
        EXPECT_EQ(s.value(), 2u);
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"b", "newcomer"}));
}

// b is woken (its permit taken for it) and cancelled before it runs: the permit goes to c.
TEST(semaphore, a_waiter_cancelled_as_it_is_woken_passes_the_permit_on) {
    manual_clock_loop t;
    semaphore s(1);
    log_t log;
    auto body = [&]() -> task<void> {
        co_await s.acquire();
        task<void> b = create_task(hold_permit(s, log, "b"));
        task<void> c = create_task(hold_permit(s, log, "c"));
        co_await sleep(0);
        s.release();
        b.cancel();
        co_await c;
        EXPECT_TRUE(b.cancelled());
        EXPECT_EQ(s.value(), 1u);  // no permit lost, none made up
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"c"}));
}

TEST(semaphore, a_waiter_cancelled_while_waiting_takes_no_permit) {
    manual_clock_loop t;
    semaphore s(0);
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> b = create_task(hold_permit(s, log, "b"));
        task<void> c = create_task(hold_permit(s, log, "c"));
        co_await sleep(0);
        b.cancel();
        co_await sleep(0);
        EXPECT_TRUE(b.cancelled());
        s.release();
        co_await c;
        EXPECT_EQ(s.value(), 1u);
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log, (log_t{"c"}));
}

TEST(bounded_semaphore, release_above_the_initial_value_is_an_error) {
    manual_clock_loop t;
    bounded_semaphore s(1);
    EXPECT_EQ(error_of<std::invalid_argument>([&] { s.release(); }),
              "BoundedSemaphore released too many times");
    auto body = [&]() -> task<void> {
        co_await s.acquire();
        s.release();
        EXPECT_THROW(s.release(), std::invalid_argument);
        EXPECT_EQ(s.value(), 1u);
    };
    t.loop.run_until_complete(body());
    bounded_semaphore zero(0);
    EXPECT_THROW(zero.release(), std::invalid_argument);
}

// -- barrier --------------------------------------------------------------------------------

task<void> arrive(barrier& b, std::vector<std::size_t>& indices, log_t& log) {
    indices.push_back(co_await b.wait());
    log.push_back("passed");
}

TEST(barrier, parties_must_be_positive) {
    EXPECT_EQ(error_of<std::invalid_argument>([] { barrier b(0); }), "parties must be >= 1");
}

TEST(barrier, everybody_waits_for_the_last_and_gets_its_arrival_index) {
    manual_clock_loop t;
    barrier b(3);
    std::vector<std::size_t> indices;
    log_t log;
    auto body = [&]() -> task<void> {
        EXPECT_EQ(b.parties(), 3u);
        std::vector<task<void>> all;
        all.push_back(create_task(arrive(b, indices, log)));
        all.push_back(create_task(arrive(b, indices, log)));
        co_await sleep(1.0);
        EXPECT_EQ(b.n_waiting(), 2u);
        EXPECT_TRUE(log.empty());
        all.push_back(create_task(arrive(b, indices, log)));
        co_await gather(std::move(all));
        EXPECT_EQ(b.n_waiting(), 0u);
    };
    t.loop.run_until_complete(body());
    std::sort(indices.begin(), indices.end());
    EXPECT_EQ(indices, (std::vector<std::size_t>{0, 1, 2}));
    EXPECT_EQ(log.size(), 3u);
}

TEST(barrier, is_reusable_round_after_round) {
    manual_clock_loop t;
    barrier b(2);
    std::vector<std::size_t> indices;
    log_t log;
    auto body = [&]() -> task<void> {
        for (int round = 0; round < 3; ++round) {
            std::vector<task<void>> all;
            all.push_back(create_task(arrive(b, indices, log)));
            all.push_back(create_task(arrive(b, indices, log)));
            co_await gather(std::move(all));
        }
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log.size(), 6u);
    EXPECT_FALSE(b.broken());
}

TEST(barrier, abort_breaks_current_and_later_waits_until_reset) {
    manual_clock_loop t;
    barrier b(3);
    auto body = [&]() -> task<void> {
        task<std::size_t> w = create_task(b.wait());
        co_await sleep(0);
        co_await b.abort();
        EXPECT_TRUE(b.broken());
        EXPECT_THROW(co_await w, broken_barrier_error);
        EXPECT_THROW(co_await b.wait(), broken_barrier_error);
        co_await b.reset();
        EXPECT_FALSE(b.broken());
        EXPECT_EQ(b.n_waiting(), 0u);
    };
    t.loop.run_until_complete(body());
}

TEST(barrier, reset_breaks_the_current_waiters_and_reopens) {
    manual_clock_loop t;
    barrier b(2);
    std::vector<std::size_t> indices;
    log_t log;
    auto body = [&]() -> task<void> {
        task<std::size_t> w = create_task(b.wait());
        co_await sleep(0);
        co_await b.reset();
        EXPECT_THROW(co_await w, broken_barrier_error);
        EXPECT_FALSE(b.broken());
        std::vector<task<void>> all;
        all.push_back(create_task(arrive(b, indices, log)));
        all.push_back(create_task(arrive(b, indices, log)));
        co_await gather(std::move(all));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log.size(), 2u);
}

TEST(barrier, a_cancelled_waiter_leaves_the_barrier) {
    manual_clock_loop t;
    barrier b(2);
    std::vector<std::size_t> indices;
    log_t log;
    auto body = [&]() -> task<void> {
        task<void> gone = create_task(arrive(b, indices, log));
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 1u);
        gone.cancel();
        co_await sleep(1.0);
        EXPECT_TRUE(gone.cancelled());
        EXPECT_EQ(b.n_waiting(), 0u);
        std::vector<task<void>> all;
        all.push_back(create_task(arrive(b, indices, log)));
        all.push_back(create_task(arrive(b, indices, log)));
        co_await gather(std::move(all));
    };
    t.loop.run_until_complete(body());
    EXPECT_EQ(log.size(), 2u);
    EXPECT_FALSE(b.broken());
}

}  // namespace
}  // namespace corio
