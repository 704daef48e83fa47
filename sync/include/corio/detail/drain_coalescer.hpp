// When a consumer that keeps up with a producer on another thread drains their queue: at most
// once per window. Used by a loop's inbox (step 1 of an iteration) and by a channel's receive
// (a dequeue into the receiver's buffer), with the inbox's window. Network cards call this
// interrupt coalescing (Linux NAPI, ethtool's rx-usecs); no asyncio counterpart (asyncio
// drains its self-pipe whenever select returns).
//
// Why. Under a flood the loop keeps up: each iteration finds the few messages that came while
// it ran the last ones (about 4 on this 2-vCPU VM). Every dequeue reads the producer's tail
// index and the block lines it is still writing, so the producer's next store to each of them
// waits for the line to come back: a round trip between cores every few messages, on both
// sides. BM_threadsafe_flood took 3.7x BM_raw_queue_flood that way, whose consumer, with less
// to do per call, already finds 16-29 messages per dequeue (and gets faster still when it
// lags: 11.5 -> 8 ns per message when it spins 100 ns between dequeues). A loop that waits
// until a window has passed since its last drain, touching nothing the producer writes, drains
// 100-170 messages at a time instead.
//
// The rules, each for a case that waiting would hurt:
// - Only in a flood: the previous drain at the top of an iteration found messages too. A
//   round trip (one message, then a reply, then the next) finds its inbox empty at the top of
//   the iteration after the one that ran it, and never waits.
// - Only when the loop has nothing else ready: a busy loop drains what is there.
// - Until the window's end measured from the previous drain: a loop whose batch took longer
//   than the window does not wait at all, so a loop that is the bottleneck loses nothing.
// - Not after a drain that took as many as one drain takes: the producer is ahead.
// - A wait that yields fewer than min_batch messages did not pay (a slow producer, two
//   round trips interleaved): the next backoff_drains drains do not wait.
// Cost: under a flood, a message waits up to one window longer (default 2 us, against a
// wake-up from sleep that takes about 40 us here); the spin reads only the clock.
//
// The rules are logic on timestamps, which tests drive directly; wait_out() is the spin.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <corio/detail/cpu_relax.hpp>

namespace corio::detail {

class drain_coalescer {
public:
    static constexpr std::size_t min_batch = 8;
    static constexpr unsigned backoff_drains = 64;

    /// window_ns 0 disables coalescing. full_batch: the most one drain takes; a drain that
    /// took that many left the producer ahead, and the next one does not wait.
    drain_coalescer(std::int64_t window_ns, std::size_t full_batch) noexcept
        : window_ns_(window_ns), full_batch_(full_batch) {}

    /// Before a drain (the inbox's at the top of an iteration, a receive's dequeue): whether
    /// this one may wait. Reads no clock.
    bool may_wait(bool loop_has_other_work) const noexcept {
        return flooded_ && backoff_ == 0 && !loop_has_other_work;
    }
    /// If may_wait(): until when (now_ns()'s clock). wait_out() waits for it; a caller that
    /// waits otherwise calls waited() after.
    std::int64_t deadline() const noexcept { return last_drain_ns_ + window_ns_; }
    void waited() noexcept { waited_ = true; }

    /// Whether drained() needs the time: only if the next drain may wait (no clock read on a
    /// drain that finds nothing, or while backing off).
    bool wants_clock(std::size_t taken) const noexcept {
        return window_ns_ > 0 && taken > 0 && backoff_ <= 1;
    }
    /// After that drain, with how many messages it took and the time it began if the caller
    /// has it (wait_out's), else 0: the clock is then read here, only if wants_clock(taken).
    void drained(std::size_t taken, std::int64_t began_ns) noexcept {
        if (taken == 0) {  // the flood, if any, is over
            flooded_ = false;
            waited_ = false;
            return;
        }
        if (wants_clock(taken))
            last_drain_ns_ = began_ns != 0 ? began_ns : now_ns();
        if (backoff_ > 0)
            --backoff_;
        if (waited_ && taken < min_batch)
            backoff_ = backoff_drains;
        waited_ = false;
        flooded_ = window_ns_ > 0 && taken < full_batch_;
    }

    std::int64_t window_ns() const noexcept { return window_ns_; }

    /// The coalescing clock: steady, whatever clock the loop runs on (a test's manual clock
    /// would never end a wait).
    static std::int64_t now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    /// If may_wait(): waits until deadline(), reading only the clock (a look at the queue
    /// would read the lines the producer is writing, which is what the wait is for). Returns
    /// the time it ended and adds the wait, if any, to `waits` and `waited_ns`.
    template <class Counter>
    std::int64_t wait_out(Counter& waits, Counter& waited_ns) noexcept {
        const std::int64_t start = now_ns();
        if (start >= deadline())
            return start;  // the last batch took the whole window
        std::int64_t now = start;
        do {
            cpu_relax();
            now = now_ns();
        } while (now < deadline());
        waited();
        waits += 1;
        waited_ns += static_cast<std::uint64_t>(now - start);
        return now;
    }

private:
    std::int64_t window_ns_;
    std::size_t full_batch_;
    std::int64_t last_drain_ns_ = 0;
    unsigned backoff_ = 0;  // drains left that may not wait
    bool flooded_ = false;  // the last drain found messages
    bool waited_ = false;   // this drain waited for its batch
};

}  // namespace corio::detail
