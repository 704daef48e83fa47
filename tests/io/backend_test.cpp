// The backend contract, on every backend: timed waits, wake-ups from other threads, the
// syscall-free empty poll, and an op's start / complete / cancel on a pipe.
#include "../support/backend_param.hpp"

#include <corio/futures.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

namespace corio {
namespace {

using test::backend_test;

// Reads up to 16 bytes from a pipe; completes on the loop by recording that it ran.
class pipe_read_op final : public detail::io_op {
public:
    explicit pipe_read_op(int fd) : fd_(fd) {}
    void prep(io_uring_sqe&) noexcept override {}
    int fd() const noexcept override { return fd_; }
    detail::interest wants() const noexcept override { return detail::interest::read; }
    detail::attempt try_now() noexcept override {
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return detail::attempt::would_block;
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
        detail::ready_entry e = ready.pop().entry;
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

CORIO_INSTANTIATE_BACKENDS(backend_contract);

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
