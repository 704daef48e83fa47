// accept4(2), lowered twice: IORING_OP_ACCEPT, or a non-blocking accept4 when the listener is
// readable. Both make the new descriptor non-blocking and close-on-exec.
#include <liburing.h>

#include <cerrno>

#include <corio/detail/socket_ops.hpp>

namespace corio::detail {

void accept_op::prep(io_uring_sqe& sqe) noexcept {
    addr_len = sizeof addr;
    io_uring_prep_accept(&sqe, fd_, reinterpret_cast<sockaddr*>(&addr), &addr_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
}

attempt accept_op::try_now() noexcept {
    for (;;) {
        addr_len = sizeof addr;
        int s = ::accept4(fd_, reinterpret_cast<sockaddr*>(&addr), &addr_len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s >= 0) {
            result = s;
            return attempt::done;
        }
        // ECONNABORTED: a connection reset while queued; Linux reports it, POSIX allows it.
        // Like asyncio, the caller sees it as an error of this accept and tries again.
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return attempt::would_block;
        result = -errno;
        return attempt::done;
    }
}

}  // namespace corio::detail
