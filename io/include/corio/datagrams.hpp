// UDP endpoints: asyncio's loop.create_datagram_endpoint, with the DatagramTransport and its
// protocol folded into awaitables (a coroutine reads datagrams rather than receiving
// datagram_received callbacks).
//
//     corio::datagram_endpoint ep =
//         co_await corio::create_datagram_endpoint(corio::host_port{"127.0.0.1", 0});
//     co_await ep.sendto("ping", peer);
//     auto [data, sender] = co_await ep.recvfrom();
//
// Connected (remote_addr given) or not, as asyncio:
// - an unconnected endpoint sends with sendto(data, addr); send(data) throws
//   std::invalid_argument;
// - a connected one sends with send(data), or sendto(data, addr) with addr equal to the remote
//   address; any other address throws std::invalid_argument (asyncio's ValueError "Invalid
//   address: must be None or ..."). It receives only from its peer, and an ICMP "port
//   unreachable" for an earlier datagram makes the next recv or send throw
//   connection_refused_error (asyncio reports it to error_received).
// A datagram longer than the buffer is truncated to it; the rest is discarded, as recvfrom(2)
// and Python's sock.recvfrom(n) do. close() cancels a pending recv or send: the task waiting
// in it gets cancelled_error (as awaiting a future that is cancelled does). Calls on a closed
// endpoint throw std::invalid_argument. One recv and one send at a time per endpoint (the
// backends' rule): a second concurrent recv throws std::runtime_error. Used on one loop's
// thread.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <corio/detail/op_awaiter.hpp>
#include <corio/detail/socket_ops.hpp>
#include <corio/sockets.hpp>
#include <corio/tasks.hpp>

namespace corio {

/// asyncio's (host, port) address argument: a numeric host or a name (resolved with
/// corio::getaddrinfo, off the loop), or a socket_address. Deliberately not an aggregate:
/// gcc 12 corrupts a brace-initialised aggregate temporary holding a std::string when it is an
/// argument inside a co_await (BUILD.md, Decisions); a constructor call is not affected.
struct host_port {
    host_port(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}
    host_port(const socket_address& a) : host(a.host()), port(a.port()) {}  // NOLINT: implicit

    std::string host;
    std::uint16_t port = 0;
};

/// create_datagram_endpoint's keyword arguments.
struct datagram_options {
    bool reuse_port = false;       // SO_REUSEPORT: several endpoints (one per loop) on one port
    bool allow_broadcast = false;  // SO_BROADCAST
    int family = AF_UNSPEC;        // AF_INET or AF_INET6 to restrict resolution; required
                                   // when neither address is given
};

class datagram_endpoint;

namespace detail {

class datagram_op;

// The socket and the ops constructed on it, shared by an endpoint and those ops.
// Loop thread only.
struct datagram_state {
    socket sock;
    std::optional<socket_address> peer;
    bool closing = false;
    event_loop* loop = nullptr;
    datagram_op* ops = nullptr;  // intrusive list, for close() to cancel them
};

// A sendmsg/recvmsg op of an endpoint: listed in its state from construction to destruction,
// so close() can cancel it (a cancel of an op not started is a no-op).
class datagram_op : public msg_op {
public:
    datagram_op(const datagram_op&) = delete;
    datagram_op& operator=(const datagram_op&) = delete;

protected:
    datagram_op(std::shared_ptr<datagram_state> s, bool sending, void* buf, std::size_t len,
                const socket_address* to);
    ~datagram_op();
    // -ECANCELED after close(): cancelled_error; else the OS error of `what`.
    [[noreturn]] void throw_error(const char* what) const;

private:
    friend class corio::datagram_endpoint;
    std::shared_ptr<datagram_state> state_;
    datagram_op* prev_ = nullptr;
    datagram_op* next_ = nullptr;
};

struct datagram_send_op : datagram_op {
    using datagram_op::datagram_op;
    std::size_t finish() const {
        if (result < 0)
            throw_error("sendto");
        return static_cast<std::size_t>(result);
    }
};
struct datagram_recv_op : datagram_op {
    datagram_recv_op(std::shared_ptr<datagram_state> s, void* buf, std::size_t len)
        : datagram_op(std::move(s), false, buf, len, nullptr) {}
    std::pair<std::size_t, socket_address> finish() const {
        if (result < 0)
            throw_error("recvfrom");
        return {static_cast<std::size_t>(result),
                socket_address(reinterpret_cast<const sockaddr*>(&addr), msg.msg_namelen)};
    }
};

}  // namespace detail

/// asyncio's DatagramTransport and protocol in one: a UDP socket on the running loop.
/// Move-only; the destructor closes it.
class datagram_endpoint {
public:
    datagram_endpoint() noexcept = default;
    explicit datagram_endpoint(std::shared_ptr<detail::datagram_state> s) noexcept
        : s_(std::move(s)) {}
    datagram_endpoint(datagram_endpoint&&) noexcept = default;
    datagram_endpoint& operator=(datagram_endpoint&& o) noexcept;
    ~datagram_endpoint() { close(); }

    /// One datagram to `addr` (which on a connected endpoint must be its remote address);
    /// returns the bytes sent. `data` must outlive the co_await.
    detail::op_awaiter<detail::datagram_send_op> sendto(std::string_view data,
                                                        const socket_address& addr);
    /// One datagram to the remote address of a connected endpoint.
    detail::op_awaiter<detail::datagram_send_op> send(std::string_view data);

    /// One datagram of at most `max` bytes (longer ones are truncated) and its sender.
    task<std::pair<std::string, socket_address>> recvfrom(std::size_t max = 65536);
    /// One datagram of at most `max` bytes.
    task<std::string> recv(std::size_t max = 65536);
    /// One datagram into `buf` (alive until the co_await returns): (count, sender). No
    /// allocation.
    detail::op_awaiter<detail::datagram_recv_op> recvfrom_into(std::span<char> buf);

    /// get_extra_info("sockname") / ("peername"); peername is empty when not connected.
    socket_address sockname() const;
    std::optional<socket_address> peername() const;
    int fileno() const noexcept { return s_ ? s_->sock.fileno() : -1; }

    /// Closes the socket now, cancelling a pending recv or send. Idempotent.
    void close() noexcept;
    bool is_closing() const noexcept { return s_ == nullptr || s_->closing; }

private:
    detail::datagram_state& open_state(const char* what) const;

    std::shared_ptr<detail::datagram_state> s_;
};

/// asyncio's loop.create_datagram_endpoint(local_addr=, remote_addr=, family=, reuse_port=,
/// allow_broadcast=). Binds to `local_addr` if given and connects to `remote_addr` if given
/// (names resolve off the loop); with neither, `options.family` says which socket to make.
/// Tries each resolved (local, remote) pair of one family in turn and throws the last error.
/// Throws std::invalid_argument when neither address nor a family is given.
task<datagram_endpoint> create_datagram_endpoint(std::optional<host_port> local_addr,
                                                 std::optional<host_port> remote_addr = {},
                                                 datagram_options options = {});

}  // namespace corio
