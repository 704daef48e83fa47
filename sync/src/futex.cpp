// futex(2) for detail/futex.hpp.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

#include <corio/detail/futex.hpp>

namespace corio::detail {
namespace {

// The word's address is all the kernel sees; the value travels through the atomic itself
// (TSan cannot see a syscall's happens-before, so nothing may depend on it).
std::uint32_t* futex_address(std::atomic<std::uint32_t>& word) noexcept {
    return reinterpret_cast<std::uint32_t*>(&word);
}

}  // namespace

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                const std::chrono::nanoseconds* timeout) noexcept {
    timespec ts{};
    if (timeout != nullptr) {
        ts.tv_sec = static_cast<std::time_t>(timeout->count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout->count() % 1'000'000'000);
    }
    // EINTR, EAGAIN (the word changed) and ETIMEDOUT all send the caller back to its check.
    ::syscall(SYS_futex, futex_address(word), FUTEX_WAIT_PRIVATE, expected,
              timeout != nullptr ? &ts : nullptr, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
    ::syscall(SYS_futex, futex_address(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

}  // namespace corio::detail
