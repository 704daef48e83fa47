// When a loop flooded with cross-thread messages drains its inbox: at most once per window.
// Network cards call this interrupt coalescing (Linux NAPI, ethtool's rx-usecs); no asyncio
// counterpart (asyncio drains its self-pipe whenever select returns).
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
// - A wait that yields fewer than min_batch messages did not pay (a slow producer, two
//   round trips interleaved): the next backoff_drains drains do not wait.
// Cost: under a flood, a message waits up to one window longer (default 2 us, against a
// wake-up from sleep that takes about 40 us here); the spin reads only the clock.
//
// Pure logic on timestamps (the inbox reads the clock and spins), so tests drive it directly.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corio::detail {

class inbox_coalescer {
public:
    static constexpr std::size_t min_batch = 8;
    static constexpr unsigned backoff_drains = 64;

    /// window_ns 0 disables coalescing.
    explicit inbox_coalescer(std::int64_t window_ns) noexcept : window_ns_(window_ns) {}

    /// Before a drain at the top of an iteration: whether this one may wait. Reads no clock.
    bool may_wait(bool loop_has_other_work) const noexcept {
        return flooded_ && backoff_ == 0 && !loop_has_other_work;
    }
    /// If may_wait(): until when (steady-clock ns). The caller waits, then calls waited().
    std::int64_t deadline() const noexcept { return last_drain_ns_ + window_ns_; }
    void waited() noexcept { waited_ = true; }

    /// Whether drained() needs the time: only if the next drain may wait (no clock read on a
    /// drain that finds nothing, or while backing off).
    bool wants_clock(std::size_t taken) const noexcept {
        return window_ns_ > 0 && taken > 0 && backoff_ <= 1;
    }
    /// After that drain, with how many messages it took and, if wants_clock(taken), the time
    /// it began (or a time close to it); otherwise now_ns is ignored.
    void drained(std::size_t taken, std::int64_t now_ns) noexcept {
        if (taken == 0) {  // the flood, if any, is over
            flooded_ = false;
            waited_ = false;
            return;
        }
        if (wants_clock(taken))
            last_drain_ns_ = now_ns;
        if (backoff_ > 0)
            --backoff_;
        if (waited_ && taken < min_batch)
            backoff_ = backoff_drains;
        waited_ = false;
        flooded_ = window_ns_ > 0;
    }

    std::int64_t window_ns() const noexcept { return window_ns_; }

private:
    std::int64_t window_ns_;
    std::int64_t last_drain_ns_ = 0;
    unsigned backoff_ = 0;  // drains left that may not wait
    bool flooded_ = false;  // the last drain found messages
    bool waited_ = false;   // this drain waited for its batch
};

}  // namespace corio::detail
