// sendmsg(2) / recvmsg(2) with one buffer and a peer address (sendto, recvfrom), lowered
// twice: IORING_OP_SENDMSG / RECVMSG, or the non-blocking call on readiness.
#include <liburing.h>

#include <cerrno>
#include <cstring>

#include <corio/detail/socket_ops.hpp>

namespace corio::detail {

msg_op::msg_op(int fd, bool sending, void* buf, std::size_t len, const sockaddr* to,
               socklen_t to_len) noexcept
    : fd_(fd), sending_(sending) {
    iov_.iov_base = buf;
    iov_.iov_len = len;
    msg.msg_iov = &iov_;
    msg.msg_iovlen = 1;
    msg.msg_name = &addr;
    msg.msg_namelen = sizeof addr;
    if (sending_) {
        if (to != nullptr && to_len <= sizeof addr) {
            std::memcpy(&addr, to, to_len);
            msg.msg_namelen = to_len;
        } else {
            msg.msg_name = nullptr;  // a connected socket
            msg.msg_namelen = 0;
        }
    }
}

void msg_op::prep(io_uring_sqe& sqe) noexcept {
    if (sending_) {
        io_uring_prep_sendmsg(&sqe, fd_, &msg, MSG_NOSIGNAL);
    } else {
        msg.msg_namelen = sizeof addr;
        io_uring_prep_recvmsg(&sqe, fd_, &msg, 0);
    }
}

attempt msg_op::try_now() noexcept {
    return nonblocking_attempt(result, [&] {
        if (!sending_)
            msg.msg_namelen = sizeof addr;  // recvmsg shrinks it: reset per try
        return sending_ ? ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    });
}

}  // namespace corio::detail
