// The connections a listener accepts, for one accept task (server.cpp). On io_uring with
// multishot accept (caps().multishot_accept, 5.19) one request stays armed, and each
// connection it accepts waits in a queue until the task takes it: a burst of connections costs
// one request, not one each (Seastar's and monoio's accept streams). Elsewhere every next() is
// one accept op, in the awaiting frame.
//
// The multishot op lives apart from the stream, so that it can outlive it: an accept task that
// ends while the op is armed (close(), or a loop closing) hands it over, and the op cancels
// itself, closes every descriptor still queued or still arriving, and frees itself once the
// kernel has ended it. Used only on its loop's thread.
#pragma once

#include <coroutine>
#include <deque>
#include <string>

#include <corio/detail/op_awaiter.hpp>
#include <corio/detail/socket_ops.hpp>
#include <corio/tasks.hpp>

#include "owned_multishot_op.hpp"

namespace corio::detail {

class accept_stream;

class multishot_accept_op final : public owned_multishot_op {
public:
    multishot_accept_op(accept_stream& s, int fd) noexcept
        : owned_multishot_op(fd, /*selects_buffer=*/false), s_(s) {}

    void prep(io_uring_sqe& sqe) noexcept override;
    void part(int result, const char* data, completion_sink& done) override;

private:
    void ended(int result) noexcept override;
    void dropped(int result) noexcept override;
    void orphan_ended(int result) noexcept override;

    accept_stream& s_;  // not to be used once orphaned
};

class accept_stream {
public:
    accept_stream(event_loop& loop, int listen_fd);
    ~accept_stream();
    accept_stream(const accept_stream&) = delete;
    accept_stream& operator=(const accept_stream&) = delete;

    // co_await next(): a new descriptor (non-blocking, close-on-exec) or -errno, as accept_op.
    // A cancelled wait takes nothing: a connection accepted meanwhile waits for the next call.
    class [[nodiscard]] next_awaiter;
    next_awaiter next() noexcept;

private:
    friend class multishot_accept_op;
    friend class next_awaiter;

    void on_part(int fd, completion_sink& done);
    void on_end(int result) noexcept;
    std::coroutine_handle<> take_waiter() noexcept;

    event_loop& loop_;
    const int fd_;
    multishot_accept_op* op_ = nullptr;  // owned, unless orphaned; null without multishot
    std::deque<int> ready_;              // accepted, not yet taken
    int error_ = 0;                      // the armed op ended with this errno: next() says so
    // The task waiting in next(), multishot only.
    task_base* task_ = nullptr;
    std::coroutine_handle<> waiter_;
    task_waiter* wait_ = nullptr;
};

class accept_stream::next_awaiter final : public task_waiter {
public:
    explicit next_awaiter(accept_stream& s) : s_(s), op_(s.fd_) {}
    next_awaiter(const next_awaiter&) = delete;
    next_awaiter& operator=(const next_awaiter&) = delete;
    ~next_awaiter() {
        if (s_.wait_ == this)  // destroyed while waiting (loop.close()): leave no waiter behind
            s_.wait_ = nullptr;
    }

    bool await_ready() const noexcept {
        return s_.op_ != nullptr && (!s_.ready_.empty() || s_.error_ != 0);
    }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        if (s_.op_ == nullptr) {
            op_.await_suspend(h);
            return;
        }
        task_base& t = awaiting_task(h);
        t.throw_if_cancel_requested();
        if (!s_.op_->in_flight) {
            loop_access::backend(s_.loop_).start(*s_.op_);  // throws before anything waits
            s_.op_->in_flight = true;
        }
        s_.task_ = &t;
        s_.waiter_ = h;
        s_.wait_ = this;
        t.suspended_on(this);
        loop_access::set_current_task(s_.loop_, nullptr);
    }
    int await_resume() {
        if (s_.op_ == nullptr)
            return op_.await_resume();
        if (task_base* t = s_.task_) {
            s_.task_ = nullptr;
            t->resume_as_current();
            t->throw_if_cancel_requested();
        }
        if (!s_.ready_.empty()) {
            const int fd = s_.ready_.front();
            s_.ready_.pop_front();
            return fd;
        }
        const int err = s_.error_;
        s_.error_ = 0;
        return -err;
    }

    bool cancel_wait(const std::string&) override {
        loop_access::push_ready(s_.loop_, ready_entry::of(s_.take_waiter()));
        return false;  // the resumption throws the cancellation
    }

private:
    accept_stream& s_;
    op_awaiter<raw_result<accept_op>> op_;  // the one-op-per-call form
};

inline accept_stream::next_awaiter accept_stream::next() noexcept {
    return next_awaiter(*this);
}

}  // namespace corio::detail
