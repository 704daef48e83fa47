// The wake-up handshake (sync/detail/wakeup.hpp): its four steps driven by hand through every
// interleaving that matters, then a real loop hammered exactly at its sleep transition.
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include <corio/detail/wakeup.hpp>

#include "loop_thread.hpp"

namespace corio {
namespace {

struct counting_waker final : detail::waker {
    int wakes = 0;
    void wake() noexcept override { ++wakes; }
};

struct handshake : testing::Test {
    counting_waker w;
    detail::wakeup h;
    bool queued = false;  // the "queue"
    handshake() { h.bind(w); }
    bool announce() {
        return h.announce_sleep([this] { return queued; });
    }
    void produce() {
        h.enter();
        queued = true;
        h.leave();
    }
};

// Producer first (enqueue, RMW), then the loop announces: the re-check sees the message, the
// loop does not block, no syscall is made.
TEST_F(handshake, producer_before_announce_is_seen_by_the_recheck) {
    produce();
    EXPECT_FALSE(announce());
    EXPECT_EQ(w.wakes, 0);
    EXPECT_EQ(h.sent(), 0u);
}

// Loop announces (empty), then a producer: it reads "asleep" and wakes the loop, once.
TEST_F(handshake, producer_after_announce_wakes_once) {
    EXPECT_TRUE(announce());
    produce();
    produce();  // the first cleared the flag: no second syscall
    EXPECT_EQ(w.wakes, 1);
    EXPECT_EQ(h.sent(), 1u);
    h.finish_sleep();
}

// Loop announces, a producer enqueues but has not done its RMW when the re-check runs: the
// loop retracts; the producer's later RMW finds the flag cleared and sends nothing.
TEST_F(handshake, enqueue_visible_before_the_producers_rmw_costs_no_wakeup) {
    h.enter();
    h.announce_sleep([this] {
        queued = true;  // the enqueue lands between the announce and the re-check
        return queued;
    });
    h.leave();
    EXPECT_EQ(w.wakes, 0);
}

// The producer's RMW lands between the announce and the retract: one redundant wake-up,
// counted as such.
TEST_F(handshake, a_wakeup_racing_the_retract_is_counted_redundant) {
    bool may_block = h.announce_sleep([this] {
        produce();  // its RMW lands after the announce, before the retract
        return true;
    });
    EXPECT_FALSE(may_block);
    EXPECT_EQ(w.wakes, 1);
    EXPECT_EQ(h.redundant(), 1u);
}

// After finish_sleep a producer sends nothing until the next announce.
TEST_F(handshake, no_wakeup_while_awake) {
    EXPECT_TRUE(announce());
    h.finish_sleep();
    produce();
    EXPECT_EQ(w.wakes, 0);
}

TEST_F(handshake, enter_reports_close_and_close_waits_for_producers) {
    EXPECT_TRUE(h.enter());
    h.leave();
    h.close_barrier();
    EXPECT_FALSE(h.enter());  // a producer inside post()
    std::atomic<bool> waited{false};
    std::thread closer([&] {
        h.wait_for_producers();
        waited.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_FALSE(waited.load());
    h.leave();
    closer.join();
    EXPECT_TRUE(waited.load());
}

using wakeup_race = test::xthread_test;

// The race the handshake exists for: a producer posts at the moment the loop goes to sleep.
// Idle polling is off, so every message that arrives while the loop is idle needs the
// handshake. The producer waits for each message to run and then spins a varying few
// microseconds, which sweeps its next post across the loop's announce/re-check/block window.
// Every message must run promptly: a lost wake-up shows as a timeout.
TEST_P(wakeup_race, message_posted_as_the_loop_sleeps_still_runs_promptly) {
    CORIO_LOOP_OR_SKIP(l, std::chrono::nanoseconds(0));
    test::loop_thread lt(std::move(l));
    std::atomic<int> ran{0};
    const int rounds = 3000;
    for (int i = 0; i < rounds; ++i) {
        lt.loop->call_soon_threadsafe([&ran] { ran.fetch_add(1, std::memory_order_release); });
        ASSERT_TRUE(test::wait_until([&] { return ran.load(std::memory_order_acquire) == i + 1; },
                                     std::chrono::seconds(2)))
            << "message " << i << " not run: lost wake-up";
        const auto spin = std::chrono::nanoseconds((i * 7919) % 20000);
        const auto until = std::chrono::steady_clock::now() + spin;
        while (std::chrono::steady_clock::now() < until) {
        }
    }
    lt.stop_and_join();
    const loop_stats& s = lt.loop->stats();
    EXPECT_GT(s.wakeups_sent, 0u);  // the loop did sleep and was woken
    EXPECT_EQ(s.inbox_messages, static_cast<std::uint64_t>(rounds) + 1);  // + the stop
}

CORIO_INSTANTIATE_BACKENDS(wakeup_race);

}  // namespace
}  // namespace corio
