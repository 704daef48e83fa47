// Unix signal handlers on an event loop: asyncio's loop.add_signal_handler and
// loop.remove_signal_handler (unix_events.py), as free functions taking the loop, like the
// sock_* functions.
//
//     corio::event_loop loop;
//     corio::add_signal_handler(loop, SIGINT, [&] { loop.stop(); });   // clean Ctrl-C
//     corio::add_signal_handler(loop, SIGTERM, [&] { loop.stop(); });
//     loop.run_forever();
//
// How it works: the signal is blocked in the calling thread and read from a signalfd by an op
// on the loop (io_uring: a read of the signalfd; epoll: wait until it is readable, then read).
// Each signalfd_siginfo read schedules the handler with call_soon, so the handler runs on the
// loop's thread as an ordinary callback, in a later iteration, never inside a signal handler
// (asyncio's _handle_signal). Its exceptions go to the loop's exception handler. Two deliveries
// of the same signal before the loop reads them are one delivery, as the kernel merges pending
// standard signals.
//
// The signal mask: what the user must do. A blocked signal that the kernel directs at the
// process (kill(pid), Ctrl-C) goes to any thread that does *not* block it, and there runs its
// default action, which for most signals ends the process. So the signal must be blocked in
// every thread of the process, and in particular in the thread that runs the loop:
// - add_signal_handler blocks it in the calling thread only, and threads that thread creates
//   afterwards inherit the mask (pthread_create copies it);
// - so call add_signal_handler (or block the signals yourself with pthread_sigmask) in main()
//   before any other thread exists: before a runtime starts its loop threads, before the
//   default executor or any thread pool starts its workers;
// - call it on the thread that runs the loop (asyncio requires the main thread). signalfd only
//   reads signals pending for the process or for the reading thread: a signal raise()d in
//   another thread stays pending there.
// Subprocesses do not inherit these blocks: create_subprocess_exec starts the child with the
// signals corio blocked unblocked again.
//
// Used only on the loop's thread, like the loop's own methods. One loop per signal: a signal
// that has a handler on one loop cannot get one on another (std::runtime_error).
#pragma once

#include <functional>

#include <corio/events.hpp>

namespace corio {

/// asyncio's loop.add_signal_handler: from now on `callback` runs on `loop` (scheduled with
/// call_soon) each time `signum` is delivered. Replaces the loop's previous handler for the
/// signal. Blocks the signal in the calling thread (see above for the other threads).
/// Throws std::invalid_argument for an invalid signal number (asyncio's ValueError) or an
/// empty callback; std::runtime_error for SIGKILL and SIGSTOP ("sig 9 cannot be caught"), on
/// a closed loop ("Event loop is closed"), for a signal handled on another loop, and
/// std::system_error if the signalfd cannot be made.
void add_signal_handler(event_loop& loop, int signum, std::function<void()> callback);

/// asyncio's loop.remove_signal_handler: true if a handler was removed, false if the loop had
/// none for `signum`. A callback already scheduled by a delivery does not run. Restores the
/// calling thread's mask for the signal as add_signal_handler found it; an instance of the
/// signal that arrived before the removal and was not read yet is discarded, not given its
/// default action. Throws std::invalid_argument for an invalid signal number.
/// loop.close() removes every handler of the loop the same way (on the closing thread).
bool remove_signal_handler(event_loop& loop, int signum);

}  // namespace corio
