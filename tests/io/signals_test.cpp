// add_signal_handler / remove_signal_handler on both backends. gtest runs every test in one
// process, so each test leaves this thread's signal mask as it found it (checked in TearDown)
// and only sends itself signals that have a handler at that moment.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <corio/futures.hpp>
#include <corio/signals.hpp>

#include "../support/error_of.hpp"
#include "io_fixture.hpp"

namespace corio {
namespace {

using test::error_of;
using test::io_test;

sigset_t thread_mask() {
    sigset_t m;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &m);
    return m;
}

bool blocked(int signum) {
    sigset_t m = thread_mask();
    return ::sigismember(&m, signum) == 1;
}

class signals : public io_test {
protected:
    void SetUp() override {
        io_test::SetUp();
        before_ = thread_mask();
    }
    void TearDown() override {
        sigset_t now = thread_mask();
        for (int s = 1; s < NSIG; ++s)
            EXPECT_EQ(::sigismember(&now, s), ::sigismember(&before_, s)) << "mask of signal " << s;
        io_test::TearDown();
    }

    std::unique_ptr<event_loop> make_loop() {
        auto b = make_backend_or_skip();
        if (!b)
            return nullptr;
        return std::make_unique<event_loop>(std::move(b), steady_clock_source::instance());
    }

    // Stops `loop` after `seconds` (scaled), so that a lost signal fails instead of hanging.
    static timer_handle watchdog(event_loop& loop, double seconds = 5) {
        return loop.call_later(limit(seconds), [&loop] { loop.stop(); });
    }

    sigset_t before_;
};

#define LOOP_OR_SKIP(var)   \
    auto var = make_loop(); \
    if (!var)               \
    GTEST_SKIP() << "backend unavailable: " << skip_reason_

// raise() (thread-directed) and kill(getpid()) (process-directed) each run the handler once,
// on the loop's thread, from a loop iteration; nothing runs without a delivery.
TEST_P(signals, handler_runs_on_the_loop_once_per_delivery) {
    LOOP_OR_SKIP(loop);
    int calls = 0;
    bool on_loop = false;
    add_signal_handler(*loop, SIGUSR1, [&] {
        ++calls;
        on_loop = detail::running_loop() == loop.get();
        loop->stop();
    });
    EXPECT_TRUE(blocked(SIGUSR1));
    timer_handle dog = watchdog(*loop);

    ASSERT_EQ(::raise(SIGUSR1), 0);
    loop->run_forever();
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(on_loop);

    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    loop->run_forever();
    EXPECT_EQ(calls, 2);

    loop->call_later(0.05, [&] { loop->stop(); });
    loop->run_forever();
    EXPECT_EQ(calls, 2);

    dog.cancel();
    EXPECT_TRUE(remove_signal_handler(*loop, SIGUSR1));
    EXPECT_FALSE(blocked(SIGUSR1));
    loop->close();
}

TEST_P(signals, each_signal_reaches_its_own_handler) {
    LOOP_OR_SKIP(loop);
    int usr1 = 0;
    int usr2 = 0;
    auto both_seen = [&] {
        if (usr1 > 0 && usr2 > 0)
            loop->stop();
    };
    add_signal_handler(*loop, SIGUSR1, [&] {
        ++usr1;
        both_seen();
    });
    add_signal_handler(*loop, SIGUSR2, [&] {
        ++usr2;
        both_seen();
    });
    timer_handle dog = watchdog(*loop);
    ::raise(SIGUSR1);
    ::raise(SIGUSR2);
    loop->run_forever();
    EXPECT_EQ(usr1, 1);
    EXPECT_EQ(usr2, 1);
    dog.cancel();
    loop->close();
}

TEST_P(signals, remove_returns_false_without_a_handler_and_restores_the_mask) {
    LOOP_OR_SKIP(loop);
    ASSERT_FALSE(blocked(SIGUSR2));
    EXPECT_FALSE(remove_signal_handler(*loop, SIGUSR2));
    add_signal_handler(*loop, SIGUSR2, [] {});
    EXPECT_TRUE(blocked(SIGUSR2));
    EXPECT_TRUE(remove_signal_handler(*loop, SIGUSR2));
    EXPECT_FALSE(blocked(SIGUSR2));
    EXPECT_FALSE(remove_signal_handler(*loop, SIGUSR2));
    loop->close();
}

// A signal the user had blocked stays blocked after remove (the mask as add found it).
TEST_P(signals, remove_keeps_a_block_the_user_made) {
    LOOP_OR_SKIP(loop);
    sigset_t usr2;
    ::sigemptyset(&usr2);
    ::sigaddset(&usr2, SIGUSR2);
    ::pthread_sigmask(SIG_BLOCK, &usr2, nullptr);
    add_signal_handler(*loop, SIGUSR2, [] {});
    EXPECT_TRUE(remove_signal_handler(*loop, SIGUSR2));
    EXPECT_TRUE(blocked(SIGUSR2));
    ::pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
    loop->close();
}

// The clean-stop pattern: SIGINT and SIGTERM handlers complete a future the main task awaits;
// the run ends normally and closing the loop removes the handlers.
task<int> serve_until(future<int> stop) {
    co_return co_await stop;
}

TEST_P(signals, sigterm_handler_stops_the_loop_cleanly) {
    LOOP_OR_SKIP(loop);
    future<int> stop = loop->create_future<int>();
    for (int s : {SIGINT, SIGTERM}) {
        add_signal_handler(*loop, s, [stop, s]() mutable {
            if (!stop.done())
                stop.set_result(s);
        });
    }
    loop->call_soon([] { ::kill(::getpid(), SIGTERM); });
    timer_handle dog = watchdog(*loop);
    EXPECT_EQ(loop->run_until_complete(serve_until(stop)), SIGTERM);
    dog.cancel();
    loop->close();
    EXPECT_FALSE(blocked(SIGTERM));
    EXPECT_FALSE(blocked(SIGINT));
    EXPECT_FALSE(remove_signal_handler(*loop, SIGTERM));
}

TEST_P(signals, a_handler_that_stops_the_loop_with_run_forever) {
    LOOP_OR_SKIP(loop);
    bool stopped = false;
    add_signal_handler(*loop, SIGTERM, [&] {
        stopped = true;
        loop->stop();
    });
    loop->call_soon([] { ::kill(::getpid(), SIGTERM); });
    timer_handle dog = watchdog(*loop);
    loop->run_forever();
    EXPECT_TRUE(stopped);
    dog.cancel();
    EXPECT_TRUE(remove_signal_handler(*loop, SIGTERM));
    loop->close();
}

TEST_P(signals, a_handler_may_remove_itself) {
    LOOP_OR_SKIP(loop);
    int calls = 0;
    add_signal_handler(*loop, SIGUSR1, [&] {
        ++calls;
        EXPECT_TRUE(remove_signal_handler(*loop, SIGUSR1));
        loop->call_later(0.02, [&] { loop->stop(); });
    });
    timer_handle dog = watchdog(*loop);
    ::raise(SIGUSR1);
    loop->run_forever();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(blocked(SIGUSR1));
    dog.cancel();
    loop->close();
}

// A delivery not yet read when the handler goes is discarded, not handed to the default
// action (which would end this process).
TEST_P(signals, a_pending_signal_is_discarded_on_remove) {
    LOOP_OR_SKIP(loop);
    int calls = 0;
    add_signal_handler(*loop, SIGUSR1, [&] { ++calls; });
    ::raise(SIGUSR1);  // pending: the loop has not run
    EXPECT_TRUE(remove_signal_handler(*loop, SIGUSR1));
    loop->call_later(0.02, [&] { loop->stop(); });
    loop->run_forever();
    EXPECT_EQ(calls, 0);
    loop->close();
}

TEST_P(signals, replacing_a_handler) {
    LOOP_OR_SKIP(loop);
    int first = 0;
    int second = 0;
    add_signal_handler(*loop, SIGUSR1, [&] { ++first; });
    add_signal_handler(*loop, SIGUSR1, [&] {
        ++second;
        loop->stop();
    });
    timer_handle dog = watchdog(*loop);
    ::raise(SIGUSR1);
    loop->run_forever();
    EXPECT_EQ(first, 0);
    EXPECT_EQ(second, 1);
    dog.cancel();
    EXPECT_TRUE(remove_signal_handler(*loop, SIGUSR1));
    EXPECT_FALSE(blocked(SIGUSR1));
    loop->close();
}

TEST_P(signals, a_handler_error_goes_to_the_exception_handler) {
    LOOP_OR_SKIP(loop);
    std::string seen;
    loop->set_exception_handler([&](event_loop& l, const exception_context& c) {
        try {
            std::rethrow_exception(c.exception);
        } catch (const std::exception& e) {
            seen = e.what();
        }
        l.stop();
    });
    add_signal_handler(*loop, SIGUSR1, [] { throw std::runtime_error("boom"); });
    timer_handle dog = watchdog(*loop);
    ::raise(SIGUSR1);
    loop->run_forever();
    EXPECT_EQ(seen, "boom");
    dog.cancel();
    loop->close();  // removes the handler
}

TEST_P(signals, closing_the_loop_removes_every_handler) {
    LOOP_OR_SKIP(loop);
    const std::size_t with_loop = test::open_fd_count();  // the backend's own descriptors
    add_signal_handler(*loop, SIGUSR1, [] {});
    add_signal_handler(*loop, SIGUSR2, [] {});
    EXPECT_EQ(test::open_fd_count(), with_loop + 1);  // one signalfd for both
    loop->close();
    EXPECT_FALSE(blocked(SIGUSR1));
    EXPECT_FALSE(blocked(SIGUSR2));
    EXPECT_FALSE(remove_signal_handler(*loop, SIGUSR1));
    EXPECT_EQ(test::open_fd_count(), with_loop);
}

TEST_P(signals, bad_arguments_are_rejected) {
    LOOP_OR_SKIP(loop);
    auto noop = [] {};
    for (int bad : {0, -1, NSIG, 1000, 32}) {  // 32: reserved by glibc
        EXPECT_EQ(error_of<std::invalid_argument>([&] { add_signal_handler(*loop, bad, noop); }),
                  "invalid signal number " + std::to_string(bad));
        EXPECT_THROW(remove_signal_handler(*loop, bad), std::invalid_argument);
    }
    EXPECT_EQ(error_of<std::runtime_error>([&] { add_signal_handler(*loop, SIGKILL, noop); }),
              "sig 9 cannot be caught");
    EXPECT_EQ(error_of<std::runtime_error>([&] { add_signal_handler(*loop, SIGSTOP, noop); }),
              "sig " + std::to_string(SIGSTOP) + " cannot be caught");
    EXPECT_FALSE(remove_signal_handler(*loop, SIGKILL));
    EXPECT_THROW(add_signal_handler(*loop, SIGUSR1, std::function<void()>()),
                 std::invalid_argument);
    EXPECT_FALSE(blocked(SIGKILL));
    loop->close();
    EXPECT_EQ(error_of<std::runtime_error>([&] { add_signal_handler(*loop, SIGUSR1, noop); }),
              "Event loop is closed");
    EXPECT_FALSE(blocked(SIGUSR1));
}

TEST_P(signals, one_loop_per_signal) {
    LOOP_OR_SKIP(a);
    LOOP_OR_SKIP(b);
    add_signal_handler(*a, SIGUSR1, [] {});
    EXPECT_EQ(error_of<std::runtime_error>([&] { add_signal_handler(*b, SIGUSR1, [] {}); }),
              "signal " + std::to_string(SIGUSR1) + " already has a handler on another event loop");
    EXPECT_TRUE(remove_signal_handler(*a, SIGUSR1));
    add_signal_handler(*b, SIGUSR1, [] {});  // free again
    b->close();
    a->close();
}

CORIO_INSTANTIATE_BACKENDS(signals);

}  // namespace
}  // namespace corio
