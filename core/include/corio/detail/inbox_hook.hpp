// What the loop needs from its remote inbox (sync/ implements it), so that core calls the
// cross-thread machinery without including it. Every member is called on the loop's thread
// (or the thread that closes / destroys it), except post(), which is thread-safe.
//
// The loop's side of the wake-up handshake: before a poll that may block, the loop calls
// prepare_to_block(timeout); if it returns false, messages arrived and the loop polls with a
// zero timeout instead. After the poll, finish_block() retracts the announcement. Producers
// signal the backend's waker only while the loop is announced asleep (sync/detail/wakeup.hpp).
//
// Messages: a remote_message is called exactly once, on the loop's thread, with
// message_fate::run (it runs as a ready callback of step 5), or with message_fate::dropped if
// the loop closed before it could run (the message then tells its submitter: a concurrent
// future fails, a plain callback is counted and reported). A message is never destroyed
// uncalled while its loop lives, so whatever loop-affine state it carries (a future of its
// loop) is released on the loop's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <corio/detail/inbox_cell.hpp>
#include <corio/detail/remote_message.hpp>

namespace corio {
class event_loop;
}

namespace corio::detail {

// Which of the loop's two drains: step 1 of an iteration, or the one right after a poll that
// could block (step 1 found nothing, so whatever is there now woke the loop). Only the first
// may wait for a flood's batch (drain_coalescer.hpp).
enum class drain_point : bool { iteration_start, after_poll };

class inbox_hook {
public:
    virtual ~inbox_hook() = default;  // owned by its loop

    // Called once by the loop's constructor: the inbox learns its loop (stats, the backend's
    // waker).
    virtual void attach(event_loop& loop) = 0;

    // Thread-safe. Enqueues the cell's message and wakes the loop if it is announced asleep.
    // Never throws for a closed loop: returns false when the inbox was closed (the message is
    // then dropped by a later sweep on the loop's thread, close() or the destructor).
    // User-facing entry points check is_closed() first and throw "Event loop is closed". The
    // cell is consumed whether this returns or throws (bad_alloc): its message is in the queue,
    // or was destroyed uncalled, which tells its submitter.
    virtual bool post(inbox_cell&& cell) = 0;
    // The same for a callable taking a message_fate, built in place in the cell, or a
    // remote_message (moved into the cell: one copy more than a callable).
    template <class F>
    requires(!std::is_same_v<std::decay_t<F>, inbox_cell>) bool post(F&& message) {
        return post(inbox_cell(std::in_place, std::forward<F>(message)));
    }

    // Takes the waiting messages and queues their run in the loop's ready queue (after
    // everything already there, in their order); returns how many.
    virtual std::size_t drain(event_loop& loop, drain_point at) = 0;
    // `timeout` is the poll's (negative: no limit); an inbox may poll idly within it.
    virtual bool prepare_to_block(std::chrono::nanoseconds timeout) noexcept = 0;
    virtual void finish_block() noexcept = 0;
    // Thread-safe: about how many messages wait (for loop_stats::inbox_depth).
    virtual std::size_t depth() const noexcept { return 0; }

    // loop.close() and ~event_loop: refuse from now on, and drop what is queued (each message
    // called with message_fate::dropped). Idempotent; every call sweeps again.
    virtual void close(event_loop& loop) noexcept = 0;

    // asyncio's loop.shutdown_default_executor(): the executor lives in sync, the loop only
    // asks for its shutdown (run() does, before close()). Blocks until its workers exit.
    virtual void shutdown_default_executor() = 0;
};

}  // namespace corio::detail
