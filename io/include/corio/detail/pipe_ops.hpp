// Operations on descriptors that are not sockets and have no file position: pipes (a
// subprocess's stdin, stdout and stderr), signalfd, pidfd. Lowered twice like the socket ops
// (socket_ops.hpp); bodies in io/src/ops/pipe.cpp and io/src/ops/poll.cpp.
//
// io_uring: IORING_OP_READ / IORING_OP_WRITE on the descriptor, which corio always opens
// O_NONBLOCK (the readiness lowering needs that). A kernel whose pipe and signalfd support
// NOWAIT (6.x does; checked on 6.18) waits for such a descriptor by polling it internally,
// as it does for sockets; an older one may answer -EAGAIN instead, which the owner of the op
// would see as an error. The offset is 0: these descriptors ignore it, and -1 ("the current
// position") would need 5.6.
//
// A write to a pipe whose reader is gone raises SIGPIPE in the writing thread on both
// lowerings (write(2) has no MSG_NOSIGNAL); subprocess.hpp says how corio keeps that from
// killing the process.
#pragma once

#include <cstddef>

#include <corio/detail/io_op.hpp>

namespace corio::detail {

// read(2) / write(2), each lowering on its own, for ops that choose between a socket call and a
// pipe call at run time (the stream transport).
void prep_pipe_read(io_uring_sqe& sqe, int fd, void* buf, std::size_t len) noexcept;
void prep_pipe_write(io_uring_sqe& sqe, int fd, const void* buf, std::size_t len) noexcept;
attempt try_pipe_read(int& result, int fd, void* buf, std::size_t len) noexcept;
attempt try_pipe_write(int& result, int fd, const void* buf, std::size_t len) noexcept;

/// read(2) into a caller's buffer, which must outlive the op. A count, 0 at end of file, or
/// -errno.
class pipe_read_op : public io_op {
public:
    pipe_read_op(int fd, void* buf, std::size_t len) noexcept : fd_(fd), buf_(buf), len_(len) {}
    void prep(io_uring_sqe& sqe) noexcept override { prep_pipe_read(sqe, fd_, buf_, len_); }
    int fd() const noexcept override { return fd_; }
    interest wants() const noexcept override { return interest::read; }
    attempt try_now() noexcept override { return try_pipe_read(result, fd_, buf_, len_); }

protected:
    int fd_;
    void* buf_;
    std::size_t len_;
};

/// Waits until `fd` is readable, without reading: a pidfd becomes readable when its process
/// exits. io_uring: IORING_OP_POLL_ADD (one shot); readiness: poll(2) with a zero timeout,
/// which also answers the backend's first try before it registers interest. The result is
/// the poll event mask (POLLIN, POLLHUP, ...) or -errno.
class readable_op : public io_op {
public:
    explicit readable_op(int fd) noexcept : fd_(fd) {}
    void prep(io_uring_sqe& sqe) noexcept override;
    int fd() const noexcept override { return fd_; }
    interest wants() const noexcept override { return interest::read; }
    attempt try_now() noexcept override;

protected:
    int fd_;
};

}  // namespace corio::detail
