// The process-wide side of signal handling that subprocess.cpp needs (signals.cpp).
#pragma once

#include <signal.h>

namespace corio::detail {

// Removes from `mask` the signals that add_signal_handler blocked (those that were not blocked
// before it), so that a child starts with the mask its parent had without corio. Thread-safe.
void unblock_handled_signals(sigset_t& mask) noexcept;

}  // namespace corio::detail
