// The sleep/wake handshake between a loop and the threads that post to its inbox, written once
// (STYLE B4). No asyncio counterpart: asyncio always writes its self-pipe; this writes the
// backend's waker (an eventfd) only when the loop is announced asleep.
//
// The problem is store->load on two variables: the loop stores "asleep" then loads the queue;
// a producer stores into the queue then loads "asleep". Unless each side orders its store
// before its load, both can read the other's old value and the loop sleeps on a message (a
// load may pass an earlier store even on x86). Each side therefore puts a barrier between its
// store and its load, an asymmetric one (asymmetric_fence.hpp): the producer, on every message,
// a compiler barrier; the loop, once per sleep, membarrier(2), which makes the producer's
// thread execute a full barrier wherever it is.
//
//   loop (announce_sleep)                     producer (enter ... leave)
//   1. sleeping_ = true                       a. enqueue the message
//   2. heavy_fence()                          b. light_fence()
//   3. re-check the queue; non-empty:         c. if sleeping_ reads true and
//      retract (exchange(false)), poll           sleeping_.exchange(false) returns true:
//      with timeout 0; empty: block, then        wake()
//      finish_sleep (exchange(false))
//
// Proof. The pair of fences forbids the outcome where 3 misses a's message and c reads the
// false from before 1: with a full barrier on each side this is Dekker's argument, and
// membarrier provides one on the producer's side for as long as it runs concurrently with the
// loop's call (before the call began, its store is already visible; after it returned, its
// load reads 1's store). So either the re-check sees the message and the loop does not block,
// or the producer reads true. Then exactly one of the producers that read true, or the loop's
// own retract, wins the exchange: if a producer wins, it wakes the loop; if the retract wins,
// the loop did not block. A loop woken by another producer's wake-up announces again before
// it next blocks, and that announce's fence and re-check see every message whose producer saw
// true. Redundant wake-ups (the retract lost to a producer) are counted.
//
// No data travels through the flag or the eventfd: the message's happens-before comes from the
// queue's own release/acquire atomics, so ThreadSanitizer, which models neither membarrier nor
// a syscall, sees every data access ordered.
//
// Closing. A producer that is inside post() must not have its inbox freed under it (the loop
// can run its message, close and be destroyed before the producer returns from wake()). Each
// producer thread therefore has a `posting` flag of its own (in its per-thread slot of the
// inbox: no line shared between producers), set on enter and cleared with a release store on
// leave, as its last access. The closer stores closed_, runs heavy_fence(), then waits until
// every slot's flag reads false with acquire: the same asymmetric Dekker pair, so a producer
// that the closer missed reads closed_ == true (and its message is swept later). The closer
// is the rare side again; enter and leave are plain stores.
//
// Quiet loops. membarrier costs the sleeping loop 0.2 us, and 2.7 us plus an interrupt of every
// other running thread of the process (another loop of a runtime) when there is one: a loop
// that blocks 50,000 times a second serving sockets would pay it on each block, for messages
// that never come. So a loop that has heard from no thread in its last few blocking polls goes
// quiet: producers then put a full fence between their enqueue and their load of sleeping_,
// and the loop a full fence between its store and its re-check, a plain Dekker pair with no
// membarrier. Producers read the mode (quiet_) in leave(), after enter()'s fence. Going quiet
// is itself a Dekker pair against producers already past that read: the loop stores quiet_,
// runs heavy_fence() once, and checks every producer's posting flag; if one is set, it may
// have read "not quiet", so the loop stays as it is (and tries again at a later block). A
// producer that read "quiet" uses the full fence, which is right in either mode, so leaving
// quiet (the next message) is a plain store.
//
// Cost per message on the producer: two plain stores to its own slot's line, three loads of
// read-mostly lines (closed_, quiet_, sleeping_), no locked instruction. The loop writes
// sleeping_ only when it goes to sleep. Before this design, two RMWs on one shared word made
// the producer wait for its queue stores to leave the store buffer: BM_threadsafe_flood went
// from about 155 ns to 40 ns per message when they went.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>

#include <corio/detail/asymmetric_fence.hpp>
#include <corio/detail/backend.hpp>
#include <corio/detail/cache_line.hpp>

namespace corio::detail {

/// The quiet switch of a sleeping side (header comment, "Quiet loops"): the inbox's loop, and a
/// channel's receiving loop. Producers read the flag on every message; only the sleeping side
/// writes it, when it switches.
class quiet_mode {
public:
    /// Producer side (thread-safe): whether to add a full fence. hot: no alloc
    bool read() const noexcept { return flag_.load(std::memory_order_relaxed); }

    /// Sleeping side: the mode as it last set it.
    bool on() const noexcept { return on_; }
    /// Goes quiet unless a producer is inside its post (`any_posting()`), which may already
    /// have read "not quiet"; then stays as it is. Returns whether it switched.
    template <class AnyPosting>
    bool try_enter(AnyPosting&& any_posting) noexcept {
        if (on_)
            return false;
        flag_.store(true, std::memory_order_relaxed);
        heavy_fence();  // the flag before the posting flags: pairs with a producer's light fence
        if (any_posting()) {
            flag_.store(false, std::memory_order_relaxed);
            return false;
        }
        on_ = true;
        return true;
    }
    /// Back to membarrier on sleep: a plain store, since a full fence is right in either mode.
    void leave() noexcept {
        if (!on_)
            return;
        on_ = false;
        flag_.store(false, std::memory_order_relaxed);
    }

private:
    std::atomic<bool> flag_{false};
    bool on_ = false;  // sleeping side only; written only when it switches
};

/// The handshake: loop-side calls on the loop's thread only; producer calls from any thread,
/// each with its own `posting` flag.
class wakeup {
public:
    wakeup() noexcept { init_asymmetric_fences(); }

    void bind(waker& w) noexcept { waker_ = &w; }

    // -- producer side (thread-safe) ------------------------------------------------------

    /// Before the enqueue. Returns false if the loop is closed (the caller still enqueues and
    /// leaves; the sweep drops the message). hot: no alloc
    bool enter(std::atomic<bool>& posting) noexcept {
        posting.store(true, std::memory_order_relaxed);
        light_fence();  // posting before closed_: pairs with close_barrier's heavy fence
        return !closed_.load(std::memory_order_relaxed);
    }

    /// After the enqueue: wakes the loop if it is announced asleep, then leaves. After this
    /// returns, the producer touches neither the inbox nor the backend. hot: no alloc
    void leave(std::atomic<bool>& posting) noexcept {
        // The enqueue before sleeping_: pairs with announce_sleep's fence, the heavy one
        // unless the loop is quiet.
        light_fence();
        if (quiet_.read()) [[unlikely]]
            full_fence();
        // The load filters the common case (awake) without writing the line; the exchange
        // picks one waker among the producers that saw the loop asleep.
        if (sleeping_.load(std::memory_order_relaxed) &&
            sleeping_.exchange(false, std::memory_order_relaxed)) {
            // Relaxed: a statistic, read by the loop only for loop_stats.
            sent_.fetch_add(1, std::memory_order_relaxed);
            waker_->wake();
        }
        // Release: our last access to the inbox and the backend, for a waiting closer.
        posting.store(false, std::memory_order_release);
    }

    // -- loop side -------------------------------------------------------------------------

    /// Announces sleep, re-checks with `has_work`, and retracts if it found work. True: the
    /// caller may block (and must call finish_sleep() after the poll).
    template <class HasWork>
    bool announce_sleep(HasWork&& has_work) noexcept {
        sleeping_.store(true, std::memory_order_relaxed);
        if (quiet_.on())
            full_fence();  // producers use one too (header comment, "Quiet loops")
        else
            heavy_fence();
        if (!has_work()) {
            announced_ = true;
            return true;
        }
        // Retract. A producer that already took the flag has sent a wake-up we do not need.
        if (!sleeping_.exchange(false, std::memory_order_relaxed))
            ++redundant_;
        return false;
    }

    /// A loop that hears from no thread: producers use full fences, sleeps need no
    /// membarrier. `any_posting()` tells whether a producer is inside post(); if one is, the
    /// loop stays as it is. Returns whether the loop is quiet now.
    template <class AnyPosting>
    bool try_go_quiet(AnyPosting&& any_posting) noexcept {
        if (quiet_.try_enter(std::forward<AnyPosting>(any_posting)))
            ++quiet_switches_;
        return quiet_.on();
    }
    /// Messages flow again: back to membarrier on sleep, compiler barriers for producers.
    void stop_being_quiet() noexcept { quiet_.leave(); }
    bool quiet() const noexcept { return quiet_.on(); }
    std::uint64_t quiet_switches() const noexcept { return quiet_switches_; }

    /// After the poll: awake again. An exchange, so that a producer that saw the flag set
    /// either wins it (and wakes a loop already awake: harmless) or sees it cleared. Only
    /// after an announce that let the loop block: otherwise the flag is already false, and
    /// writing its line anyway would cost every producer a miss on its next load of it (a
    /// flooded loop that catches up passes here every few messages).
    void finish_sleep() noexcept {
        if (!announced_)
            return;
        announced_ = false;
        sleeping_.exchange(false, std::memory_order_relaxed);
    }

    /// close(): producers entering from now on are told the loop is closed. Then wait, with
    /// wait_until_left(), for each producer flag that may still be set.
    void close_barrier() noexcept {
        closed_.store(true, std::memory_order_relaxed);
        heavy_fence();
    }
    bool closed() const noexcept { return closed_.load(std::memory_order_relaxed); }

    /// Waits until the producer owning `posting` is outside post(): then what it enqueued is
    /// visible and it will not touch the inbox or the backend again (until a new post).
    static void wait_until_left(const std::atomic<bool>& posting) noexcept {
        // Acquire: pairs with leave's release store (the producer's enqueue and wake-up
        // happen-before our sweep and our destructor).
        while (posting.load(std::memory_order_acquire))
            std::this_thread::yield();
    }

    // Counters. sent(): relaxed, a statistic (exact once producers have stopped).
    std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_relaxed); }
    std::uint64_t redundant() const noexcept { return redundant_; }

private:
    // Read by every producer on every message, written by the loop only around a sleep and
    // by the closer: a line of their own.
    alignas(cache_line_size) std::atomic<bool> sleeping_{false};
    std::atomic<bool> closed_{false};
    quiet_mode quiet_;
    waker* waker_ = nullptr;  // set before the loop runs (attach), then read-only
    // Touched only when a wake-up is sent: off the sleeping_ line.
    alignas(cache_line_size) std::atomic<std::uint64_t> sent_{0};
    std::uint64_t redundant_ = 0;  // loop thread only
    bool announced_ = false;       // loop thread only: sleeping_ set and not retracted
    std::uint64_t quiet_switches_ = 0;
};

}  // namespace corio::detail
