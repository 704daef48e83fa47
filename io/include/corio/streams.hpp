// Streams: asyncio's streams.py (open_connection, start_server, StreamReader, StreamWriter)
// and the Server object start_server returns (base_events.Server).
//
//     corio::task<void> echo(corio::stream_reader r, corio::stream_writer w) {
//         for (;;) {
//             std::string line = co_await r.readline();
//             if (line.empty()) break;       // EOF
//             w.write(line);
//             co_await w.drain();            // backpressure: waits at the high-water mark
//         }
//         w.close();
//         co_await w.wait_closed();
//     }
//     corio::server srv = co_await corio::start_server(echo, "127.0.0.1", 8888);
//     co_await srv.serve_forever();
//
// Everything here is written against io_op only (op_awaiter.hpp, socket_ops.hpp): it behaves
// the same on io_uring and epoll and never asks which one runs. Used on the loop's thread.
// Errors: incomplete_read_error and limit_overrun_error as asyncio; OS errors as
// connection_errors.hpp (a reset peer is connection_reset_error, writing to a closed peer
// broken_pipe_error or connection_reset_error).
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <corio/sockets.hpp>
#include <corio/tasks.hpp>

namespace corio {

namespace detail {
class stream_transport;
struct server_state;
}  // namespace detail

/// asyncio's _DEFAULT_LIMIT: how far readuntil()/readline() look for a separator.
inline constexpr std::size_t default_stream_limit = 64 * 1024;

/// asyncio.StreamReader over a connected socket. A small handle: copies share one stream.
/// One coroutine reads at a time (a second concurrent read throws std::runtime_error, as
/// asyncio's "... called while another coroutine is already waiting for incoming data").
/// Cancelling a read loses no bytes: what arrived stays buffered for the next read.
class stream_reader {
public:
    stream_reader() noexcept = default;
    explicit stream_reader(std::shared_ptr<detail::stream_transport> t) noexcept
        : t_(std::move(t)) {}

    /// Up to `n` bytes (at least one unless at EOF, where it returns ""); n < 0 reads until
    /// EOF; n == 0 returns "" at once.
    task<std::string> read(std::ptrdiff_t n = -1);
    /// Exactly `n` bytes; incomplete_read_error (with the partial bytes) if EOF comes first.
    task<std::string> readexactly(std::size_t n);
    /// Up to and including the next '\n'; at EOF, the rest (possibly ""). A line longer than
    /// limit() is discarded and throws limit_overrun_error (asyncio raises ValueError here).
    task<std::string> readline();
    /// Up to and including `separator`. EOF first: incomplete_read_error with everything
    /// buffered (its `expected` is 0, asyncio's None). Separator not within limit():
    /// limit_overrun_error, the data staying buffered.
    task<std::string> readuntil(std::string separator = "\n");
    /// True once EOF was received and the buffer is empty.
    bool at_eof() const noexcept;
    /// The reader's limit (open_connection/start_server's `limit`).
    std::size_t limit() const noexcept;

private:
    std::shared_ptr<detail::stream_transport> t_;
};

/// asyncio.StreamWriter (and the transport calls asyncio users reach through it). A small
/// handle: copies share one stream. write() never blocks and never fails silently: it starts
/// sending at once and buffers the rest; drain() waits while the buffer is above the
/// high-water mark (until it falls to the low-water mark), so a slow reader blocks the writer
/// instead of growing the buffer without bound. When the last reader and writer handle is
/// gone, the stream finishes sending what was written and closes the socket.
class stream_writer {
public:
    stream_writer() noexcept = default;
    explicit stream_writer(std::shared_ptr<detail::stream_transport> t) noexcept
        : t_(std::move(t)) {}

    /// Queues `data` (copied). Throws std::runtime_error after close() or write_eof(), and
    /// the connection's error (e.g. broken_pipe_error) once sending has failed.
    void write(std::string_view data);
    void writelines(std::initializer_list<std::string_view> lines);
    void writelines(std::span<const std::string> lines);
    /// Waits until the buffer is at or below the low-water mark if it went above the
    /// high-water mark; throws the connection's error if sending failed.
    task<void> drain();
    /// Shuts down the sending side once the buffer is sent (the peer reads EOF); reading
    /// still works.
    void write_eof();
    bool can_write_eof() const noexcept { return true; }
    /// Sends what is buffered, then closes the socket; a read waiting on this stream returns
    /// EOF. Idempotent.
    void close();
    /// transport.abort(): closes at once, dropping unsent data.
    void abort();
    bool is_closing() const noexcept;
    /// Waits until the socket is closed (after close() or abort()).
    task<void> wait_closed();
    /// "peername", "sockname" (socket_address), "socket" (the descriptor, an int; -1 once
    /// closed); an empty std::any for other names (asyncio's default None).
    std::any get_extra_info(std::string_view name) const;
    /// transport.set_write_buffer_limits: high defaults to 64 KiB, low to high / 4.
    void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                 std::optional<std::size_t> low = std::nullopt);
    /// transport.get_write_buffer_size: bytes written and not yet accepted by the kernel.
    std::size_t get_write_buffer_size() const noexcept;

private:
    std::shared_ptr<detail::stream_transport> t_;
};

/// What open_connection returns: asyncio's (reader, writer) tuple.
struct stream_pair {
    stream_reader reader;
    stream_writer writer;
};

/// asyncio.open_connection. `host` is numeric or a name; names are resolved by
/// corio::getaddrinfo on the loop's default executor (dns.hpp; gaierror when nothing
/// resolves). Tries each address in turn; throws the last error (connection_refused_error
/// when nothing listens).
task<stream_pair> open_connection(std::string host, std::uint16_t port,
                                  std::size_t limit = default_stream_limit);
/// asyncio.open_unix_connection.
task<stream_pair> open_unix_connection(std::string path, std::size_t limit = default_stream_limit);
/// Streams over an already connected socket (asyncio's open_connection(sock=...)).
stream_pair make_streams(socket sock, std::size_t limit = default_stream_limit);

/// The connection handler: called with each new connection's streams and run as a task.
/// Write it as a coroutine function, or a non-capturing lambda returning one: a capturing
/// lambda that is itself a coroutine dies before its frame does.
using client_connected_cb = std::function<task<void>(stream_reader, stream_writer)>;

/// asyncio.Server, as start_server returns it. A small handle: copies share one server. Like
/// asyncio's, a server serves until close(); the handlers' exceptions go to the loop's
/// exception handler and close their connection. When accept fails for lack of descriptors
/// or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the server reports it through the exception
/// handler, stops accepting for a while (10 ms, doubling up to 1 s) and carries on.
class server {
public:
    server() noexcept = default;
    explicit server(std::shared_ptr<detail::server_state> s) noexcept : s_(std::move(s)) {}

    /// Stops listening: the listening sockets are closed now; open connections are not.
    void close();
    /// Waits until close() was called and every connection handler has returned.
    task<void> wait_closed();
    /// Waits until the server is closed, then throws cancelled_error, as asyncio's (which
    /// closes the server if the waiting task is cancelled).
    task<void> serve_forever();
    bool is_serving() const noexcept;
    /// The listening sockets (empty once closed).
    std::span<const socket> sockets() const noexcept;
    /// Connections whose handler is still running.
    std::size_t active_connections() const noexcept;

private:
    std::shared_ptr<detail::server_state> s_;
};

/// asyncio.start_server: binds `host`:`port` (port 0: any free port, see sockets()), listens
/// with `backlog` and serves each connection with `cb`. An empty host binds 127.0.0.1 (where
/// asyncio binds every interface). `reuse_port` sets SO_REUSEPORT, for one listener per loop.
task<server> start_server(client_connected_cb cb, std::string host, std::uint16_t port,
                          bool reuse_port = false, int backlog = 100,
                          std::size_t limit = default_stream_limit);
/// asyncio.start_unix_server: a stale socket file at `path` is replaced; close() removes it.
task<server> start_unix_server(client_connected_cb cb, std::string path, int backlog = 100,
                               std::size_t limit = default_stream_limit);

}  // namespace corio
