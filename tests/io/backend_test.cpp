// The backend contract, on every backend: timed waits, wake-ups from other threads, the
// syscall-free empty poll, and an op's start / complete / cancel on a pipe.
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <corio/futures.hpp>
#include <corio/log.hpp>

#include "../support/backend_param.hpp"

namespace corio {
namespace {

using test::backend_test;

// Reads up to 16 bytes from a pipe; completes on the loop by recording that it ran. On
// io_uring the result comes from the CQE of the read prep() describes (try_now() is epoll's).
class pipe_read_op final : public detail::io_op {
public:
    explicit pipe_read_op(int fd) : fd_(fd) {}
    void prep(io_uring_sqe& sqe) noexcept override {
        io_uring_prep_read(&sqe, fd_, buf, sizeof buf, -1);  // -1: a pipe has no offset
    }
    int fd() const noexcept override { return fd_; }
    detail::interest wants() const noexcept override { return detail::interest::read; }
    detail::attempt try_now() noexcept override {
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return detail::attempt::would_block;
        result = n < 0 ? -errno : static_cast<int>(n);
        return detail::attempt::done;
    }
    void complete() noexcept override { ++completions; }

    char buf[16]{};
    int completions = 0;

private:
    int fd_;
};

struct pipe_pair {
    int r = -1, w = -1;
    pipe_pair() {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            r = fds[0];
            w = fds[1];
        }
    }
    ~pipe_pair() {
        ::close(r);
        ::close(w);
    }
};

// Runs one poll and the ready entries it produced, as steps 3 and 5 of an iteration would.
void poll_and_run(detail::backend& b, std::chrono::nanoseconds timeout, loop_stats& stats) {
    detail::ready_queue ready;
    detail::completion_sink sink(ready, stats);
    b.poll(timeout, sink);
    while (!ready.empty()) {
        detail::ready_entry e = ready.pop();
        ASSERT_EQ(e.kind(), detail::entry_kind::io);
        static_cast<detail::io_op*>(e.pointer())->complete();
    }
}

class backend_contract : public backend_test {};

TEST_P(backend_contract, an_empty_zero_timeout_poll_makes_no_syscall) {
    CORIO_BACKEND_OR_SKIP(b);
    loop_stats stats;
    poll_and_run(*b, std::chrono::nanoseconds(0), stats);
    EXPECT_EQ(stats.polls_skipped, 1u);
    EXPECT_EQ(stats.polls, 0u);
}

TEST_P(backend_contract, a_wake_from_another_thread_ends_an_unbounded_poll) {
    CORIO_BACKEND_OR_SKIP(b);
    loop_stats stats;
    // Whether wake() lands before or during the poll, the poll must return: the signal is
    // level-held until consumed.
    std::thread other([&] { b->get_waker().wake(); });
    poll_and_run(*b, std::chrono::nanoseconds(-1), stats);
    // A blocking wait may also end early, with EINTR and no signal at all: after a thread's
    // io_uring ring is closed (here, by the io_uring case that ran just before), the kernel's
    // ring-exit work interrupts that thread with task work (TWA_SIGNAL), and epoll_wait is
    // never restarted. A loop just polls again, and so does this test; the wake-up is still
    // pending then, so these polls return at once.
    for (int i = 0; i < 3 && stats.wakeups_received == 0; ++i) {
        poll_and_run(*b, std::chrono::nanoseconds(-1), stats);
    }
    other.join();
    EXPECT_EQ(stats.wakeups_received, 1u);
}

TEST_P(backend_contract, a_loop_waits_for_its_timer_and_no_less) {
    CORIO_BACKEND_OR_SKIP(b);
    event_loop loop(std::move(b), steady_clock_source::instance());
    double start = loop.time();
    double fired_at = 0;
    loop.call_later(0.02, [&] {
        fired_at = loop.time();
        loop.stop();
    });
    loop.run_forever();
    EXPECT_GE(fired_at - start, 0.02);
    EXPECT_GE(loop.stats().blocking_polls, 1u);
}

TEST_P(backend_contract, a_read_op_completes_when_data_arrives) {
    CORIO_BACKEND_OR_SKIP(b);
    pipe_pair p;
    ASSERT_GE(p.r, 0);
    loop_stats stats;
    pipe_read_op op(p.r);
    b->start(op);
    EXPECT_EQ(b->pending_ops(), 1u);
    poll_and_run(*b, std::chrono::nanoseconds(0), stats);
    EXPECT_EQ(op.completions, 0);
    ASSERT_EQ(::write(p.w, "hi", 2), 2);
    poll_and_run(*b, std::chrono::seconds(5), stats);
    EXPECT_EQ(op.completions, 1);
    EXPECT_EQ(op.result, 2);
    EXPECT_EQ(op.state, detail::op_state::done);
    EXPECT_EQ(b->pending_ops(), 0u);
}

TEST_P(backend_contract, an_op_that_can_finish_at_once_completes_on_the_next_poll) {
    CORIO_BACKEND_OR_SKIP(b);
    pipe_pair p;
    ASSERT_EQ(::write(p.w, "x", 1), 1);
    loop_stats stats;
    pipe_read_op op(p.r);
    b->start(op);
    EXPECT_EQ(op.completions, 0);  // never completed inside start()
    poll_and_run(*b, std::chrono::nanoseconds(-1), stats);
    EXPECT_EQ(op.completions, 1);
    EXPECT_EQ(op.result, 1);
}

TEST_P(backend_contract, a_cancelled_op_completes_with_ecanceled_and_the_fd_stays_usable) {
    CORIO_BACKEND_OR_SKIP(b);
    pipe_pair p;
    loop_stats stats;
    pipe_read_op op(p.r);
    b->start(op);
    b->cancel(op);
    poll_and_run(*b, std::chrono::seconds(5), stats);
    EXPECT_EQ(op.completions, 1);
    EXPECT_EQ(op.result, -ECANCELED);

    pipe_read_op again(p.r);
    b->start(again);
    ASSERT_EQ(::write(p.w, "ok", 2), 2);
    poll_and_run(*b, std::chrono::seconds(5), stats);
    EXPECT_EQ(again.completions, 1);
    EXPECT_EQ(again.result, 2);
}

// The cancel loses the race: the data is there before the op is even submitted, so the op
// completes with what it read (and owns those bytes), not with -ECANCELED.
TEST_P(backend_contract, a_cancel_that_comes_too_late_keeps_the_real_result) {
    CORIO_BACKEND_OR_SKIP(b);
    pipe_pair p;
    ASSERT_EQ(::write(p.w, "abc", 3), 3);
    loop_stats stats;
    pipe_read_op op(p.r);
    b->start(op);
    b->cancel(op);
    poll_and_run(*b, std::chrono::seconds(5), stats);
    EXPECT_EQ(op.completions, 1);
    EXPECT_EQ(op.result, 3);
    EXPECT_EQ(b->pending_ops(), 0u);
}

TEST_P(backend_contract, two_readers_on_one_fd_is_an_error) {
    CORIO_BACKEND_OR_SKIP(b);
    pipe_pair p;
    pipe_read_op first(p.r), second(p.r);
    b->start(first);
    EXPECT_THROW(b->start(second), std::runtime_error);
    b->cancel(first);
    loop_stats stats;
    poll_and_run(*b, std::chrono::seconds(5), stats);
    EXPECT_EQ(first.completions, 1);
}

// A loop may be built on one thread and run on another (io_uring: the ring's single issuer
// must be the thread that runs it, not the one that built it).
TEST_P(backend_contract, a_backend_built_on_one_thread_runs_on_another) {
    CORIO_BACKEND_OR_SKIP(b);
    pipe_pair p;
    pipe_read_op op(p.r);
    loop_stats stats;
    std::thread runner([&] {
        b->start(op);
        ASSERT_EQ(::write(p.w, "go", 2), 2);
        poll_and_run(*b, std::chrono::seconds(5), stats);
    });
    runner.join();
    EXPECT_EQ(op.completions, 1);
    EXPECT_EQ(op.result, 2);
}

// A loop busy with callbacks polls with a zero timeout only. I/O that finishes meanwhile must
// still reach it: with DEFER_TASKRUN the kernel posts a completion only when asked to.
TEST_P(backend_contract, zero_timeout_polls_alone_deliver_a_completion) {
    CORIO_BACKEND_OR_SKIP(b);
    pipe_pair p;
    pipe_read_op op(p.r);
    loop_stats stats;
    b->start(op);
    poll_and_run(*b, std::chrono::nanoseconds(0), stats);  // submitted, nothing to read yet
    ASSERT_EQ(::write(p.w, "z", 1), 1);
    for (int i = 0; i < 5000 && op.completions == 0; ++i) {
        poll_and_run(*b, std::chrono::nanoseconds(0), stats);
        if (op.completions == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(op.completions, 1);
    EXPECT_EQ(op.result, 1);
    EXPECT_EQ(b->pending_ops(), 0u);
}

CORIO_INSTANTIATE_BACKENDS(backend_contract);

// Sets (or, with nullopt, unsets) an environment variable for one scope, then restores it.
class scoped_env {
public:
    scoped_env(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = std::getenv(name))
            old_ = old;
        if (value) {
            ::setenv(name, value->c_str(), 1);
        } else {
            ::unsetenv(name);
        }
    }
    ~scoped_env() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

// Collects corio::log lines for one scope; forgets the backend probe on entry and exit, so
// that neither an earlier test's probe nor this one's leaks across.
class selection_scope {
public:
    selection_scope() {
        detail::reset_backend_probe_for_tests();
        previous_ = set_log_sink([this](log_level level, std::string_view message) {
            std::lock_guard lock(mutex_);
            lines_.push_back(std::string(to_string(level)) + ": " + std::string(message));
        });
    }
    ~selection_scope() {
        set_log_sink(std::move(previous_));
        detail::reset_backend_probe_for_tests();
    }
    std::vector<std::string> lines() {
        std::lock_guard lock(mutex_);
        return lines_;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
    log_sink previous_;
};

// Pins the fallback: with ring setup forced to fail (CORIO_URING_FORCE_FAIL=1, read when a
// ring is set up), automatic selection
//   1. probes io_uring once, fails, logs one warning that says why, and returns epoll;
//   2. answers later selections from the cached probe: epoll again, nothing more logged,
//      also for a loop built by the default policy;
// and asking for io_uring by name still fails, with the reason.
TEST(backend_selection, automatic_falls_back_to_epoll_and_says_why_once) {
    scoped_env force("CORIO_URING_FORCE_FAIL", "1");
    scoped_env backend("CORIO_BACKEND", std::nullopt);
    selection_scope scope;

    EXPECT_EQ(detail::make_backend(backend_kind::automatic)->name(), "epoll");
    EXPECT_EQ(detail::make_backend(backend_kind::automatic)->name(), "epoll");
    event_loop loop;
    EXPECT_EQ(loop.backend_name(), "epoll");

    std::vector<std::string> lines = scope.lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind("warning: io_uring unavailable (", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find("CORIO_URING_FORCE_FAIL"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("); using epoll"), std::string::npos) << lines[0];

    try {
        detail::make_backend(backend_kind::io_uring);
        ADD_FAILURE() << "io_uring was created although its setup was forced to fail";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("CORIO_URING_FORCE_FAIL"), std::string::npos);
    }
    EXPECT_EQ(scope.lines().size(), 1u);
}

TEST(backend_selection, automatic_prefers_io_uring_and_says_nothing) {
    scoped_env force("CORIO_URING_FORCE_FAIL", std::nullopt);
    scoped_env backend("CORIO_BACKEND", std::nullopt);
    try {
        detail::make_backend(backend_kind::io_uring);
    } catch (const std::exception& e) {
        GTEST_SKIP() << "io_uring unavailable: " << e.what();
    }
    selection_scope scope;
    EXPECT_EQ(detail::make_backend(backend_kind::automatic)->name(), "io_uring");
    EXPECT_EQ(detail::make_backend(backend_kind::automatic)->name(), "io_uring");
    EXPECT_TRUE(scope.lines().empty());
}

TEST(backend_selection, an_unknown_corio_backend_value_is_an_error) {
    ::setenv("CORIO_BACKEND", "kqueue", 1);
    EXPECT_THROW(detail::make_backend(backend_kind::automatic), std::invalid_argument);
    ::unsetenv("CORIO_BACKEND");
}

TEST(backend_selection, the_default_loop_uses_the_selected_backend) {
    ::setenv("CORIO_BACKEND", "epoll", 1);
    event_loop loop;
    EXPECT_EQ(loop.backend_name(), "epoll");
    ::unsetenv("CORIO_BACKEND");
    auto fresh = new_event_loop();
    bool ran = false;
    fresh->call_soon([&] {
        ran = true;
        fresh->stop();
    });
    fresh->run_forever();
    EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace corio
