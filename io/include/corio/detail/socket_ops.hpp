// The socket operations, one per syscall family, each written once and lowered twice (B3):
// prep() fills an io_uring SQE, fd()/wants()/try_now() are the readiness path. Their bodies
// live in io/src/ops/<family>.cpp, the only files that see liburing's SQE helpers.
//
// An op here is still abstract: complete() is the user's (op_awaiter resumes a task, a stream
// transport continues its flush). `result` is the kernel's: a count or -errno.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>

#include <corio/detail/io_op.hpp>

namespace corio::detail {

// The readiness lowering's common tail: runs `syscall` (a non-blocking call returning
// ssize_t), retrying on EINTR; stores the count or -errno in `result`, or says it would block.
template <class Syscall>
attempt nonblocking_attempt(int& result, Syscall&& syscall) noexcept {
    for (;;) {
        const ssize_t n = syscall();
        if (n >= 0) {
            result = static_cast<int>(n);
            return attempt::done;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return attempt::would_block;
        result = -errno;
        return attempt::done;
    }
}

/// recv(2) into a caller's buffer, which must outlive the op.
class recv_op : public io_op {
public:
    recv_op(int fd, void* buf, std::size_t len, int flags = 0) noexcept
        : fd_(fd), buf_(buf), len_(len), flags_(flags) {}
    void prep(io_uring_sqe& sqe) noexcept override;
    int fd() const noexcept override { return fd_; }
    interest wants() const noexcept override { return interest::read; }
    attempt try_now() noexcept override;

protected:
    int fd_;
    void* buf_;
    std::size_t len_;
    int flags_;
};

/// send(2) with MSG_NOSIGNAL (a closed peer is EPIPE, never SIGPIPE).
class send_op : public io_op {
public:
    send_op(int fd, const void* buf, std::size_t len) noexcept : fd_(fd), buf_(buf), len_(len) {}
    void prep(io_uring_sqe& sqe) noexcept override;
    int fd() const noexcept override { return fd_; }
    interest wants() const noexcept override { return interest::write; }
    attempt try_now() noexcept override;
    void reset(const void* buf, std::size_t len) noexcept {
        buf_ = buf;
        len_ = len;
    }

protected:
    int fd_;
    const void* buf_;
    std::size_t len_;
};

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; result is the new descriptor. The peer's
/// address lands in `addr` / `addr_len`.
class accept_op : public io_op {
public:
    explicit accept_op(int fd) noexcept : fd_(fd) {}
    void prep(io_uring_sqe& sqe) noexcept override;
    int fd() const noexcept override { return fd_; }
    interest wants() const noexcept override { return interest::read; }
    attempt try_now() noexcept override;

    sockaddr_storage addr{};
    socklen_t addr_len = sizeof(sockaddr_storage);

protected:
    int fd_;
};

/// connect(2) on a non-blocking socket, to a copy of `addr` kept in the op. io_uring does the
/// whole connect (it waits for the handshake itself: 6.0 and later report the socket error of
/// a connect that went EINPROGRESS); the readiness path starts it, waits for writability and
/// reads SO_ERROR.
class connect_op : public io_op {
public:
    connect_op(int fd, const sockaddr* addr, socklen_t len) noexcept;
    void prep(io_uring_sqe& sqe) noexcept override;
    int fd() const noexcept override { return fd_; }
    interest wants() const noexcept override { return interest::write; }
    attempt try_now() noexcept override;

protected:
    int fd_;
    sockaddr_storage addr_{};
    socklen_t len_;
    bool started_ = false;  // readiness path: connect() already returned EINPROGRESS
};

/// sendmsg(2) / recvmsg(2) with one buffer and an address: sendto and recvfrom. The message
/// header lives in the op, so the kernel may read it until the op completes.
class msg_op : public io_op {
public:
    msg_op(int fd, bool sending, void* buf, std::size_t len, const sockaddr* to,
           socklen_t to_len) noexcept;
    void prep(io_uring_sqe& sqe) noexcept override;
    int fd() const noexcept override { return fd_; }
    interest wants() const noexcept override { return sending_ ? interest::write : interest::read; }
    attempt try_now() noexcept override;

    sockaddr_storage addr{};  // recvfrom: the sender; sendto: a copy of the destination
    msghdr msg{};

protected:
    int fd_;
    bool sending_;
    iovec iov_{};
};

}  // namespace corio::detail
