// Per-loop counters: what a benchmark or an operator needs to see what a loop did, in one
// place (loop.stats()), rather than metrics scattered through the code.
#pragma once

#include <cstdint>

namespace corio {

struct loop_stats {
    std::uint64_t iterations = 0;          // run_once() calls
    std::uint64_t callbacks_run = 0;       // callback records executed (not the skipped ones)
    std::uint64_t callbacks_cancelled = 0; // records skipped because their handle was cancelled
    std::uint64_t coroutines_resumed = 0;
    std::uint64_t io_completions = 0;      // I/O operations the backend finished
    std::uint64_t timers_scheduled = 0;
    std::uint64_t timers_fired = 0;        // moved to the ready queue at their deadline
    std::uint64_t timers_cancelled = 0;
    std::uint64_t timer_compactions = 0;
    std::uint64_t polls = 0;               // backend polls that could block or had interest
    std::uint64_t polls_skipped = 0;       // timeout-0 polls the backend answered without a syscall
    std::uint64_t blocking_polls = 0;      // polls entered with a non-zero timeout
    std::uint64_t wakeups_received = 0;    // wake-up signals the backend consumed
    std::uint64_t wakeups_sent = 0;        // producers' wake-up syscalls to this loop (inbox)
    std::uint64_t wakeups_redundant = 0;   // of those, sent while the loop had found work anyway
    std::uint64_t inbox_messages = 0;      // messages drained from the inbox
    std::uint64_t inbox_dropped = 0;       // call_soon_threadsafe callbacks dropped by close()
    std::uint64_t idle_poll_ns = 0;        // time spent polling the inbox idly before blocking
    std::uint64_t idle_poll_hits = 0;      // idle polls that found a message (no block)
    std::uint64_t callback_errors = 0;     // callbacks that threw, reported to the handler
    std::uint64_t slow_callbacks = 0;      // debug mode: callbacks over slow_callback_duration
};

}  // namespace corio
