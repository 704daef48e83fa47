// corio's log, asyncio's log.py: one process-wide sink for the few things the runtime must
// say without an exception (slow callbacks, the default exception handler, backend fallback).
#pragma once

#include <functional>
#include <string_view>

namespace corio {

enum class log_level { debug, info, warning, error };

/// Receives every log line. Called from whichever thread logs; keep it thread-safe.
using log_sink = std::function<void(log_level, std::string_view message)>;

/// Replaces the sink (an empty function restores the default: one line on stderr). Returns
/// the previous sink. Thread-safe.
log_sink set_log_sink(log_sink sink);

/// Writes one line through the current sink. Thread-safe.
void log(log_level level, std::string_view message);

std::string_view to_string(log_level level) noexcept;

}  // namespace corio
