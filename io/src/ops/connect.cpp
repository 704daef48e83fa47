// connect(2), lowered twice. io_uring: IORING_OP_CONNECT, which waits for the handshake of a
// non-blocking socket itself. Readiness: connect() once; EINPROGRESS waits for writability,
// after which SO_ERROR holds the outcome (asyncio's _sock_connect_cb).
#include <liburing.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

#include <corio/detail/socket_ops.hpp>

namespace corio::detail {

connect_op::connect_op(int fd, const sockaddr* addr, socklen_t len) noexcept
    : fd_(fd), len_(len <= sizeof addr_ ? len : 0) {
    std::memcpy(&addr_, addr, len_);
}

void connect_op::prep(io_uring_sqe& sqe) noexcept {
    io_uring_prep_connect(&sqe, fd_, reinterpret_cast<const sockaddr*>(&addr_), len_);
}

attempt connect_op::try_now() noexcept {
    if (!started_) {
        started_ = true;
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr_), len_) == 0) {
            result = 0;
            return attempt::done;
        }
        if (errno != EINPROGRESS && errno != EINTR) {
            result = -errno;
            return attempt::done;
        }
        return attempt::would_block;
    }
    // Called on writability (or at once by a backend that tries before waiting): poll, so that
    // a handshake still in progress is not mistaken for success.
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 0) == 0)
        return attempt::would_block;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    result = -err;
    return attempt::done;
}

}  // namespace corio::detail
