// Waits in tests scale with CORIO_TEST_TIMEOUT_MULTIPLIER (libuv's UV_TEST_TIMEOUT_MULTIPLIER),
// so sanitizer builds, which run several times slower, do not flake.
#pragma once

#include <chrono>
#include <cstdlib>
#include <thread>

namespace corio::test {

inline double timeout_multiplier() {
    const char* v = std::getenv("CORIO_TEST_TIMEOUT_MULTIPLIER");
    double m = v != nullptr ? std::atof(v) : 1.0;
    return m > 0 ? m : 1.0;
}

// `base` scaled by the multiplier.
inline std::chrono::nanoseconds scaled(std::chrono::nanoseconds base) {
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(static_cast<double>(base.count()) * timeout_multiplier()));
}

// Polls `done` until it holds or the scaled timeout passes; returns its last value.
template <class Pred>
bool wait_until(Pred&& done, std::chrono::nanoseconds base = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(base);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline)
            return done();
        std::this_thread::yield();
    }
    return true;
}

}  // namespace corio::test
