// Shared by the socket, stream and server tests: a per-backend fixture that proves no
// descriptor leaked, and a bounded run of a coroutine on a fresh loop.
#pragma once

#include <dirent.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include <corio/streams.hpp>
#include <corio/timeouts.hpp>

#include "../support/backend_param.hpp"
#include "../support/test_timeout.hpp"

namespace corio::test {

// Open descriptors of this process, as /proc/self/fd lists them.
inline std::size_t open_fd_count() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr)
            ++n;
        ::closedir(d);
    }
    return n;
}

// Every test builds its loop inside the body and must close everything it opened: the
// descriptor count after the test equals the one before.
class io_test : public backend_test {
protected:
    void SetUp() override { fds_before_ = open_fd_count(); }
    void TearDown() override { EXPECT_EQ(open_fd_count(), fds_before_) << "descriptor leak"; }

    // Runs `coro` on a fresh loop of the parameter's backend, for at most `seconds` (scaled
    // by CORIO_TEST_TIMEOUT_MULTIPLIER); a timeout fails the test with timeout_error. The
    // loop is closed before returning, and must have no task left.
    template <class T>
    std::optional<T> run(task<T> coro, double seconds = 10) {
        auto b = make_backend_or_skip();
        if (!b)
            return std::nullopt;
        event_loop loop(std::move(b), steady_clock_source::instance());
        std::optional<T> out;
        out.emplace(loop.run_until_complete(wait_for(std::move(coro), limit(seconds))));
        loop.close();
        return out;
    }
    bool run_void(task<void> coro, double seconds = 10) {
        auto b = make_backend_or_skip();
        if (!b)
            return false;
        event_loop loop(std::move(b), steady_clock_source::instance());
        loop.run_until_complete(wait_for(std::move(coro), limit(seconds)));
        loop.close();
        return true;
    }
    static double limit(double seconds) { return seconds * timeout_multiplier(); }

    std::size_t fds_before_ = 0;
};

#define CORIO_RUN(expr)                                              \
    do {                                                             \
        if (!run_void(expr))                                         \
            GTEST_SKIP() << "backend unavailable: " << skip_reason_; \
    } while (0)

// The port a server listens on.
inline std::uint16_t port_of(const server& s) {
    return s.sockets()[0].getsockname().port();
}

}  // namespace corio::test
