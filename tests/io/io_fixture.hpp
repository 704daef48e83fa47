// Shared by the socket, stream and server tests: a per-backend fixture that proves no
// descriptor leaked, and a bounded run of a coroutine on a fresh loop.
#pragma once

#include <dirent.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include <corio/detail/inbox.hpp>
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
        event_loop loop(std::move(b), steady_clock_source::instance(), make_inbox());
        std::optional<T> out;
        out.emplace(loop.run_until_complete(wait_for(std::move(coro), limit(seconds))));
        finish(loop);
        return out;
    }
    bool run_void(task<void> coro, double seconds = 10) {
        auto b = make_backend_or_skip();
        if (!b)
            return false;
        event_loop loop(std::move(b), steady_clock_source::instance(), make_inbox());
        loop.run_until_complete(wait_for(std::move(coro), limit(seconds)));
        finish(loop);
        return true;
    }
    // With an inbox the loop has a default executor (file I/O on epoll, name resolution),
    // joined before the loop closes, as run() does. No idle polling: the inbox's spin runs
    // before every backend poll that may block, also while an op's completion is already
    // there to reap, which would cost each op a whole idle-poll window.
    std::unique_ptr<detail::inbox_hook> make_inbox() const {
        return with_executor_ ? detail::make_inbox(std::chrono::nanoseconds(0)) : nullptr;
    }
    void finish(event_loop& loop) const {
        if (with_executor_)
            loop.shutdown_default_executor();
        loop.close();
    }
    static double limit(double seconds) { return seconds * timeout_multiplier(); }

    std::size_t fds_before_ = 0;
    bool with_executor_ = false;  // set by suites that need the loop's default executor
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
