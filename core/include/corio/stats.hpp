// Per-loop counters: what a benchmark or an operator needs to see what a loop did, in one
// place (loop.stats()), rather than metrics scattered through the code.
//
// Each counter has one writer, the loop's own thread, and may be read from any thread: a
// relaxed atomic whose increment is a plain load and store (no locked instruction), so
// counting costs what a plain integer costs and loop.stats() is a race-free snapshot from
// anywhere (Seastar's per-shard metrics, read by a scraper thread). A snapshot is not taken
// at one instant: counters read a few nanoseconds apart may disagree by an event or two.
#pragma once

#include <atomic>
#include <cstdint>

namespace corio {

/// One counter of loop_stats: single writer, any reader.
class stat_counter {
public:
    constexpr stat_counter(std::uint64_t v = 0) noexcept : v_(v) {}
    stat_counter(const stat_counter& o) noexcept : v_(o.load()) {}
    stat_counter& operator=(const stat_counter& o) noexcept {
        store(o.load());
        return *this;
    }
    stat_counter& operator=(std::uint64_t v) noexcept {
        store(v);
        return *this;
    }
    stat_counter& operator++() noexcept {
        store(load() + 1);
        return *this;
    }
    stat_counter& operator+=(std::uint64_t d) noexcept {
        store(load() + d);
        return *this;
    }
    operator std::uint64_t() const noexcept { return load(); }
    std::uint64_t load() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    void store(std::uint64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
    std::atomic<std::uint64_t> v_;
};

struct loop_stats {
    stat_counter iterations;           // run_once() calls
    stat_counter callbacks_run;        // callback records executed (not the skipped ones)
    stat_counter callbacks_cancelled;  // records skipped because their handle was cancelled
    stat_counter coroutines_resumed;   // task steps
    stat_counter io_completions;       // I/O operations the backend finished
    stat_counter io_parts;             // parts of multishot ops delivered (io_op.hpp)
    stat_counter timers_scheduled;
    stat_counter timers_fired;  // moved to the ready queue at their deadline
    stat_counter timers_cancelled;
    stat_counter timer_compactions;
    stat_counter polls;              // backend polls that could block or had interest
    stat_counter polls_skipped;      // timeout-0 polls the backend answered without a syscall
    stat_counter blocking_polls;     // polls entered with a non-zero timeout
    stat_counter sleep_ns;           // time spent inside those blocking polls
    stat_counter run_ns;             // time inside run_forever/run_until_complete
    stat_counter wakeups_received;   // wake-up signals the backend consumed
    stat_counter wakeups_sent;       // producers' wake-up syscalls to this loop (inbox)
    stat_counter wakeups_redundant;  // of those, sent while the loop had found work anyway
    stat_counter inbox_messages;     // messages drained from the inbox
    stat_counter inbox_depth;        // messages waiting in the inbox (an estimate, at the snapshot)
    stat_counter inbox_dropped;      // call_soon_threadsafe callbacks dropped by close()
    stat_counter idle_poll_ns;       // time spent polling the inbox idly before blocking
    stat_counter idle_poll_hits;     // idle polls that found a message (no block)
    stat_counter coalesce_waits;     // flooded drains that waited for a batch (drain_coalescer)
    stat_counter coalesce_ns;        // time spent in those waits
    stat_counter callback_errors;    // callbacks that threw, reported to the handler
    stat_counter slow_callbacks;     // debug mode: callbacks over slow_callback_duration
    stat_counter slow_iterations;    // debug mode: iterations whose work took longer than that
    // Loop clock when the current run and the current blocking poll began (0: not now); a
    // snapshot adds the time since to run_ns and sleep_ns, so both are up to date.
    stat_counter running_since_ns;
    stat_counter asleep_since_ns;
};

}  // namespace corio
