// read(2) and write(2) on a pipe-like descriptor, lowered twice: IORING_OP_READ / WRITE, or the
// non-blocking syscall when the descriptor is ready (pipe_ops.hpp).
#include <liburing.h>
#include <unistd.h>

#include <corio/detail/pipe_ops.hpp>
#include <corio/detail/socket_ops.hpp>

namespace corio::detail {

void prep_pipe_read(io_uring_sqe& sqe, int fd, void* buf, std::size_t len) noexcept {
    io_uring_prep_read(&sqe, fd, buf, static_cast<unsigned>(len), 0);
}

void prep_pipe_write(io_uring_sqe& sqe, int fd, const void* buf, std::size_t len) noexcept {
    io_uring_prep_write(&sqe, fd, buf, static_cast<unsigned>(len), 0);
}

attempt try_pipe_read(int& result, int fd, void* buf, std::size_t len) noexcept {
    return nonblocking_attempt(result, [&] { return ::read(fd, buf, len); });
}

attempt try_pipe_write(int& result, int fd, const void* buf, std::size_t len) noexcept {
    return nonblocking_attempt(result, [&] { return ::write(fd, buf, len); });
}

}  // namespace corio::detail
