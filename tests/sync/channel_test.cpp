// channel<T>: one test per rule of <corio/channel.hpp> (FIFO, capacity, blocking send with a
// timeout, close on both sides, cancellation at the moment of a wake-up, owner-loop checks,
// capacity validation, no allocation in steady state), then stresses with producers on threads
// and on loops, with every item accounted for. Single-loop tests run on a manual clock; the
// cross-thread ones synchronise on observable state (waiting_senders(), futures), never on
// sleeps, and every wait is bounded (CORIO_TEST_TIMEOUT_MULTIPLIER).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <corio/channel.hpp>
#include <corio/runners.hpp>
#include <corio/tasks.hpp>
#include <corio/threads.hpp>

#include "../support/alloc_counter.hpp"
#include "../support/error_of.hpp"
#include "../support/manual_clock_loop.hpp"
#include "../support/test_timeout.hpp"
#include "loop_thread.hpp"

namespace corio {
namespace {

using namespace std::chrono_literals;
using test::error_of;
using test::manual_clock_loop;
using log_t = std::vector<std::string>;

// A loop running on its own thread (the automatic backend: the channel never sees it).
std::unique_ptr<test::loop_thread> start_loop() {
    std::string why;
    auto l = test::make_loop(backend_kind::automatic, std::nullopt, &why);
    if (!l)
        throw std::runtime_error("cannot build a loop: " + why);
    return std::make_unique<test::loop_thread>(std::move(l));
}

// Runs `t` on `lt`'s loop and waits for its result, bounded.
template <class T>
T run_there(test::loop_thread& lt, task<T> t) {
    return run_coroutine_threadsafe(std::move(t), *lt.loop).result(test::scaled(20s));
}

task<void> send_logged(channel<int>& ch, int v, log_t& log) {
    try {
        co_await ch.send(v);
        log.push_back("sent:" + std::to_string(v));
    } catch (const channel_closed&) {
        log.push_back("closed:" + std::to_string(v));
    } catch (const cancelled_error&) {
        log.push_back("cancelled:" + std::to_string(v));
        throw;
    }
}

task<void> receive_logged(channel<int>& ch, std::string name, log_t& log) {
    try {
        int v = co_await ch.receive();
        log.push_back(name + ":" + std::to_string(v));
    } catch (const channel_closed&) {
        log.push_back(name + ":closed");
    } catch (const cancelled_error&) {
        log.push_back(name + ":cancelled");
        throw;
    }
}

// Every item left, then the end: what a receiver sees of a closed channel.
task<std::vector<int>> drain_until_closed(channel<int>& ch) {
    std::vector<int> out;
    try {
        for (;;)
            out.push_back(co_await ch.receive());
    } catch (const channel_closed&) {
    }
    co_return out;
}

// -- one rule each ---------------------------------------------------------------------------

TEST(channel, delivers_in_fifo_order_and_counts_its_slots) {
    manual_clock_loop t;
    channel<int> ch(t.loop, 4);
    EXPECT_EQ(ch.capacity(), 4u);
    EXPECT_EQ(&ch.get_loop(), &t.loop);
    auto body = [&]() -> task<std::vector<int>> {
        std::vector<int> out;
        // Several rounds, so that items wrap around the queue's blocks and the receiver's
        // local buffer.
        for (int round = 0; round < 50; ++round) {
            co_await ch.send(4 * round);
            EXPECT_EQ(ch.try_send(4 * round + 1), send_status::sent);
            co_await ch.send(4 * round + 2);
            co_await ch.send(4 * round + 3);
            EXPECT_EQ(ch.size(), 4u);
            out.push_back(co_await ch.receive());
            out.push_back(*ch.try_receive());
            out.push_back(co_await ch.receive());
            out.push_back(co_await ch.receive());
            EXPECT_EQ(ch.size(), 0u);
            EXPECT_FALSE(ch.try_receive().has_value());
        }
        co_return out;
    };
    std::vector<int> expected(200);
    for (int i = 0; i < 200; ++i)
        expected[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(t.loop.run_until_complete(body()), expected);
}

// A receive that found items at its last dequeue, with nothing else to do on its loop, waits
// out the coalescing window before the next dequeue (drain_coalescer.hpp), then gets
// everything in order. try_receive never waits, nor does a receive on a channel too small to
// hold a window's items. The window is long so that the test's own sends cannot outlast it.
TEST(channel, a_receiver_that_keeps_up_waits_for_a_batch_unless_it_only_tries_or_is_small) {
    loop_options o;
    o.inbox_coalesce = 20ms;
    event_loop loop(o);
    auto rounds = [](channel<int>& ch, bool only_try) -> task<std::vector<int>> {
        std::vector<int> out;
        for (int round = 0; round < 2; ++round) {
            for (int i = 0; i < 10; ++i)
                EXPECT_EQ(ch.try_send(10 * round + i), send_status::sent);
            for (int i = 0; i < 10; ++i) {
                if (only_try) {
                    out.push_back(ch.try_receive().value_or(-1));
                } else {
                    int v = co_await ch.receive();
                    out.push_back(v);
                }
            }
        }
        co_return out;
    };
    std::vector<int> expected(20);
    for (int i = 0; i < 20; ++i)
        expected[static_cast<std::size_t>(i)] = i;
    channel<int> small(loop, 1000);
    EXPECT_EQ(loop.run_until_complete(rounds(small, false)), expected);
    EXPECT_EQ(loop.stats().coalesce_waits, 0u);
    channel<int> tried(loop, 1024);
    EXPECT_EQ(loop.run_until_complete(rounds(tried, true)), expected);
    EXPECT_EQ(loop.stats().coalesce_waits, 0u);
    // The second round's first receive finds the buffer empty after a dequeue that found items.
    channel<int> large(loop, 1024);
    EXPECT_EQ(loop.run_until_complete(rounds(large, false)), expected);
    EXPECT_EQ(loop.stats().coalesce_waits, 1u);
    EXPECT_GT(loop.stats().coalesce_ns, 0u);
    loop.close();
}

// Capacity 2: two items fit, the third sender waits; a freed slot goes to the first waiting
// sender, never to a try_send that comes later.
TEST(channel, a_full_channel_makes_senders_wait_first_come_first_served) {
    manual_clock_loop t;
    channel<int> ch(t.loop, 2);
    log_t log;
    auto fill = [&]() -> task<void> {
        EXPECT_EQ(ch.try_send(1), send_status::sent);
        co_await ch.send(2);
        EXPECT_EQ(ch.try_send(99), send_status::full);
    };
    t.loop.run_until_complete(fill());
    auto s3 = t.loop.create_task(send_logged(ch, 3, log));
    auto s4 = t.loop.create_task(send_logged(ch, 4, log));
    t.run_once();
    EXPECT_FALSE(s3.done());
    EXPECT_FALSE(s4.done());
    EXPECT_EQ(ch.waiting_senders(), 2u);

    auto take_one = [&]() -> task<int> {
        int v = co_await ch.receive();
        // The slot went to s3 (still to run): a try_send does not overtake it.
        EXPECT_EQ(ch.try_send(99), send_status::full);
        co_return v;
    };
    EXPECT_EQ(t.loop.run_until_complete(take_one()), 1);
    t.run_once();
    EXPECT_TRUE(s3.done());
    EXPECT_FALSE(s4.done());
    EXPECT_EQ(log, (log_t{"sent:3"}));
    EXPECT_EQ(t.loop.run_until_complete(take_one()), 2);
    t.run_once();
    EXPECT_TRUE(s4.done());
    auto rest = [&]() -> task<std::vector<int>> {
        std::vector<int> out;
        out.push_back(co_await ch.receive());
        out.push_back(co_await ch.receive());
        co_return out;
    };
    EXPECT_EQ(t.loop.run_until_complete(rest()), (std::vector<int>{3, 4}));
    EXPECT_EQ(log, (log_t{"sent:3", "sent:4"}));
    EXPECT_EQ(ch.waiting_senders(), 0u);
}

// A plain thread blocks while the channel is full, gives up with timeout_error (item kept),
// and is woken when the loop frees a slot. On a loop's thread, send_blocking is refused.
TEST(channel, send_blocking_waits_for_room_and_reports_a_timeout) {
    auto lt = start_loop();
    channel<std::unique_ptr<int>> ch(*lt->loop, 1);
    ch.send_blocking(std::make_unique<int>(1), test::scaled(5s));

    auto two = std::make_unique<int>(2);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(error_of<timeout_error>([&] { ch.send_blocking(std::move(two), 20ms); }),
              "corio::channel: send_blocking() timed out: the channel stayed full");
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
    ASSERT_NE(two, nullptr);  // not sent, not moved from
    EXPECT_EQ(ch.waiting_senders(), 0u);
    EXPECT_EQ(ch.size(), 1u);

    std::atomic<bool> sent{false};
    std::thread sender([&] {
        ch.send_blocking(std::move(two), test::scaled(10s));
        sent = true;
    });
    // Blocked for sure (registered in the FIFO) before the loop frees the slot.
    ASSERT_TRUE(test::wait_until([&] { return ch.waiting_senders() == 1; }));
    EXPECT_FALSE(sent.load());
    auto take = [&]() -> task<int> { co_return *co_await ch.receive(); };
    EXPECT_EQ(run_there(*lt, take()), 1);
    sender.join();
    EXPECT_TRUE(sent.load());
    EXPECT_EQ(run_there(*lt, take()), 2);

    auto on_loop = [&]() -> task<std::string> {
        co_return error_of<std::runtime_error>(
            [&] { ch.send_blocking(std::make_unique<int>(3), 1s); });
    };
    EXPECT_EQ(run_there(*lt, on_loop()),
              "corio::channel: send_blocking() would block the running event loop; "
              "co_await send() instead");
}

// Both sides on one loop: a receiver waiting on an empty channel and a sender waiting on a
// full one both wake with channel_closed; an item sent before close() is still received, and
// then receive, try_receive and every send report "closed".
TEST(channel, close_wakes_waiters_on_both_sides_and_keeps_what_was_sent) {
    manual_clock_loop t;
    channel<int> empty(t.loop, 1);
    channel<int> full(t.loop, 1);
    log_t log;
    auto fill = [&]() -> task<void> { co_await full.send(1); };
    t.loop.run_until_complete(fill());
    auto r = t.loop.create_task(receive_logged(empty, "r", log));
    auto s = t.loop.create_task(send_logged(full, 2, log));
    t.run_once();
    ASSERT_FALSE(r.done());
    ASSERT_FALSE(s.done());

    auto close_both = [&]() -> task<void> {
        empty.close();
        full.close();
        full.close();  // idempotent
        co_return;
    };
    t.loop.run_until_complete(close_both());
    t.run_once();
    EXPECT_TRUE(r.done());
    EXPECT_TRUE(s.done());
    EXPECT_EQ(log, (log_t{"r:closed", "closed:2"}));
    EXPECT_TRUE(full.is_closed());

    auto after = [&]() -> task<void> {
        EXPECT_EQ(co_await full.receive(), 1);  // sent before close()
        EXPECT_EQ(error_of<channel_closed>([&] { full.try_receive(); }), "channel is closed");
        EXPECT_EQ(full.try_send(3), send_status::closed);
        bool threw = false;
        try {
            co_await full.send(4);
        } catch (const channel_closed&) {
            threw = true;
        }
        EXPECT_TRUE(threw);
        threw = false;
        try {
            co_await full.receive();
        } catch (const channel_closed&) {
            threw = true;
        }
        EXPECT_TRUE(threw);
    };
    t.loop.run_until_complete(after());
}

task<std::string> send_outcome(channel<int>& ch, int v) {
    try {
        co_await ch.send(v);
        co_return "sent";
    } catch (const channel_closed& e) {
        co_return e.what();
    }
}

// The same across threads: a sender blocked on a plain thread and one waiting on another loop
// are both woken by a close() from a third thread.
TEST(channel, close_wakes_senders_blocked_on_threads_and_on_other_loops) {
    auto owner = start_loop();
    auto other = start_loop();
    channel<int> ch(*owner->loop, 1);
    ch.send_blocking(1);
    std::string thread_outcome;
    std::thread blocked(
        [&] { thread_outcome = error_of<channel_closed>([&] { ch.send_blocking(2); }); });
    auto on_other = run_coroutine_threadsafe(send_outcome(ch, 3), *other->loop);
    ASSERT_TRUE(test::wait_until([&] { return ch.waiting_senders() == 2; }));

    ch.close();
    blocked.join();
    EXPECT_EQ(thread_outcome, "channel is closed");
    EXPECT_EQ(on_other.result(test::scaled(10s)), "channel is closed");
    EXPECT_EQ(run_there(*owner, drain_until_closed(ch)), (std::vector<int>{1}));
    EXPECT_EQ(error_of<channel_closed>([&] { ch.send_blocking(4); }), "channel is closed");
}

// A receiver cancelled in the window between being handed an item and running gives the item
// back; the next waiting receiver gets it. One cancelled while still waiting takes nothing.
TEST(channel, a_receiver_cancelled_as_it_is_woken_passes_the_item_on) {
    manual_clock_loop t;
    channel<int> ch(t.loop, 4);
    log_t log;
    auto r1 = t.loop.create_task(receive_logged(ch, "r1", log));
    auto r2 = t.loop.create_task(receive_logged(ch, "r2", log));
    auto r3 = t.loop.create_task(receive_logged(ch, "r3", log));
    t.run_once();
    r3.cancel();  // still waiting: leaves the FIFO
    auto send_and_cancel = [&]() -> task<void> {
        EXPECT_EQ(ch.try_send(7), send_status::sent);  // handed to r1, which has not run yet
        r1.cancel();
        co_return;
    };
    t.loop.run_until_complete(send_and_cancel());
    t.run_once();
    t.run_once();
    EXPECT_TRUE(r1.cancelled());
    EXPECT_TRUE(r2.done());
    EXPECT_TRUE(r3.cancelled());
    EXPECT_EQ(log, (log_t{"r3:cancelled", "r1:cancelled", "r2:7"}));
    EXPECT_EQ(ch.size(), 0u);

    // Alone: the given-back item is the oldest, and the next receive gets it first.
    auto r4 = t.loop.create_task(receive_logged(ch, "r4", log));
    t.run_once();
    auto send_two_and_cancel = [&]() -> task<void> {
        EXPECT_EQ(ch.try_send(8), send_status::sent);
        EXPECT_EQ(ch.try_send(9), send_status::sent);
        r4.cancel();
        co_return;
    };
    t.loop.run_until_complete(send_two_and_cancel());
    t.run_once();
    EXPECT_TRUE(r4.cancelled());
    auto rest = [&]() -> task<std::vector<int>> {
        std::vector<int> out;
        out.push_back(co_await ch.receive());
        out.push_back(*ch.try_receive());
        co_return out;
    };
    EXPECT_EQ(t.loop.run_until_complete(rest()), (std::vector<int>{8, 9}));
}

// A sender cancelled in the window between being granted a slot and running passes the slot
// to the next waiting sender; one cancelled while waiting sends nothing. No slot is lost: the
// channel fills to exactly its capacity afterwards.
TEST(channel, a_sender_cancelled_as_it_is_granted_a_slot_passes_it_on) {
    manual_clock_loop t;
    channel<int> ch(t.loop, 1);
    log_t log;
    auto fill = [&]() -> task<void> { co_await ch.send(1); };
    t.loop.run_until_complete(fill());
    auto s2 = t.loop.create_task(send_logged(ch, 2, log));
    auto s3 = t.loop.create_task(send_logged(ch, 3, log));
    auto s4 = t.loop.create_task(send_logged(ch, 4, log));
    t.run_once();
    EXPECT_EQ(ch.waiting_senders(), 3u);
    s4.cancel();  // still waiting
    t.run_once();
    EXPECT_EQ(ch.waiting_senders(), 2u);
    auto take_and_cancel = [&]() -> task<int> {
        int v = co_await ch.receive();  // grants the slot to s2, which has not run yet
        s2.cancel();
        co_return v;
    };
    EXPECT_EQ(t.loop.run_until_complete(take_and_cancel()), 1);
    t.run_once();
    t.run_once();
    EXPECT_TRUE(s2.cancelled());
    EXPECT_TRUE(s3.done());
    EXPECT_TRUE(s4.cancelled());
    EXPECT_EQ(log, (log_t{"cancelled:4", "cancelled:2", "sent:3"}));
    auto rest = [&]() -> task<void> {
        EXPECT_EQ(co_await ch.receive(), 3);
        EXPECT_EQ(ch.size(), 0u);
        EXPECT_EQ(ch.try_send(5), send_status::sent);  // the one slot is back
        EXPECT_EQ(ch.try_send(6), send_status::full);
        EXPECT_EQ(co_await ch.receive(), 5);
    };
    t.loop.run_until_complete(rest());
    EXPECT_EQ(ch.waiting_senders(), 0u);
}

TEST(channel, receiving_off_the_owning_loop_is_an_error) {
    auto owner = start_loop();
    auto other = start_loop();
    channel<int> ch(*owner->loop, 2);
    ch.send_blocking(1);
    EXPECT_EQ(error_of<std::runtime_error>([&] { ch.try_receive(); }),
              "corio::channel: try_receive() must be called on the channel's owning loop");
    auto elsewhere = [&]() -> task<std::string> {
        try {
            co_await ch.receive();
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    EXPECT_EQ(run_there(*other, elsewhere()),
              "corio::channel: receive() must be called on the channel's owning loop");
    // Nothing was taken by the refused calls.
    auto take = [&]() -> task<int> { co_return co_await ch.receive(); };
    EXPECT_EQ(run_there(*owner, take()), 1);
}

// An item that counts its live copies: every item a channel takes in is destroyed exactly
// once, whether it was received, still sat in the queue's blocks, or in the receiver's local
// buffer when the channel died; a send from a const reference copies and leaves the original.
struct counted_item {
    static inline int live = 0;
    std::string text;
    explicit counted_item(std::string t) : text(std::move(t)) { ++live; }
    counted_item(const counted_item& o) : text(o.text) { ++live; }
    counted_item(counted_item&& o) noexcept : text(std::move(o.text)) { ++live; }
    counted_item& operator=(const counted_item&) = delete;
    ~counted_item() { --live; }
};

TEST(channel, items_are_destroyed_once_wherever_the_channel_dies_with_them) {
    manual_clock_loop t;
    counted_item::live = 0;
    {
        // A capacity over the receiver's 64-item buffer, so that items are left both in the
        // buffer and in the queue's blocks.
        channel<counted_item> ch(t.loop, 256);
        const counted_item original("a string long enough to live on the heap, not inline");
        auto body = [&]() -> task<std::string> {
            for (int i = 0; i < 200; ++i)
                EXPECT_EQ(ch.try_send(original), send_status::sent);
            EXPECT_EQ(counted_item::live, 201);
            co_return (co_await ch.receive()).text;  // the first dequeue fills the buffer
        };
        EXPECT_EQ(t.loop.run_until_complete(body()), original.text);
        EXPECT_EQ(original.text, "a string long enough to live on the heap, not inline");
        EXPECT_EQ(counted_item::live, 200);
    }
    EXPECT_EQ(counted_item::live, 0);
}

TEST(channel, a_bad_capacity_is_rejected) {
    manual_clock_loop t;
    EXPECT_EQ(error_of<std::invalid_argument>([&] { channel<int> ch(t.loop, 0); }),
              "corio::channel: capacity must be between 1 and 2^30, got 0");
    EXPECT_EQ(error_of<std::invalid_argument>(
                  [&] { channel<int> ch(t.loop, channel<int>::max_capacity + 1); }),
              "corio::channel: capacity must be between 1 and 2^30, got 1073741825");
    EXPECT_EQ(error_of<std::runtime_error>([&] { channel<int> ch(8); }), "no running event loop");
}

// Steady state on one loop: a send and a receive (each with and without waiting) allocate
// nothing; the waits are intrusive nodes in the awaiting frames, not futures.
TEST(channel, steady_state_send_and_receive_allocate_nothing_on_one_loop) {
    manual_clock_loop t;
    channel<std::uint64_t> ch(t.loop, 16);
    auto consumer = [&](std::uint64_t n) -> task<std::uint64_t> {
        std::uint64_t sum = 0;
        for (std::uint64_t i = 0; i < n; ++i)
            sum += co_await ch.receive();
        co_return sum;
    };
    auto round = [&](std::uint64_t n) -> task<std::uint64_t> {
        task<std::uint64_t> c = create_task(consumer(n));
        for (std::uint64_t i = 0; i < n; ++i)
            co_await ch.send(i);  // fills up and waits, over and over
        co_return co_await c;
    };
    constexpr std::uint64_t n = 20000;
    EXPECT_EQ(t.loop.run_until_complete(round(n)), n * (n - 1) / 2);  // warm-up
    auto measured = [&]() -> task<std::uint64_t> {
        test::allocation_scope scope;
        std::uint64_t sum = 0;
        for (std::uint64_t i = 0; i < n; ++i) {
            co_await ch.send(i);
            sum += co_await ch.receive();
        }
        for (std::uint64_t i = 0; i < 16; ++i)
            co_await ch.send(i);
        for (std::uint64_t i = 0; i < 16; ++i)
            sum += *ch.try_receive();
        EXPECT_EQ(scope.allocations(), 0u);
        co_return sum;
    };
    EXPECT_EQ(t.loop.run_until_complete(measured()), n * (n - 1) / 2 + 120);
}

// Steady state across threads: a foreign producer blocking on a small channel and the loop's
// receiver waiting on an empty one allocate nothing per item on either thread.
TEST(channel, steady_state_cross_thread_sends_allocate_nothing) {
    auto lt = start_loop();
    channel<std::uint64_t> ch(*lt->loop, 64);
    constexpr std::uint64_t n = 50000;
    std::atomic<std::uint64_t> consumer_allocations{~std::uint64_t{0}};
    auto consumer = [&]() -> task<std::uint64_t> {
        std::uint64_t sum = 0;
        for (std::uint64_t i = 0; i < n; ++i)
            sum += co_await ch.receive();  // warm-up half
        test::allocation_scope scope;
        for (std::uint64_t i = 0; i < n; ++i)
            sum += co_await ch.receive();
        consumer_allocations = scope.allocations();
        co_return sum;
    };
    auto result = run_coroutine_threadsafe(consumer(), *lt->loop);
    for (std::uint64_t i = 0; i < n; ++i)
        ch.send_blocking(i, test::scaled(10s));
    test::allocation_scope producer;
    for (std::uint64_t i = 0; i < n; ++i)
        ch.send_blocking(i, test::scaled(10s));
    EXPECT_EQ(producer.allocations(), 0u);
    EXPECT_EQ(result.result(test::scaled(20s)), n * (n - 1));
    EXPECT_EQ(consumer_allocations.load(), 0u);
}

// The receivers' sleep race: a thread sends at the moment the receiving task goes to sleep on
// an empty channel. The loop does not idle-poll, so both it and the channel's receiver really
// sleep between items. The sender waits for each item to be received, then spins a varying
// few microseconds, which sweeps its next send across the receiver's arm/fence/re-check
// window. Every item must arrive promptly: a lost wake-up shows as a timeout.
TEST(channel, an_item_sent_as_the_receiver_goes_to_sleep_still_arrives_promptly) {
    std::string why;
    auto l = test::make_loop(backend_kind::automatic, std::chrono::nanoseconds(0), &why);
    ASSERT_NE(l, nullptr) << why;
    test::loop_thread lt(std::move(l));
    channel<int> ch(*lt.loop, 4);
    constexpr int rounds = 3000;
    std::atomic<int> received{0};
    auto receiver = [&]() -> task<long> {
        long sum = 0;
        for (int i = 0; i < rounds; ++i) {
            sum += co_await ch.receive();
            received.store(i + 1, std::memory_order_release);
        }
        co_return sum;
    };
    auto done = run_coroutine_threadsafe(receiver(), *lt.loop);
    for (int i = 0; i < rounds; ++i) {
        ASSERT_EQ(ch.try_send(i), send_status::sent);
        ASSERT_TRUE(
            test::wait_until([&] { return received.load(std::memory_order_acquire) == i + 1; }, 2s))
            << "item " << i << " not received: lost wake-up";
        const auto spin = std::chrono::nanoseconds((i * 7919) % 20000);
        const auto until = std::chrono::steady_clock::now() + spin;
        while (std::chrono::steady_clock::now() < until) {
        }
    }
    EXPECT_EQ(done.result(test::scaled(10s)), static_cast<long>(rounds) * (rounds - 1) / 2);
    EXPECT_EQ(ch.size(), 0u);
}

// A receiver that sleeps after every item goes quiet; one that then takes a long run of items
// without sleeping goes back, so busy senders use the light fence again.
TEST(channel, a_receiver_goes_quiet_when_it_sleeps_per_item_and_back_when_busy) {
    std::string why;
    auto l = test::make_loop(backend_kind::automatic, std::chrono::nanoseconds(0), &why);
    ASSERT_NE(l, nullptr) << why;
    test::loop_thread lt(std::move(l));
    channel<int> ch(*lt.loop, 1024);
    constexpr int slow = 64;
    constexpr int burst = 1000;
    std::atomic<int> received{0};
    std::atomic<int> sent{0};
    auto receiver = [&]() -> task<std::pair<bool, bool>> {
        for (int i = 0; i < slow; ++i) {
            co_await ch.receive();
            // Its sender must be out of try_send before this receiver arms again: a sender
            // still in its send (its `posting` flag up, e.g. preempted by this wake-up) makes
            // the switch wait, rightly, for a later sleep.
            const auto deadline = std::chrono::steady_clock::now() + 2s;
            while (sent.load(std::memory_order_acquire) <= i &&
                   std::chrono::steady_clock::now() < deadline) {
                std::this_thread::yield();
            }
            received.store(i + 1, std::memory_order_release);
        }
        const bool quiet_after_slow = detail::channel_access::core(ch).receiver_quiet();
        while (ch.size() < static_cast<std::size_t>(burst))  // the whole burst is in
            co_await sleep(0.0005);
        for (int i = 0; i < burst; ++i)
            co_await ch.receive();
        co_return std::pair(quiet_after_slow, detail::channel_access::core(ch).receiver_quiet());
    };
    auto done = run_coroutine_threadsafe(receiver(), *lt.loop);
    for (int i = 0; i < slow; ++i) {  // one at a time, each once the receiver sleeps
        ASSERT_EQ(ch.try_send(i), send_status::sent);
        sent.store(i + 1, std::memory_order_release);
        ASSERT_TRUE(test::wait_until(
            [&] { return received.load(std::memory_order_acquire) == i + 1; }, 2s));
        // Asleep means the receiver has armed for the next item: no send races its switch.
        ASSERT_TRUE(test::wait_until([&] { return lt.loop->stats().asleep_since_ns != 0; }, 2s));
    }
    for (int i = 0; i < burst; ++i)
        ASSERT_EQ(ch.try_send(slow + i), send_status::sent);
    const auto [quiet_after_slow, quiet_after_burst] = done.result(test::scaled(10s));
    EXPECT_TRUE(quiet_after_slow);
    EXPECT_FALSE(quiet_after_burst);
}

// The waiting senders' race: a receive frees the only slot at the moment a sender on another
// loop finds the channel full and starts to wait (no spinning first: co_await send enlists at
// once). The receiver pauses a varying few microseconds between receives to sweep the free
// across the enlist. A slot freed as the sender enlists must reach it: a lost slot stalls the
// run, which shows as a timeout.
TEST(channel, a_slot_freed_as_a_sender_starts_to_wait_is_not_lost) {
    auto owner = start_loop();
    auto other = start_loop();
    channel<int> ch(*owner->loop, 1);
    constexpr int rounds = 3000;
    auto sender = [&]() -> task<void> {
        for (int i = 0; i < rounds; ++i)
            co_await ch.send(i);
    };
    auto receiver = [&]() -> task<long> {
        long sum = 0;
        for (int i = 0; i < rounds; ++i) {
            const int v = co_await ch.receive();
            EXPECT_EQ(v, i);
            sum += v;
            const auto spin = std::chrono::nanoseconds((i * 7919) % 10000);
            const auto until = std::chrono::steady_clock::now() + spin;
            while (std::chrono::steady_clock::now() < until) {
            }
        }
        co_return sum;
    };
    auto received = run_coroutine_threadsafe(receiver(), *owner->loop);
    auto sent = run_coroutine_threadsafe(sender(), *other->loop);
    sent.result(test::scaled(20s));
    EXPECT_EQ(received.result(test::scaled(20s)), static_cast<long>(rounds) * (rounds - 1) / 2);
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_EQ(ch.waiting_senders(), 0u);
}

// Batches: a sender thread takes a few slots at once (capacity / 64, at most 32) and keeps the
// unused ones for its next sends. They are not occupied (size() leaves them out), and they are
// not lost to others: a sender that must wait takes them back first, so a thread that sent
// once and then stopped does not shrink the channel.
TEST(channel, a_sender_that_must_wait_takes_back_slots_an_idle_sender_holds) {
    auto lt = start_loop();
    constexpr int capacity = 256;  // batches of 4
    channel<int> ch(*lt->loop, capacity);
    std::atomic<bool> sent_once{false};
    std::atomic<bool> finish{false};
    std::thread idle([&] {
        ch.send_blocking(0, test::scaled(5s));  // takes 4 slots, uses 1
        sent_once = true;
        test::wait_until([&] { return finish.load(); }, 30s);  // alive, holding 3
    });
    ASSERT_TRUE(test::wait_until([&] { return sent_once.load(); }));
    EXPECT_EQ(ch.size(), 1u);
    // The last three of these fit only in the idle thread's slots.
    std::string error;
    try {
        for (int i = 1; i < capacity; ++i)
            ch.send_blocking(int{i}, test::scaled(5s));
    } catch (const timeout_error& e) {
        error = e.what();
    }
    EXPECT_EQ(error, "");
    EXPECT_EQ(ch.size(), static_cast<std::size_t>(capacity));
    EXPECT_EQ(ch.try_send(-1), send_status::full);
    finish = true;
    idle.join();
    auto drain = [&]() -> task<std::vector<int>> {
        std::vector<int> out;
        while (std::optional<int> v = ch.try_receive())
            out.push_back(*v);
        std::sort(out.begin(), out.end());  // two senders: no order between them
        co_return out;
    };
    std::vector<int> expected(capacity);
    for (int i = 0; i < capacity; ++i)
        expected[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(run_there(*lt, drain()), expected);
    EXPECT_EQ(ch.size(), 0u);
}

// close() takes the unused slots of every batch back too: the receiver sees "closed" once the
// items sent are received, without waiting for slots nobody will use, and the thread that
// held them cannot send with them any more.
TEST(channel, close_takes_back_slots_senders_hold_unused) {
    auto lt = start_loop();
    channel<int> ch(*lt->loop, 256);
    std::atomic<bool> sent_once{false};
    std::atomic<bool> closed{false};
    send_status after_close = send_status::sent;
    std::thread sender([&] {
        ch.send_blocking(7, test::scaled(5s));  // takes 4 slots, uses 1
        sent_once = true;
        test::wait_until([&] { return closed.load(); }, 30s);
        after_close = ch.try_send(8);
    });
    ASSERT_TRUE(test::wait_until([&] { return sent_once.load(); }));
    ch.close();
    closed = true;
    sender.join();
    EXPECT_EQ(after_close, send_status::closed);
    EXPECT_EQ(run_there(*lt, drain_until_closed(ch)), std::vector<int>{7});
    EXPECT_EQ(ch.size(), 0u);
}

// -- stress ----------------------------------------------------------------------------------

long scale(long base) {
    const char* s = std::getenv("CORIO_STRESS_SCALE");
    const double f = s != nullptr && std::atof(s) > 0 ? std::atof(s) : 1.0;
    return std::max(1L, static_cast<long>(static_cast<double>(base) * f));
}

struct tagged {
    int producer;
    long seq;
};

// Per-producer FIFO and exact counts, checked on the receiving loop as items arrive.
struct fifo_check {
    explicit fifo_check(int producers) : next(static_cast<std::size_t>(producers), 0) {}
    std::vector<long> next;
    long received = 0;
    long out_of_order = 0;
    void saw(const tagged& t) {
        long& expected = next[static_cast<std::size_t>(t.producer)];
        if (t.seq != expected)
            ++out_of_order;
        expected = t.seq + 1;
        ++received;
    }
};

task<long> send_all_from_loop(channel<tagged>& ch, int producer, long count) {
    long sent = 0;
    try {
        for (long i = 0; i < count; ++i) {
            co_await ch.send(tagged{producer, i});
            ++sent;
        }
    } catch (const channel_closed&) {
    }
    co_return sent;
}

// Stops at channel_closed; returns how many were sent.
long send_all_from_thread(channel<tagged>& ch, int producer, long count, bool use_try_send) {
    long i = 0;
    try {
        for (; i < count; ++i) {
            if (!use_try_send) {
                ch.send_blocking(tagged{producer, i}, test::scaled(20s));
                continue;
            }
            send_status st;
            while ((st = ch.try_send(tagged{producer, i})) == send_status::full)
                std::this_thread::yield();
            if (st == send_status::closed)
                break;
        }
    } catch (const channel_closed&) {
    }
    return i;
}

task<void> receive_until_closed(channel<tagged>& ch, fifo_check& check, long close_after,
                                long total) {
    try {
        for (;;) {
            check.saw(co_await ch.receive());
            if (check.received == close_after)
                ch.close();
            if (check.received == total && close_after < 0)
                co_return;
        }
    } catch (const channel_closed&) {
    }
}

// Four producers (two plain threads: send_blocking and try_send; two loops: co_await send)
// into a loop through a small channel, so that every waiting path runs all the time;
// close_after >= 0 closes the channel from the receiver midway. Every item is received once,
// in per-producer order, and exactly the items whose send succeeded. A capacity of 128 or more
// makes the senders take slots in batches, and every wait take the unused ones back.
void run_four_producers(long per_producer, long close_after, std::size_t capacity) {
    auto owner = start_loop();
    auto loop_a = start_loop();
    auto loop_b = start_loop();
    channel<tagged> ch(*owner->loop, capacity);
    fifo_check check(4);
    const long total = 4 * per_producer;
    auto receiver =
        run_coroutine_threadsafe(receive_until_closed(ch, check, close_after, total), *owner->loop);
    auto a = run_coroutine_threadsafe(send_all_from_loop(ch, 0, per_producer), *loop_a->loop);
    auto b = run_coroutine_threadsafe(send_all_from_loop(ch, 1, per_producer), *loop_b->loop);
    long sent_c = 0;
    long sent_d = 0;
    std::thread c([&] { sent_c = send_all_from_thread(ch, 2, per_producer, false); });
    std::thread d([&] { sent_d = send_all_from_thread(ch, 3, per_producer, true); });
    c.join();
    d.join();
    const long sent_a = a.result(test::scaled(30s));
    const long sent_b = b.result(test::scaled(30s));
    if (close_after < 0) {
        receiver.result(test::scaled(30s));
    } else {
        ch.close();  // idempotent; ends the receiver if it stopped short of close_after
        receiver.result(test::scaled(30s));
    }
    const long sent = sent_a + sent_b + sent_c + sent_d;
    if (close_after < 0) {
        EXPECT_EQ(sent, total);
    }
    EXPECT_EQ(check.received, sent);
    EXPECT_EQ(check.out_of_order, 0);
    EXPECT_EQ(check.next, (std::vector<long>{sent_a, sent_b, sent_c, sent_d}));
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_EQ(ch.waiting_senders(), 0u);
}

TEST(channel_stress, four_producers_on_threads_and_loops_exact_counts_and_fifo) {
    const auto start = std::chrono::steady_clock::now();
    run_four_producers(scale(10000), -1, 8);
    EXPECT_LT(std::chrono::steady_clock::now() - start, test::scaled(30s));
}

TEST(channel_stress, four_producers_taking_slots_in_batches_exact_counts_and_fifo) {
    const auto start = std::chrono::steady_clock::now();
    run_four_producers(scale(20000), -1, 1024);  // batches of 16
    EXPECT_LT(std::chrono::steady_clock::now() - start, test::scaled(30s));
}

TEST(channel_stress, close_while_sending_accounts_for_every_item) {
    for (int round = 0; round < 6; ++round) {
        run_four_producers(scale(5000), scale(4000) + round * 997, round % 2 == 0 ? 8 : 1024);
    }
}

// Cancellation racing wake-ups across threads: receivers on the owning loop and senders on
// another loop are cancelled at random, many of them at the moment a hand-over or a grant is
// on its way. Every item whose send succeeded is received exactly once, the plain thread's in
// order, and no slot is lost (the run would stall otherwise, and size() ends at 0).
struct xorshift {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

task<void> receive_into(channel<tagged>& ch, std::vector<tagged>& out) {
    out.push_back(co_await ch.receive());
}

task<void> cancelling_receivers(channel<tagged>& ch, std::vector<tagged>& out,
                                std::atomic<long>& expected) {
    xorshift rng{0x9e3779b97f4a7c15ull};
    std::vector<task<void>> live;
    while (expected.load() < 0 || static_cast<long>(out.size()) < expected.load()) {
        while (live.size() < 4)
            live.push_back(create_task(receive_into(ch, out)));
        if (rng.next() % 3 == 0)
            live[rng.next() % live.size()].cancel();
        co_await sleep(0);
        std::erase_if(live, [](const task<void>& t) { return t.done(); });
    }
    for (auto& t : live)
        t.cancel();
    for (auto& t : live) {
        try {
            co_await t;
        } catch (const cancelled_error&) {
        }
    }
}

task<void> send_tagged(channel<tagged>& ch, tagged item, std::vector<long>& sent) {
    co_await ch.send(item);
    sent.push_back(item.seq);
}

task<std::vector<long>> cancelling_senders(channel<tagged>& ch, long count) {
    xorshift rng{0x2545f4914f6cdd1dull};
    std::vector<long> sent;
    std::vector<task<void>> live;
    for (long i = 0; i < count || !live.empty();) {
        while (i < count && live.size() < 4)
            live.push_back(create_task(send_tagged(ch, tagged{1, i++}, sent)));
        if (rng.next() % 3 == 0)
            live[rng.next() % live.size()].cancel();
        co_await sleep(0);
        std::erase_if(live, [](const task<void>& t) { return t.done(); });
    }
    co_return sent;
}

TEST(channel_stress, cancellation_racing_wakeups_loses_no_item_and_no_slot) {
    auto owner = start_loop();
    auto senders = start_loop();
    channel<tagged> ch(*owner->loop, 2);
    std::vector<tagged> received;  // owner loop only
    std::atomic<long> expected{-1};
    auto receiver =
        run_coroutine_threadsafe(cancelling_receivers(ch, received, expected), *owner->loop);
    const long n = scale(5000);
    auto loop_sender = run_coroutine_threadsafe(cancelling_senders(ch, n), *senders->loop);
    for (long i = 0; i < n; ++i)
        ch.send_blocking(tagged{0, i}, test::scaled(20s));
    const std::vector<long> loop_sent = loop_sender.result(test::scaled(30s));
    expected = n + static_cast<long>(loop_sent.size());
    receiver.result(test::scaled(30s));

    std::vector<long> from_thread;
    std::vector<long> from_loop;
    for (const tagged& t : received)
        (t.producer == 0 ? from_thread : from_loop).push_back(t.seq);
    std::vector<long> all(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i)
        all[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(from_thread, all);  // exactly once, in order
    std::vector<long> sorted_sent = loop_sent;
    std::sort(sorted_sent.begin(), sorted_sent.end());
    std::sort(from_loop.begin(), from_loop.end());
    EXPECT_EQ(from_loop, sorted_sent);  // exactly the sends that succeeded
    EXPECT_GT(loop_sent.size(), 0u);
    EXPECT_LT(loop_sent.size(), static_cast<std::size_t>(n));  // some were cancelled
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_EQ(ch.waiting_senders(), 0u);
}

}  // namespace
}  // namespace corio
