// A listener's stream of accepted connections (accept_stream.hpp).
#include "accept_stream.hpp"

#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace corio::detail {

accept_stream::accept_stream(event_loop& loop, int listen_fd) : loop_(loop), fd_(listen_fd) {
    if (loop_access::backend(loop_).caps().multishot_accept)
        op_ = new multishot_accept_op(*this, fd_);
}

accept_stream::~accept_stream() {
    for (int fd : ready_)
        ::close(fd);
    if (op_ == nullptr)
        return;
    if (op_->in_flight) {
        op_->orphan(loop_);
    } else {
        delete op_;
    }
}

// Inside the reaping loop: queue the connection and schedule the waiting task.
void accept_stream::on_part(int fd, completion_sink& done) {
    if (fd < 0)
        return;            // an error that did not end the request: the next connection may come
    ready_.push_back(fd);  // if this throws, the part is delivered again
    if (wait_ != nullptr)
        done.resume(take_waiter());
}

// The armed request ended (from the ready queue): a last connection, cancelled (a loop that
// closes), or an error for next() to return; the next wait arms it again.
void accept_stream::on_end(int result) noexcept {
    op_->in_flight = false;
    if (result >= 0) {
        try {
            ready_.push_back(result);
        } catch (...) {
            ::close(result);  // out of memory: that client sees its connection closed
        }
    } else if (result != -ECANCELED) {
        error_ = -result;
    }
    if (wait_ == nullptr)
        return;
    if (ready_.empty() && error_ == 0) {
        try {  // nothing for the waiter: keep it waiting on a new request
            loop_access::backend(loop_).start(*op_);
            op_->in_flight = true;
            return;
        } catch (const std::system_error& e) {
            error_ = e.code().value();
        } catch (...) {
            error_ = ENOMEM;
        }
    }
    take_waiter().resume();
}

std::coroutine_handle<> accept_stream::take_waiter() noexcept {
    wait_ = nullptr;
    task_->suspended_on(nullptr);  // a cancel() from now on is thrown when it resumes
    return std::exchange(waiter_, nullptr);
}

void multishot_accept_op::prep(io_uring_sqe& sqe) noexcept {
    io_uring_prep_multishot_accept(&sqe, fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

attempt multishot_accept_op::try_now() noexcept {
    result = -EOPNOTSUPP;
    return attempt::done;
}

void multishot_accept_op::part(int result, const char*, completion_sink& done) {
    if (s_ != nullptr) {
        s_->on_part(result, done);
    } else if (result >= 0) {
        ::close(result);  // an orphan's connection: nobody will serve it
    }
}

void multishot_accept_op::complete() noexcept {
    if (s_ != nullptr) {
        s_->on_end(result);
        return;
    }
    if (result >= 0)
        ::close(result);
    delete this;
}

void multishot_accept_op::discarded() noexcept {
    if (s_ != nullptr) {
        in_flight = false;
        if (result >= 0)
            ::close(result);  // the loop is closing: nobody will take it
        return;
    }
    if (result >= 0)
        ::close(result);
    delete this;
}

void multishot_accept_op::orphan(event_loop& loop) noexcept {
    s_ = nullptr;
    if (state == op_state::submitted)
        loop_access::backend(loop).cancel(*this);
}

}  // namespace corio::detail
