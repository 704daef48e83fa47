// recv(2), lowered twice: IORING_OP_RECV, or a non-blocking recv when the socket is readable.
#include <liburing.h>

#include <cerrno>

#include <corio/detail/socket_ops.hpp>

namespace corio::detail {

void recv_op::prep(io_uring_sqe& sqe) noexcept {
    io_uring_prep_recv(&sqe, fd_, buf_, len_, flags_);
}

attempt recv_op::try_now() noexcept {
    return nonblocking_attempt(result,
                               [&] { return ::recv(fd_, buf_, len_, flags_ | MSG_DONTWAIT); });
}

}  // namespace corio::detail
