// send(2) with MSG_NOSIGNAL, lowered twice: IORING_OP_SEND, or a non-blocking send when the
// socket is writable. A short send is a result like any other; callers loop (sock_sendall,
// the stream writer's flush).
#include <liburing.h>

#include <cerrno>

#include <corio/detail/socket_ops.hpp>

namespace corio::detail {

void send_op::prep(io_uring_sqe& sqe) noexcept {
    io_uring_prep_send(&sqe, fd_, buf_, len_, MSG_NOSIGNAL);
}

attempt send_op::try_now() noexcept {
    return nonblocking_attempt(
        result, [&] { return ::send(fd_, buf_, len_, MSG_NOSIGNAL | MSG_DONTWAIT); });
}

}  // namespace corio::detail
