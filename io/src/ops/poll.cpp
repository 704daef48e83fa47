// Waiting for readability without reading (readable_op, pipe_ops.hpp), lowered twice:
// IORING_OP_POLL_ADD, or poll(2) with a zero timeout when epoll reports the descriptor.
#include <liburing.h>
#include <poll.h>

#include <cerrno>

#include <corio/detail/pipe_ops.hpp>

namespace corio::detail {

void readable_op::prep(io_uring_sqe& sqe) noexcept {
    io_uring_prep_poll_add(&sqe, fd_, POLLIN);
}

// The epoll backend tries once before it registers interest and again on every report;
// poll(2) answers both without consuming anything.
attempt readable_op::try_now() noexcept {
    for (;;) {
        pollfd p{fd_, POLLIN, 0};
        const int n = ::poll(&p, 1, 0);
        if (n == 0)
            return attempt::would_block;
        if (n > 0) {
            result = p.revents;
            return attempt::done;
        }
        if (errno != EINTR) {
            result = -errno;
            return attempt::done;
        }
    }
}

}  // namespace corio::detail
