// Low-level socket operations: asyncio's loop.sock_* methods (base_events.py,
// selector_events.py), as free functions on the running loop, plus a small owning socket.
//
//     corio::socket s(AF_INET, SOCK_STREAM);
//     co_await corio::sock_connect(s, corio::socket_address::inet("127.0.0.1", 8080));
//     co_await corio::sock_sendall(s, "ping");
//     std::string reply = co_await corio::sock_recv(s, 4096);
//
// Sockets are non-blocking descriptors owned by the caller. Each call waits on the running
// loop's backend (io_uring or epoll) through one io_op; a task cancelled while it waits stays
// suspended until the kernel lets go of the buffer (op_awaiter.hpp), then gets cancelled_error,
// and the socket stays usable. OS errors are thrown as connection_errors.hpp's types.
// One reader and one writer at a time per socket (the backends' rule): a second concurrent
// sock_recv on the same socket throws std::runtime_error.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <corio/connection_errors.hpp>
#include <corio/detail/op_awaiter.hpp>
#include <corio/detail/socket_ops.hpp>
#include <corio/tasks.hpp>

namespace corio {

/// A socket address: IPv4, IPv6 or a Unix path; what asyncio passes as (host, port) or a
/// path. A small value type.
class socket_address {
public:
    socket_address() noexcept = default;
    socket_address(const sockaddr* addr, socklen_t len) noexcept;

    /// A numeric host ("127.0.0.1", "::1") and a port. Throws std::invalid_argument.
    static socket_address inet(const std::string& host, std::uint16_t port);
    /// A Unix-domain socket path. Throws std::invalid_argument if it is too long.
    static socket_address unix_path(const std::string& path);

    int family() const noexcept { return storage_.ss_family; }
    /// The numeric host, or the path of a Unix address.
    std::string host() const;
    /// The port (0 for a Unix address).
    std::uint16_t port() const noexcept;
    /// "127.0.0.1:8080", "[::1]:8080", or the path.
    std::string to_string() const;

    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t size() const noexcept { return len_; }

private:
    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

/// An owned socket descriptor, closed by the destructor (Python's socket.socket, with its
/// method names). Always non-blocking and close-on-exec. Used on one thread.
class socket {
public:
    socket() noexcept = default;
    /// Adopts `fd`, which must be non-blocking for the sock_* calls.
    explicit socket(int fd) noexcept : fd_(fd) {}
    /// socket(2). Throws std::system_error.
    socket(int family, int type, int protocol = 0);
    ~socket() { close(); }
    socket(socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    socket& operator=(socket&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;

    int fileno() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    /// Gives up ownership: returns the descriptor and leaves this socket empty.
    int detach() noexcept { return std::exchange(fd_, -1); }
    /// Closes the descriptor; a second close does nothing.
    void close() noexcept;

    void bind(const socket_address& addr);
    void listen(int backlog = 100);
    void setsockopt(int level, int option, int value);
    void shutdown(int how);
    socket_address getsockname() const;
    socket_address getpeername() const;

private:
    int fd_ = -1;
};

/// What sock_accept returns: the connection and the peer's address (asyncio's (conn, address)).
struct accepted_socket {
    socket sock;
    socket_address address;
};

namespace detail {

[[noreturn]] void throw_socket_error(int err, const char* what);
void check_socket(const socket& s, const char* what);  // std::invalid_argument if empty

struct recv_into_op : recv_op {
    using recv_op::recv_op;
    std::size_t finish() const {
        if (result < 0)
            throw_socket_error(-result, "recv");
        return static_cast<std::size_t>(result);
    }
};
struct send_some_op : send_op {
    using send_op::send_op;
    std::size_t finish() const {
        if (result < 0)
            throw_socket_error(-result, "send");
        return static_cast<std::size_t>(result);
    }
};
struct sock_accept_op : accept_op {
    using accept_op::accept_op;
    accepted_socket finish() const {
        if (result < 0)
            throw_socket_error(-result, "accept");
        return {socket(result), socket_address(reinterpret_cast<const sockaddr*>(&addr), addr_len)};
    }
};
struct sock_connect_op : connect_op {
    using connect_op::connect_op;
    void finish() const {
        if (result < 0)
            throw_socket_error(-result, "connect");
    }
};
struct sendto_op : msg_op {
    sendto_op(int fd, const void* buf, std::size_t len, const socket_address& to) noexcept
        : msg_op(fd, true, const_cast<void*>(buf), len, to.get(), to.size()) {}
    std::size_t finish() const {
        if (result < 0)
            throw_socket_error(-result, "sendto");
        return static_cast<std::size_t>(result);
    }
};
struct recvfrom_op : msg_op {
    recvfrom_op(int fd, void* buf, std::size_t len) noexcept
        : msg_op(fd, false, buf, len, nullptr, 0) {}
    std::pair<std::size_t, socket_address> finish() const {
        if (result < 0)
            throw_socket_error(-result, "recvfrom");
        return {static_cast<std::size_t>(result),
                socket_address(reinterpret_cast<const sockaddr*>(&addr), msg.msg_namelen)};
    }
};

}  // namespace detail

/// asyncio's loop.sock_recv_into: receives up to buf.size() bytes into `buf`, which must stay
/// alive until the co_await returns; returns the count, 0 at end of stream.
inline detail::op_awaiter<detail::recv_into_op> sock_recv_into(const socket& sock,
                                                               std::span<char> buf) {
    detail::check_socket(sock, "sock_recv_into");
    return detail::op_awaiter<detail::recv_into_op>(sock.fileno(), buf.data(), buf.size());
}

/// asyncio's loop.sock_recv: up to `n` bytes; empty at end of stream.
task<std::string> sock_recv(const socket& sock, std::size_t n);

/// One send(2) of at most data.size() bytes; returns how many were sent (asyncio has no
/// sock_send; sock_sendall loops over this).
inline detail::op_awaiter<detail::send_some_op> sock_send(const socket& sock,
                                                          std::string_view data) {
    detail::check_socket(sock, "sock_send");
    return detail::op_awaiter<detail::send_some_op>(sock.fileno(), data.data(), data.size());
}

/// asyncio's loop.sock_sendall: sends all of `data` (which must outlive the call), or throws.
/// If cancelled, some of the data may have been sent.
task<void> sock_sendall(const socket& sock, std::string_view data);

/// asyncio's loop.sock_accept: the next connection on a listening socket, non-blocking.
inline detail::op_awaiter<detail::sock_accept_op> sock_accept(const socket& sock) {
    detail::check_socket(sock, "sock_accept");
    return detail::op_awaiter<detail::sock_accept_op>(sock.fileno());
}

/// asyncio's loop.sock_connect. Throws connection_refused_error when nothing listens.
inline detail::op_awaiter<detail::sock_connect_op> sock_connect(const socket& sock,
                                                                const socket_address& addr) {
    detail::check_socket(sock, "sock_connect");
    return detail::op_awaiter<detail::sock_connect_op>(sock.fileno(), addr.get(), addr.size());
}

/// asyncio's loop.sock_sendto: one datagram to `addr`; returns the bytes sent.
inline detail::op_awaiter<detail::sendto_op> sock_sendto(const socket& sock, std::string_view data,
                                                         const socket_address& addr) {
    detail::check_socket(sock, "sock_sendto");
    return detail::op_awaiter<detail::sendto_op>(sock.fileno(), data.data(), data.size(), addr);
}

/// asyncio's loop.sock_recvfrom_into: one datagram into `buf`; returns (count, sender).
inline detail::op_awaiter<detail::recvfrom_op> sock_recvfrom_into(const socket& sock,
                                                                  std::span<char> buf) {
    detail::check_socket(sock, "sock_recvfrom_into");
    return detail::op_awaiter<detail::recvfrom_op>(sock.fileno(), buf.data(), buf.size());
}

/// asyncio's loop.sock_recvfrom: one datagram of at most `n` bytes, and its sender.
task<std::pair<std::string, socket_address>> sock_recvfrom(const socket& sock, std::size_t n);

}  // namespace corio
