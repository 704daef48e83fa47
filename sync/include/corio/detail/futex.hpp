// A thread's wait on a 32-bit atomic word, Linux futex(2): the channel's blocked senders and
// concurrent_future::result() sleep here. Waits may return early (EINTR, a changed word, the
// timeout): callers re-check their condition in a loop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace corio::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
              std::atomic<std::uint32_t>::is_always_lock_free);

/// Sleeps while `word` holds `expected`, for at most `timeout` (null: no limit).
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                const std::chrono::nanoseconds* timeout) noexcept;

/// Wakes up to `count` threads sleeping on `word`.
void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

}  // namespace corio::detail
