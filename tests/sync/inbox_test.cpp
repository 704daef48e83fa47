// The inbox on a deterministic loop (manual clock, fake backend): bulk drain in FIFO order,
// close() accounting for every accepted message, allocation-free call_soon_threadsafe, the
// coalescing of a flood's drains, and idle polling on a real loop.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <corio/detail/inbox.hpp>
#include <corio/events.hpp>
#include <corio/tasks.hpp>
#include <corio/threads.hpp>

#include "../support/alloc_counter.hpp"
#include "../support/fake_backend.hpp"
#include "loop_thread.hpp"

namespace corio {
namespace {

struct inbox_loop {
    manual_clock clock{1'000'000'000};
    test::fake_backend* backend;
    event_loop loop;
    std::vector<std::string> reported;

    // No coalescing unless a test asks: its waits are on the real clock.
    explicit inbox_loop(std::chrono::nanoseconds coalesce = std::chrono::nanoseconds(0))
        : inbox_loop(std::make_unique<test::fake_backend>(clock), coalesce) {}
    void run_once() {
        loop.stop();
        loop.run_forever();
    }
    // One iteration that is not stopping when it starts (a stopping loop never waits to
    // coalesce): the stop comes from inside its poll.
    void run_once_unstopped() {
        backend->during_next_poll = [this](std::chrono::nanoseconds) { loop.stop(); };
        loop.run_forever();
    }

private:
    inbox_loop(std::unique_ptr<test::fake_backend> b, std::chrono::nanoseconds coalesce)
        : backend(b.get()),
          loop(std::move(b), clock, detail::make_inbox(std::chrono::nanoseconds(0), coalesce)) {
        backend->record_timeouts = false;
        loop.set_exception_handler(
            [this](event_loop&, const exception_context& c) { reported.push_back(c.source); });
    }
};

TEST(inbox, messages_run_in_the_next_iteration_in_fifo_order) {
    inbox_loop t;
    std::vector<int> order;
    for (int i = 0; i < 300; ++i)
        t.loop.call_soon_threadsafe([&order, i] { order.push_back(i); });
    t.run_once();
    ASSERT_EQ(order.size(), 300u);
    for (int i = 0; i < 300; ++i)
        EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
    EXPECT_EQ(t.loop.stats().inbox_messages, 300u);
}

// A message that arrives while the loop waits in its poll (here: posted from inside the
// fake poll, as another thread would) runs in that same iteration: the loop drains again after
// a poll that step 1's empty drain led to, instead of spending one more iteration first.
TEST(inbox, a_message_that_ends_the_wait_runs_in_the_iteration_that_waited) {
    inbox_loop t;
    t.loop.call_later(1.0, [] {});  // a finite wait: the fake backend cannot block forever
    std::uint64_t posted_in = 0, ran_in = 0;
    std::chrono::nanoseconds waited{0};
    t.backend->during_next_poll = [&](std::chrono::nanoseconds timeout) {
        waited = timeout;
        posted_in = t.loop.stats().iterations;
        t.loop.call_soon_threadsafe([&] {
            ran_in = t.loop.stats().iterations;
            t.loop.stop();
        });
    };
    t.loop.run_forever();
    EXPECT_GT(waited.count(), 0);  // it was a waiting poll, not a zero-timeout one
    ASSERT_NE(ran_in, 0u);
    EXPECT_EQ(ran_in, posted_in);
    EXPECT_EQ(t.loop.stats().timers_fired, 0u);  // the wait ended early: the timer is not due
}

// The coalescing rules (drain_coalescer.hpp), on the logic alone.
TEST(drain_coalescer, a_drain_after_one_that_found_messages_may_wait_out_the_window) {
    detail::drain_coalescer c(2000, 4096);
    EXPECT_FALSE(c.may_wait(false));  // no flood yet
    ASSERT_TRUE(c.wants_clock(5));
    c.drained(5, 10'000);
    EXPECT_TRUE(c.may_wait(false));
    EXPECT_EQ(c.deadline(), 12'000);
}

TEST(drain_coalescer, a_loop_with_other_work_does_not_wait) {
    detail::drain_coalescer c(2000, 4096);
    c.drained(5, 10'000);
    EXPECT_FALSE(c.may_wait(true));
}

TEST(drain_coalescer, an_empty_drain_ends_the_flood_and_reads_no_clock) {
    detail::drain_coalescer c(2000, 4096);
    c.drained(5, 10'000);
    EXPECT_FALSE(c.wants_clock(0));
    c.drained(0, 0);
    EXPECT_FALSE(c.may_wait(false));
}

TEST(drain_coalescer, a_wait_that_yields_a_batch_keeps_coalescing) {
    detail::drain_coalescer c(2000, 4096);
    c.drained(5, 10'000);
    c.waited();
    c.drained(detail::drain_coalescer::min_batch, 12'000);
    EXPECT_TRUE(c.may_wait(false));
    EXPECT_EQ(c.deadline(), 14'000);
}

TEST(drain_coalescer, a_wait_that_yields_few_messages_backs_off_for_a_while) {
    detail::drain_coalescer c(2000, 4096);
    c.drained(1, 10'000);
    c.waited();
    c.drained(detail::drain_coalescer::min_batch - 1, 12'000);  // two round trips, say
    std::int64_t t = 12'000;
    for (unsigned i = 0; i < detail::drain_coalescer::backoff_drains; ++i) {
        EXPECT_FALSE(c.may_wait(false)) << "drain " << i;
        t += 100;
        c.drained(1, c.wants_clock(1) ? t : 0);
    }
    EXPECT_TRUE(c.may_wait(false));
    EXPECT_EQ(c.deadline(), t + 2000);  // timed from the last drain, not a stale one
}

TEST(drain_coalescer, a_drain_that_took_a_full_batch_does_not_make_the_next_wait) {
    detail::drain_coalescer c(2000, 64);
    c.drained(64, 10'000);  // the producer is ahead: what waits is already there
    EXPECT_FALSE(c.may_wait(false));
    c.drained(63, 10'500);
    EXPECT_TRUE(c.may_wait(false));
}

TEST(drain_coalescer, a_zero_window_never_waits) {
    detail::drain_coalescer c(0, 4096);
    EXPECT_FALSE(c.wants_clock(100));
    c.drained(100, 0);
    EXPECT_FALSE(c.may_wait(false));
}

// And on a loop. The window is long so that the test's own posting cannot outlast it.
TEST(inbox, a_flooded_loop_with_nothing_else_to_do_waits_for_the_window_then_drains_all) {
    inbox_loop t(std::chrono::milliseconds(20));
    std::vector<int> order;
    auto post = [&](int from, int to) {
        for (int i = from; i < to; ++i)
            t.loop.call_soon_threadsafe([&order, i] { order.push_back(i); });
    };
    post(0, 100);
    t.run_once();  // found messages: a flood, maybe
    EXPECT_EQ(t.loop.stats().coalesce_waits, 0u);
    post(100, 200);
    const auto before = std::chrono::steady_clock::now();
    t.run_once_unstopped();
    EXPECT_EQ(t.loop.stats().coalesce_waits, 1u);
    EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(1));
    EXPECT_GT(t.loop.stats().coalesce_ns, 0u);
    ASSERT_EQ(order.size(), 200u);
    for (int i = 0; i < 200; ++i)
        EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST(inbox, a_flooded_loop_with_ready_work_drains_without_waiting) {
    inbox_loop t(std::chrono::milliseconds(20));
    int ran = 0;
    t.loop.call_soon_threadsafe([&] { ++ran; });
    t.run_once();
    t.loop.call_soon_threadsafe([&] { ++ran; });
    t.loop.call_soon([] {});  // something ready at step 1
    t.run_once_unstopped();
    EXPECT_EQ(ran, 2);
    EXPECT_EQ(t.loop.stats().coalesce_waits, 0u);
}

TEST(inbox, a_loop_whose_inbox_ran_dry_does_not_wait) {
    inbox_loop t(std::chrono::milliseconds(20));
    int ran = 0;
    t.loop.call_soon_threadsafe([&] { ++ran; });
    t.run_once();
    t.run_once();  // nothing came: the flood is over
    t.loop.call_soon_threadsafe([&] { ++ran; });
    t.run_once_unstopped();
    EXPECT_EQ(ran, 2);
    EXPECT_EQ(t.loop.stats().coalesce_waits, 0u);
}

TEST(inbox, per_producer_fifo_with_two_threads) {
    inbox_loop t;
    std::vector<int> seen_a, seen_b;
    auto produce = [&](std::vector<int>& seen) {
        for (int i = 0; i < 2000; ++i)
            t.loop.call_soon_threadsafe([&seen, i] { seen.push_back(i); });
    };
    std::thread a(produce, std::ref(seen_a)), b(produce, std::ref(seen_b));
    a.join();
    b.join();
    t.run_once();
    t.run_once();
    ASSERT_EQ(seen_a.size(), 2000u);
    ASSERT_EQ(seen_b.size(), 2000u);
    for (int i = 0; i < 2000; ++i) {
        EXPECT_EQ(seen_a[static_cast<std::size_t>(i)], i);
        EXPECT_EQ(seen_b[static_cast<std::size_t>(i)], i);
    }
}

// Threads that come and go reuse the slots of those that exited (no token per thread ever
// seen), and a thread keeps one slot per inbox however many inboxes it posts to.
TEST(inbox, exited_threads_give_their_producer_slots_back) {
    inbox_loop t;
    int ran = 0;
    for (int i = 0; i < 20; ++i) {
        std::thread([&t, &ran] {
            t.loop.call_soon_threadsafe([&ran] { ++ran; });
            t.loop.call_soon_threadsafe([&ran] { ++ran; });
        }).join();
    }
    t.run_once();
    EXPECT_EQ(ran, 40);
    EXPECT_EQ(detail::inbox_of(t.loop).producer_slot_count(), 1u);
}

// More inboxes than the per-thread cache maps directly (64): the overflow entries still find
// their slot, so every message runs, in order, and each inbox made one slot for this thread.
TEST(inbox, one_thread_posting_to_many_loops_keeps_one_slot_each) {
    std::vector<std::unique_ptr<inbox_loop>> loops;
    for (int i = 0; i < 150; ++i)
        loops.push_back(std::make_unique<inbox_loop>());
    std::vector<std::vector<int>> seen(loops.size());
    for (int round = 0; round < 3; ++round) {
        for (std::size_t l = 0; l < loops.size(); ++l)
            loops[l]->loop.call_soon_threadsafe([&seen, l, round] { seen[l].push_back(round); });
    }
    for (std::size_t l = 0; l < loops.size(); ++l) {
        loops[l]->run_once();
        EXPECT_EQ(seen[l], (std::vector<int>{0, 1, 2}));
        EXPECT_EQ(detail::inbox_of(loops[l]->loop).producer_slot_count(), 1u);
    }
}

TEST(inbox, closed_loop_refuses) {
    inbox_loop t;
    t.loop.close();
    try {
        t.loop.call_soon_threadsafe([] {});
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Event loop is closed");
    }
}

task<int> note_return(bool* returned) {
    *returned = true;
    co_return 7;
}

// A second done callback on the task, registered as it runs: it notes whether the concurrent
// future completed before it. (A struct, not a lambda: gcc 12 mishandles a lambda capturing a
// coroutine's parameters, BUILD.md.)
struct note_future_done {
    concurrent_future<int>* f;
    std::vector<bool>* done_before;
    void operator()(detail::future_state_base&) const { done_before->push_back(f->done()); }
};
task<int> watch_own_end(concurrent_future<int>* f, std::vector<bool>* future_done_before) {
    current_task()->add_done_callback(
        detail::future_state_base::done_fn(note_future_done{f, future_done_before}));
    co_return 7;
}

// The task's outcome is handed to the other thread as the task ends: no iteration in between,
// which would only add latency to the round trip (add_handoff_callback).
TEST(inbox, run_coroutine_threadsafe_completes_its_future_in_the_iteration_the_task_ends) {
    inbox_loop t;
    bool returned = false;
    concurrent_future<int> f = run_coroutine_threadsafe(note_return(&returned), t.loop);
    for (int i = 0; i < 5 && !returned; ++i)
        t.run_once();
    ASSERT_TRUE(returned);
    // ASSERT: result() on a pending future would wait for a loop that is not running.
    ASSERT_TRUE(f.done());
    EXPECT_EQ(f.result(), 7);
}

// Behind another done callback the hand-off keeps its place: both run from the next
// iteration, in registration order, as asyncio's callbacks do.
TEST(inbox, a_handoff_behind_another_done_callback_runs_with_it_in_order) {
    inbox_loop t;
    concurrent_future<int> f;
    std::vector<bool> future_done_before;
    f = run_coroutine_threadsafe(watch_own_end(&f, &future_done_before), t.loop);
    t.run_once();  // the start message: creates the task
    t.run_once();  // its step: registers the second callback and returns
    EXPECT_FALSE(f.done());
    EXPECT_TRUE(future_done_before.empty());
    t.run_once();
    EXPECT_TRUE(f.done());
    EXPECT_EQ(future_done_before, std::vector<bool>{true});
}

// Accepted but not run when the loop closes: each callback is counted and reported, never
// silently dropped; a handle-cancelled one is neither run nor reported.
TEST(inbox, close_reports_every_accepted_callback_that_did_not_run) {
    inbox_loop t;
    int ran = 0;
    for (int i = 0; i < 5; ++i)
        t.loop.call_soon_threadsafe([&] { ++ran; });
    threadsafe_handle h = t.loop.call_soon_threadsafe(with_handle, [&] { ++ran; });
    EXPECT_TRUE(h.cancel());
    EXPECT_FALSE(h.cancel());
    t.loop.close();
    EXPECT_EQ(ran, 0);
    EXPECT_EQ(t.loop.stats().inbox_dropped, 5u);
    EXPECT_EQ(t.reported.size(), 5u);
    for (const auto& s : t.reported)
        EXPECT_EQ(s, "call_soon_threadsafe");
}

TEST(inbox, threadsafe_handle_cancel_keeps_the_callback_from_running) {
    inbox_loop t;
    int ran = 0;
    threadsafe_handle keep = t.loop.call_soon_threadsafe(with_handle, [&] { ++ran; });
    threadsafe_handle drop = t.loop.call_soon_threadsafe(with_handle, [&] { ran += 10; });
    std::thread([&] { EXPECT_TRUE(drop.cancel()); }).join();
    EXPECT_TRUE(drop.cancelled());
    t.run_once();
    EXPECT_EQ(ran, 1);
    EXPECT_FALSE(keep.cancel());  // already ran
}

// A message is moved into the queue and out again: bytes for a trivially copyable capture,
// the capture's own move for the rest (inline_function's relocate). A short std::string
// points into itself, so a byte copy would leave it pointing into the queue's block.
TEST(inbox, captures_that_are_not_trivially_copyable_survive_the_queue) {
    inbox_loop t;
    std::vector<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        t.loop.call_soon_threadsafe(
            [&seen, text = std::string("m") + std::to_string(i), owned = std::make_unique<int>(i)] {
                seen.push_back(text + ":" + std::to_string(*owned));
            });
    }
    t.run_once();
    ASSERT_EQ(seen.size(), 100u);
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(seen[static_cast<std::size_t>(i)],
                  "m" + std::to_string(i) + ":" + std::to_string(i));
}

// The messages of one drain run as one batch (inbox.cpp): a throwing one is reported on its
// own and the rest still run, in order, each counted as a callback.
TEST(inbox, an_exception_in_a_threadsafe_callback_goes_to_the_handler_and_the_rest_run) {
    inbox_loop t;
    std::vector<int> order;
    t.loop.call_soon_threadsafe([&order] { order.push_back(1); });
    t.loop.call_soon_threadsafe([] { throw std::runtime_error("boom"); });
    t.loop.call_soon_threadsafe([&order] { order.push_back(3); });
    const std::uint64_t run_before = t.loop.stats().callbacks_run;
    t.run_once();
    ASSERT_EQ(t.reported.size(), 1u);
    EXPECT_EQ(t.reported[0], "callback");
    EXPECT_EQ(order, (std::vector<int>{1, 3}));
    EXPECT_EQ(t.loop.stats().callbacks_run - run_before, 3u);
    EXPECT_EQ(t.loop.stats().callback_errors, 1u);
}

// Debug mode times each message on its own, as each call_soon callback: three messages of
// 60 ms each are not slow callbacks (limit 100 ms), but their iteration is slow.
TEST(inbox, debug_mode_times_each_threadsafe_callback) {
    inbox_loop t;
    t.loop.set_debug(true);
    std::vector<int> order;
    for (int i = 0; i < 3; ++i) {
        t.loop.call_soon_threadsafe([&t, &order, i] {
            t.clock.advance(60'000'000);
            order.push_back(i);
        });
    }
    t.run_once();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(t.loop.stats().slow_callbacks, 0u);
    EXPECT_EQ(t.loop.stats().slow_iterations, 1u);
}

// call_soon_threadsafe's steady state: no allocation on the producer's thread (per-thread
// counter) nor in the loop's drain and run.
TEST(inbox, call_soon_threadsafe_allocates_nothing_in_steady_state) {
    inbox_loop t;
    int runs = 0;
    void* p1 = &runs;
    void* p2 = &t;
    auto round = [&] {
        for (int i = 0; i < 2000; ++i) {
            t.loop.call_soon_threadsafe([&runs, p1, p2, i] { runs += (p1 != p2) + i * 0; });
        }
    };
    round();  // warm-up: queue blocks, the producer's sub-queue and the ready ring grow once
    t.run_once();
    test::allocation_scope producer;
    round();
    const auto produced = producer.allocations();
    test::allocation_scope consumer;
    t.run_once();
    EXPECT_EQ(produced, 0u);
    EXPECT_EQ(consumer.allocations(), 0u);
    EXPECT_EQ(runs, 4000);
}

using idle_poll = test::xthread_test;

TEST_P(idle_poll, an_idle_loop_polls_before_blocking_and_counts_the_time) {
    CORIO_LOOP_OR_SKIP(l, std::chrono::milliseconds(5));
    test::loop_thread lt(std::move(l));
    std::atomic<int> ran{0};
    for (int i = 0; i < 50; ++i) {
        // Let the loop run out of work and start its idle poll, then post into the window.
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        lt.loop->call_soon_threadsafe([&] { ran.fetch_add(1); });
        ASSERT_TRUE(test::wait_until([&] { return ran.load() == i + 1; }));
    }
    lt.stop_and_join();
    EXPECT_GT(lt.loop->stats().idle_poll_ns, 0u);
    EXPECT_GT(lt.loop->stats().idle_poll_hits, 0u);
}

TEST_P(idle_poll, zero_disables_it) {
    CORIO_LOOP_OR_SKIP(l, std::chrono::nanoseconds(0));
    test::loop_thread lt(std::move(l));
    lt.stop_and_join();
    EXPECT_EQ(lt.loop->stats().idle_poll_ns, 0u);
}

TEST_P(idle_poll, a_loop_that_hears_from_no_thread_does_not_poll_and_one_that_does_polls) {
    CORIO_LOOP_OR_SKIP(l, std::chrono::milliseconds(1));
    auto naps = [](int n) -> task<void> {
        for (int i = 0; i < n; ++i)
            co_await sleep(0.002);  // each a blocking poll
    };
    l->run_until_complete(naps(5));
    EXPECT_GE(l->stats().blocking_polls, 5u);
    EXPECT_EQ(l->stats().idle_poll_ns, 0u);
    // And its sleeps need no membarrier (wakeup.hpp, "Quiet loops").
    EXPECT_TRUE(detail::inbox_of(*l).handshake().quiet());
    // A message arrives (posted from this thread: the inbox cannot tell): the next blocking
    // polls, within the recency window, spin first, and producers are back to compiler barriers.
    l->call_soon_threadsafe([] {});
    l->run_until_complete(naps(1));
    EXPECT_GT(l->stats().idle_poll_ns, 0u);
    EXPECT_FALSE(detail::inbox_of(*l).handshake().quiet());
    l->close();
}

CORIO_INSTANTIATE_BACKENDS(idle_poll);

}  // namespace
}  // namespace corio
