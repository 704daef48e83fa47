// The wake-up handshake (sync/detail/wakeup.hpp): its four steps driven by hand through every
// interleaving that matters, then a real loop hammered exactly at its sleep transition.
#include <atomic>
#include <chrono>
#include <cstdlib>
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
    std::atomic<bool> posting{false};  // the producer's flag (its slot's, in an inbox)
    bool queued = false;               // the "queue"
    handshake() { h.bind(w); }
    bool announce() {
        return h.announce_sleep([this] { return queued; });
    }
    void produce() {
        h.enter(posting);
        queued = true;
        h.leave(posting);
    }
};

// Producer first (enqueue, check), then the loop announces: the re-check sees the message, the
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

// Loop announces, a producer enqueues but has not checked the flag when the re-check runs: the
// loop retracts; the producer's later check finds the flag cleared and sends nothing.
TEST_F(handshake, enqueue_visible_before_the_producers_check_costs_no_wakeup) {
    h.enter(posting);
    h.announce_sleep([this] {
        queued = true;  // the enqueue lands between the announce and the re-check
        return queued;
    });
    h.leave(posting);
    EXPECT_EQ(w.wakes, 0);
}

// The producer's check lands between the announce and the retract: one redundant wake-up,
// counted as such.
TEST_F(handshake, a_wakeup_racing_the_retract_is_counted_redundant) {
    bool may_block = h.announce_sleep([this] {
        produce();  // its check lands after the announce, before the retract
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

// A loop goes quiet (full fences, no membarrier) only when no producer is inside post(): one
// that is may have read "not quiet" and used a compiler barrier only.
TEST_F(handshake, going_quiet_waits_for_no_producer_to_be_posting) {
    h.enter(posting);
    EXPECT_FALSE(h.try_go_quiet([this] { return posting.load(); }));
    EXPECT_FALSE(h.quiet());
    h.leave(posting);
    EXPECT_TRUE(h.try_go_quiet([this] { return posting.load(); }));
    EXPECT_TRUE(h.quiet());
    EXPECT_EQ(h.quiet_switches(), 1u);
    // Quiet, the handshake still wakes a sleeping loop exactly once, and sees an early message.
    EXPECT_TRUE(announce());
    produce();
    produce();
    EXPECT_EQ(w.wakes, 1);
    h.finish_sleep();
    EXPECT_FALSE(announce());  // queued is set: the re-check sees it
    h.stop_being_quiet();
    EXPECT_FALSE(h.quiet());
}

TEST_F(handshake, enter_reports_close_and_close_waits_for_producers) {
    EXPECT_TRUE(h.enter(posting));
    h.leave(posting);
    h.close_barrier();
    EXPECT_FALSE(h.enter(posting));  // a producer inside post(), told the loop is closed
    EXPECT_TRUE(posting.load());     // what the closer waits on
    std::atomic<bool> waited{false};
    std::thread closer([&] {
        detail::wakeup::wait_until_left(posting);
        waited.store(true);
    });
    h.leave(posting);
    closer.join();
    EXPECT_TRUE(waited.load());
    EXPECT_FALSE(posting.load());
}

// CORIO_NO_MEMBARRIER=1 (the ctest entry sync_handshakes_with_full_fences) really selects the
// full-fence fallback, so that run tests the path a kernel without membarrier takes.
TEST(asymmetric_fence, corio_no_membarrier_selects_full_fences) {
    detail::init_asymmetric_fences();
    const char* off = std::getenv("CORIO_NO_MEMBARRIER");
    if (off == nullptr || *off == '\0' || *off == '0')
        GTEST_SKIP() << "membarrier allowed in this run; its availability is the kernel's";
    EXPECT_FALSE(detail::asymmetric_fences_use_membarrier());
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
