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

void multishot_accept_op::part(int result, const char*, completion_sink& done) {
    if (!orphaned()) {
        s_.on_part(result, done);
    } else if (result >= 0) {
        ::close(result);  // an orphan's connection: nobody will serve it
    }
}

void multishot_accept_op::ended(int result) noexcept {
    s_.on_end(result);
}

// A last connection that a closing loop, or an orphan, has nobody to hand to.
void multishot_accept_op::dropped(int result) noexcept {
    if (result >= 0)
        ::close(result);
}

void multishot_accept_op::orphan_ended(int result) noexcept {
    dropped(result);
}

}  // namespace corio::detail
