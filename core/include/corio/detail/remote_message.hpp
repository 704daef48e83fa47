// What one thread sends another thread's loop: a callable run once on the loop's thread, told
// whether it runs or is dropped with the closing loop (detail/inbox_hook.hpp has the rules).
#pragma once

#include <cstddef>

#include <corio/detail/inline_function.hpp>

namespace corio::detail {

enum class message_fate : bool { run, dropped };

// 40 bytes of captures inline, so that the message, wrapped once more without captures, fits
// a ready-queue slot (48 bytes) and a drained message costs no allocation.
inline constexpr std::size_t remote_message_capacity = 40;
using remote_message = inline_function<void(message_fate), remote_message_capacity>;

}  // namespace corio::detail
