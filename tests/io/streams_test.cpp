// Streams on both backends: the reader's calls and limits, the writer's backpressure, and
// the faults of issue 5 (reset, broken pipe, half-close, reading after close, closing twice).
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <corio/detail/backend.hpp>
#include <corio/streams.hpp>

#include "io_fixture.hpp"

namespace corio {
namespace {

using test::io_test;
using test::port_of;

class streams : public io_test {};

// Echoes lines until EOF, then closes.
task<void> echo_lines(stream_reader r, stream_writer w) {
    for (;;) {
        std::string line = co_await r.readline();
        if (line.empty())
            break;
        w.write(line);
        co_await w.drain();
    }
    w.close();
    co_await w.wait_closed();
}

// Reads nothing until told; then closes.
task<void> idle_handler(stream_reader r, stream_writer w) {
    std::string rest = co_await r.read();  // until EOF
    w.close();
    co_await w.wait_closed();
}

task<void> reader_calls() {
    server srv = co_await start_server(echo_lines, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    c.writer.writelines({"one\n", "two\nthree", "\nfour|five|\n"});
    co_await c.writer.drain();
    EXPECT_EQ(co_await c.reader.readline(), "one\n");
    EXPECT_EQ(co_await c.reader.readexactly(2), "tw");
    EXPECT_EQ(co_await c.reader.readuntil("\n"), "o\n");
    EXPECT_EQ(co_await c.reader.readuntil("ee\n"), "three\n");
    EXPECT_EQ(co_await c.reader.readuntil("|"), "four|");
    EXPECT_EQ(co_await c.reader.read(0), "");
    EXPECT_EQ(co_await c.reader.read(3), "fiv");
    c.writer.write_eof();  // the server sees EOF, closes: we read the rest, then EOF
    EXPECT_EQ(co_await c.reader.read(), "e|\n");
    EXPECT_TRUE(c.reader.at_eof());
    EXPECT_EQ(co_await c.reader.read(10), "");
    EXPECT_EQ(co_await c.reader.readline(), "");
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, read_readexactly_readline_readuntil_and_eof) {
    CORIO_RUN(reader_calls());
}

task<void> incomplete() {
    server srv = co_await start_server(echo_lines, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    c.writer.write("abc\n");
    c.writer.write_eof();
    EXPECT_EQ(co_await c.reader.readexactly(2), "ab");
    try {
        co_await c.reader.readexactly(10);
        ADD_FAILURE() << "no incomplete_read_error";
    } catch (const incomplete_read_error& e) {
        EXPECT_EQ(e.partial, "c\n");
        EXPECT_EQ(e.expected, 10u);
    }
    EXPECT_THROW(co_await c.reader.readuntil("x"), incomplete_read_error);
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, eof_before_the_bytes_is_incomplete_read_error) {
    CORIO_RUN(incomplete());
}

task<void> send_bytes(stream_reader, stream_writer w) {
    w.write(std::string(100, 'a') + "\nshort\n" + std::string(50, 'b') + "|tail");
    co_await w.drain();
    w.close();
    co_await w.wait_closed();
}

task<void> over_limit() {
    server srv = co_await start_server(send_bytes, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv), 16);
    EXPECT_EQ(c.reader.limit(), 16u);
    // The over-long line is dropped through its newline; the next one reads fine.
    EXPECT_THROW(co_await c.reader.readline(), limit_overrun_error);
    EXPECT_EQ(co_await c.reader.readline(), "short\n");
    // readuntil keeps the data when the separator is beyond the limit.
    try {
        co_await c.reader.readuntil("|");
        ADD_FAILURE() << "no limit_overrun_error";
    } catch (const limit_overrun_error& e) {
        EXPECT_GT(e.consumed, 16u);
    }
    EXPECT_EQ(co_await c.reader.readexactly(50), std::string(50, 'b'));
    EXPECT_EQ(co_await c.reader.read(), "|tail");
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, a_line_longer_than_the_limit_is_limit_overrun_error) {
    CORIO_RUN(over_limit());
}

// Half-close: the client shuts down its sending side; the server reads EOF and can still
// write its reply, which the client reads.
task<void> reply_after_eof(stream_reader r, stream_writer w) {
    std::string all = co_await r.read();
    EXPECT_TRUE(r.at_eof());
    w.write("got " + std::to_string(all.size()));
    co_await w.drain();
    w.close();
    co_await w.wait_closed();
}

task<void> half_close() {
    server srv = co_await start_server(reply_after_eof, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    c.writer.write("12345");
    c.writer.write_eof();
    EXPECT_THROW(c.writer.write("more"), std::runtime_error);
    EXPECT_EQ(co_await c.reader.read(), "got 5");
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, half_close_reads_eof_and_the_writer_still_works) {
    CORIO_RUN(half_close());
}

// The server resets the connection (SO_LINGER 0, close): the client's read throws
// connection_reset_error.
task<void> reset_handler(stream_reader r, stream_writer w) {
    co_await r.readexactly(1);
    int fd = std::any_cast<int>(w.get_extra_info("socket"));
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    w.close();
    co_await w.wait_closed();
}

task<void> peer_reset() {
    server srv = co_await start_server(reset_handler, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    c.writer.write("x");
    EXPECT_THROW(co_await c.reader.read(), connection_reset_error);
    EXPECT_THROW(co_await c.reader.read(), connection_reset_error);  // the error stays
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, peer_reset_is_connection_reset_error) {
    CORIO_RUN(peer_reset());
}

task<void> close_at_once(stream_reader, stream_writer w) {
    w.close();
    co_await w.wait_closed();
}

// The peer closes while we write: a write or drain fails with broken_pipe_error (EPIPE) or
// connection_reset_error (the peer's RST came first), and keeps failing.
task<void> broken_pipe() {
    server srv = co_await start_server(close_at_once, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    EXPECT_EQ(co_await c.reader.read(), "");  // the server closed
    const std::string chunk(64 * 1024, 'z');
    bool failed = false;
    for (int i = 0; i < 1000 && !failed; ++i) {
        try {
            c.writer.write(chunk);
            co_await c.writer.drain();
            co_await sleep(0.001);
        } catch (const connection_error& e) {
            failed = e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset;
        }
    }
    EXPECT_TRUE(failed);
    EXPECT_THROW(c.writer.write("x"), connection_error);
    EXPECT_THROW(co_await c.writer.drain(), connection_error);
    c.writer.close();
    c.writer.close();  // closing twice is fine
    co_await c.writer.wait_closed();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, writing_to_a_closed_peer_is_broken_pipe) {
    CORIO_RUN(broken_pipe());
}

// A slow reader: drain() blocks at the high-water mark instead of buffering without bound,
// and resumes when the reader catches up; every byte arrives in order.
task<void> read_slowly(stream_reader r, stream_writer w) {
    co_await sleep(0.2);
    std::string all = co_await r.read();
    w.write(std::to_string(all.size()) + (all == std::string(all.size(), 'q') ? " ok" : " bad"));
    co_await w.drain();
    w.close();
    co_await w.wait_closed();
}

task<void> slow_reader() {
    server srv = co_await start_server(read_slowly, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    c.writer.set_write_buffer_limits(64 * 1024, 16 * 1024);
    const std::string chunk(16 * 1024, 'q');
    std::size_t written = 0;
    std::size_t max_buffered = 0;
    bool blocked = false;
    const double start = get_running_loop().time();
    while (written < 32u * 1024 * 1024 && get_running_loop().time() - start < 0.1) {
        c.writer.write(chunk);
        written += chunk.size();
        max_buffered = std::max(max_buffered, c.writer.get_write_buffer_size());
        try {
            co_await wait_for(c.writer.drain(), 0.01);
        } catch (const timeout_error&) {
            blocked = true;
            break;
        }
    }
    EXPECT_TRUE(blocked) << "drain never blocked after " << written << " bytes";
    EXPECT_LE(max_buffered, 64u * 1024 + chunk.size());
    co_await c.writer.drain();  // the reader wakes up and catches up
    c.writer.write_eof();
    EXPECT_EQ(co_await c.reader.read(), std::to_string(written) + " ok");
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, a_slow_reader_blocks_drain_at_the_high_water_mark) {
    CORIO_RUN(slow_reader());
}

task<void> read_after_close() {
    server srv = co_await start_server(idle_handler, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    // A read waiting when the writer closes returns EOF; later reads too.
    task<std::string> waiting = create_task(c.reader.read(100));
    co_await sleep(0.01);
    c.writer.close();
    EXPECT_TRUE(c.writer.is_closing());
    EXPECT_EQ(co_await waiting, "");
    EXPECT_EQ(co_await c.reader.read(100), "");
    EXPECT_TRUE(c.reader.at_eof());
    EXPECT_THROW(co_await c.reader.readexactly(1), incomplete_read_error);
    EXPECT_THROW(c.writer.write("x"), std::runtime_error);
    co_await c.writer.wait_closed();
    EXPECT_EQ(std::any_cast<int>(c.writer.get_extra_info("socket")), -1);
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, reading_from_a_closed_writer_returns_eof) {
    CORIO_RUN(read_after_close());
}

task<void> cancelled_read() {
    server srv = co_await start_server(echo_lines, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    task<std::string> waiting = create_task(c.reader.readline());
    co_await sleep(0.01);
    waiting.cancel();
    EXPECT_THROW(co_await waiting, cancelled_error);
    c.writer.write("still here\n");
    EXPECT_EQ(co_await c.reader.readline(), "still here\n");
    // A timeout inside a line: the bytes already received stay buffered.
    c.writer.write("par");
    EXPECT_THROW(co_await wait_for(c.reader.readline(), 0.05), timeout_error);
    c.writer.write("tial\n");
    EXPECT_EQ(co_await c.reader.readline(), "partial\n");
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, a_cancelled_read_loses_no_bytes) {
    CORIO_RUN(cancelled_read());
}

task<void> extra_info() {
    server srv = co_await start_server(echo_lines, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("localhost", port_of(srv));
    auto peer = std::any_cast<socket_address>(c.writer.get_extra_info("peername"));
    auto me = std::any_cast<socket_address>(c.writer.get_extra_info("sockname"));
    EXPECT_EQ(peer.port(), port_of(srv));
    EXPECT_EQ(peer.host(), "127.0.0.1");
    EXPECT_NE(me.port(), 0);
    EXPECT_GE(std::any_cast<int>(c.writer.get_extra_info("socket")), 0);
    EXPECT_FALSE(c.writer.get_extra_info("nonsense").has_value());
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

// A stream waits for its first read (so a backend may keep state for its descriptor), then
// hands its streams out of the loop; `peer` is the other end.
task<stream_pair> stream_that_has_waited(socket& peer) {
    socket l(AF_INET, SOCK_STREAM);
    l.bind(socket_address::inet("127.0.0.1", 0));
    l.listen(4);
    peer = socket(AF_INET, SOCK_STREAM);
    co_await sock_connect(peer, l.getsockname());
    accepted_socket a = co_await sock_accept(l);
    stream_pair s = make_streams(std::move(a.sock));
    task<std::string> first = create_task(s.reader.read(1));
    co_await sleep(0.01);  // the read waits
    co_await sock_sendall(peer, "x");
    EXPECT_EQ(co_await first, "x");
    co_await sleep(0.01);  // the reader's registration is still there (epoll keeps it)
    co_return s;
}

task<void> recv_on_a_new_socket(socket& peer, std::string& got) {
    socket l(AF_INET, SOCK_STREAM);
    l.bind(socket_address::inet("127.0.0.1", 0));
    l.listen(4);
    peer = socket(AF_INET, SOCK_STREAM);
    co_await sock_connect(peer, l.getsockname());
    accepted_socket a = co_await sock_accept(l);
    task<std::string> r = create_task(sock_recv(a.sock, 16));
    co_await sleep(0.01);  // the recv waits
    co_await sock_sendall(peer, "y");
    got = co_await r;
}

// A stream dropped while its loop is not running cannot tell the backend that its descriptor
// closed (epoll_backend.hpp); a socket that gets the same number later is still waited on
// correctly, by a plain op and by a new stream alike.
TEST_P(streams, a_descriptor_number_reused_after_a_stream_closed_outside_the_loop_works) {
    CORIO_BACKEND_OR_SKIP(b);
    {
        event_loop loop(std::move(b), steady_clock_source::instance());
        socket peer;
        std::optional<stream_pair> s(loop.run_until_complete(stream_that_has_waited(peer)));
        s.reset();  // closes the stream's descriptor, the loop not running
        peer.close();
        std::string got;
        loop.run_until_complete(wait_for(recv_on_a_new_socket(peer, got), limit(5)));
        EXPECT_EQ(got, "y");
        peer.close();
        s.emplace(loop.run_until_complete(wait_for(stream_that_has_waited(peer), limit(5))));
        s.reset();
        loop.close();
    }
}

TEST_P(streams, get_extra_info_and_localhost) {
    CORIO_RUN(extra_info());
}

task<void> unix_streams(std::string path) {
    server srv = co_await start_unix_server(echo_lines, path);
    stream_pair c = co_await open_unix_connection(path);
    c.writer.write("over unix\n");
    EXPECT_EQ(co_await c.reader.readline(), "over unix\n");
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, unix_socket_connection_and_server) {
    std::string path = testing::TempDir() + "corio_streams_" + std::to_string(::getpid()) + ".sock";
    CORIO_RUN(unix_streams(path));
    EXPECT_NE(::access(path.c_str(), F_OK), 0) << "close() removes the socket file";
}

// The io_uring backend reads a stream through one multishot recv into the loop's provided
// buffers: many reads, no request per read. On epoll every read is a recv of its own.
task<void> many_reads_few_requests() {
    event_loop& loop = get_running_loop();
    const bool multishot = detail::loop_access::backend(loop).caps().multishot_recv;
    EXPECT_EQ(multishot, loop.backend_name() == "io_uring");
    server srv = co_await start_server(echo_lines, "127.0.0.1", 0);
    stream_pair c = co_await open_connection("127.0.0.1", port_of(srv));
    const loop_stats before = loop.stats();
    constexpr std::uint64_t rounds = 50;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        std::string line = "line " + std::to_string(i) + "\n";
        c.writer.write(line);
        co_await c.writer.drain();
        EXPECT_EQ(co_await c.reader.readline(), line);
    }
    const loop_stats after = loop.stats();
    // Each round: the client's and the server's send, and both sides' reads.
    const std::uint64_t parts = after.io_parts - before.io_parts;
    const std::uint64_t ops = after.io_completions - before.io_completions;
    if (multishot) {
        EXPECT_GE(parts, 2 * rounds);
        EXPECT_LT(ops, 3 * rounds) << "a read cost a request";
    } else {
        EXPECT_EQ(parts, 0u);
        EXPECT_GE(ops, 4 * rounds);
    }
    c.writer.close();
    co_await c.writer.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(streams, reads_on_io_uring_share_one_multishot_recv) {
    CORIO_RUN(many_reads_few_requests());
}

// A connected pair: `a` as streams with `limit`, `b` a plain socket.
task<stream_pair> connected_streams(socket& b, std::size_t limit) {
    socket l(AF_INET, SOCK_STREAM);
    l.bind(socket_address::inet("127.0.0.1", 0));
    l.listen(4);
    b = socket(AF_INET, SOCK_STREAM);
    co_await sock_connect(b, l.getsockname());
    accepted_socket a = co_await sock_accept(l);
    co_return make_streams(std::move(a.sock), limit);
}

// A reader far behind its peer: once more than twice the limit is buffered, the multishot
// recv is paused (cancelled), and a reader that wants more arms it again; every byte arrives
// once, in order. Then a long transfer through a small limit, pausing again and again.
task<void> lagging_reader() {
    constexpr std::size_t limit = 1024;
    constexpr std::size_t total = 1 << 20;
    std::string data(total, '\0');
    for (std::size_t i = 0; i < total; ++i)
        data[i] = static_cast<char>((i * 7) % 251);
    event_loop& loop = get_running_loop();
    const bool multishot = detail::loop_access::backend(loop).caps().multishot_recv;
    socket peer;
    stream_pair s = co_await connected_streams(peer, limit);

    constexpr std::size_t block = 8 * limit;
    co_await sock_sendall(peer, std::string_view(data).substr(0, block));
    std::string got = co_await s.reader.readexactly(1);  // arms the recv; the block overshoots
    if (multishot) {
        // The pause ends the recv: one completion, within a few iterations.
        const std::uint64_t ops = loop.stats().io_completions;
        for (int i = 0; i < 1000 && loop.stats().io_completions == ops; ++i)
            co_await sleep(0);
        EXPECT_EQ(loop.stats().io_completions, ops + 1) << "reading did not pause";
    }
    task<void> sender = create_task(sock_sendall(peer, std::string_view(data).substr(block)));
    while (got.size() < total) {
        std::string chunk = co_await s.reader.read(limit);
        EXPECT_FALSE(chunk.empty()) << "EOF after " << got.size() << " bytes";
        if (chunk.empty())
            break;
        got += chunk;
        co_await sleep(0);  // fall behind: parts arrive while this reader is not waiting
    }
    co_await sender;
    EXPECT_TRUE(got == data) << "the bytes differ";
    peer.close();
    EXPECT_EQ(co_await s.reader.read(), "");
    s.writer.close();
    co_await s.writer.wait_closed();
}

TEST_P(streams, a_reader_far_behind_pauses_reading_and_loses_nothing) {
    CORIO_RUN(lagging_reader());
}

// The last handle goes while a recv is armed (the multishot one stays armed after a read is
// cancelled): the stream's socket is still closed, once the kernel has let go of the recv.
task<void> dropped_while_armed() {
    socket peer;
    {
        stream_pair s = co_await connected_streams(peer, default_stream_limit);
        task<std::string> r = create_task(s.reader.read(10));
        co_await sleep(0);  // the read waits
        r.cancel();
        EXPECT_THROW(co_await r, cancelled_error);
    }
    EXPECT_EQ(co_await sock_recv(peer, 16), "") << "the peer sees the socket closed";
    peer.close();
}

TEST_P(streams, dropping_every_handle_while_a_recv_is_armed_closes_the_socket) {
    CORIO_RUN(dropped_while_armed());
}

task<void> start_reading(std::optional<stream_pair>& kept, socket& peer,
                         std::optional<task<std::string>>& reading) {
    kept.emplace(co_await connected_streams(peer, default_stream_limit));
    reading.emplace(create_task(kept->reader.read(10)));
    co_await sleep(0);  // the read waits
}

// loop.close() with a read still waiting: the task is reported and destroyed, the recv is
// drained, and the stream, outliving its loop, still closes its socket.
TEST_P(streams, closing_the_loop_while_a_stream_reads_leaks_nothing) {
    CORIO_BACKEND_OR_SKIP(b);
    std::optional<stream_pair> kept;
    std::optional<task<std::string>> reading;
    socket peer;
    {
        event_loop loop(std::move(b), steady_clock_source::instance());
        std::vector<std::string> reports;
        loop.set_exception_handler(
            [&reports](event_loop&, const exception_context& c) { reports.push_back(c.message); });
        loop.run_until_complete(start_reading(kept, peer, reading));
        loop.close();
        ASSERT_EQ(reports.size(), 1u);
        EXPECT_EQ(reports[0], "Task was destroyed but it is pending!");
        reading.reset();
    }
    kept.reset();
    peer.close();
}

CORIO_INSTANTIATE_BACKENDS(streams);

}  // namespace
}  // namespace corio
