// The sock_* calls on both backends: round trips over TCP and UDP, connect refused, and a
// task cancelled while it waits in an op (the op is cancelled, the socket stays usable).
#include <netinet/in.h>

#include <string>

#include <corio/sockets.hpp>

#include "io_fixture.hpp"

namespace corio {
namespace {

using test::io_test;

class sockets : public io_test {};

socket listener(socket_address& bound) {
    socket l(AF_INET, SOCK_STREAM);
    l.bind(socket_address::inet("127.0.0.1", 0));
    l.listen(16);
    bound = l.getsockname();
    return l;
}

task<void> round_trip() {
    socket_address addr;
    socket l = listener(addr);
    socket c(AF_INET, SOCK_STREAM);
    co_await sock_connect(c, addr);
    accepted_socket a = co_await sock_accept(l);
    EXPECT_EQ(a.address.port(), c.getsockname().port());
    EXPECT_EQ(a.address.host(), "127.0.0.1");
    co_await sock_sendall(c, "hello, server");
    std::string got;
    while (got.size() < 13)
        got += co_await sock_recv(a.sock, 64);
    EXPECT_EQ(got, "hello, server");
    std::string big(1 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 26);
    task<void> sender = create_task(sock_sendall(a.sock, big));
    std::string back;
    while (back.size() < big.size())
        back += co_await sock_recv(c, 65536);
    co_await sender;
    EXPECT_TRUE(back == big);
    c.close();
    EXPECT_EQ(co_await sock_recv(a.sock, 16), "");  // EOF
}

TEST_P(sockets, tcp_round_trip_with_accept_connect_sendall_recv) {
    CORIO_RUN(round_trip());
}

task<void> refused() {
    socket_address addr;
    { socket l = listener(addr); }  // bound, then closed: nothing listens there now
    socket c(AF_INET, SOCK_STREAM);
    EXPECT_THROW(co_await sock_connect(c, addr), connection_refused_error);
}

TEST_P(sockets, connect_to_a_closed_port_is_refused) {
    CORIO_RUN(refused());
}

task<void> cancelled_recv() {
    socket_address addr;
    socket l = listener(addr);
    socket c(AF_INET, SOCK_STREAM);
    co_await sock_connect(c, addr);
    accepted_socket a = co_await sock_accept(l);
    // A recv that waits forever, cancelled: the task ends cancelled, after the op is done.
    task<std::string> reader = create_task(sock_recv(a.sock, 16));
    co_await sleep(0.01);
    EXPECT_FALSE(reader.done());
    reader.cancel();
    EXPECT_THROW(co_await reader, cancelled_error);
    EXPECT_TRUE(reader.cancelled());
    // The socket is still usable, and the cancelled recv took nothing.
    co_await sock_sendall(c, "after");
    std::string got;
    while (got.size() < 5)
        got += co_await sock_recv(a.sock, 16);
    EXPECT_EQ(got, "after");
}

TEST_P(sockets, a_cancelled_recv_leaves_the_socket_usable) {
    CORIO_RUN(cancelled_recv());
}

task<void> timed_out_recv() {
    socket_address addr;
    socket l = listener(addr);
    socket c(AF_INET, SOCK_STREAM);
    co_await sock_connect(c, addr);
    accepted_socket a = co_await sock_accept(l);
    EXPECT_THROW(co_await wait_for(sock_recv(a.sock, 16), 0.02), timeout_error);
    co_await sock_sendall(c, "x");
    EXPECT_EQ(co_await sock_recv(a.sock, 16), "x");
}

TEST_P(sockets, wait_for_on_a_recv_times_out_and_the_socket_stays_usable) {
    CORIO_RUN(timed_out_recv());
}

task<void> second_reader() {
    socket_address addr;
    socket l = listener(addr);
    socket c(AF_INET, SOCK_STREAM);
    co_await sock_connect(c, addr);
    accepted_socket a = co_await sock_accept(l);
    task<std::string> first = create_task(sock_recv(a.sock, 16));
    co_await sleep(0);
    EXPECT_THROW(co_await sock_recv(a.sock, 16), std::runtime_error);
    co_await sock_sendall(c, "1");
    EXPECT_EQ(co_await first, "1");
}

TEST_P(sockets, a_second_concurrent_reader_is_an_error) {
    CORIO_RUN(second_reader());
}

task<void> cancelled_accept() {
    socket_address addr;
    socket l = listener(addr);
    // A scheduled task's result is copied to its awaiters: return the descriptor.
    task<int> t = create_task(
        [](const socket& s) -> task<int> { co_return (co_await sock_accept(s)).sock.detach(); }(l));
    co_await sleep(0.01);
    t.cancel();
    EXPECT_THROW(co_await t, cancelled_error);
    socket c(AF_INET, SOCK_STREAM);
    co_await sock_connect(c, addr);
    accepted_socket a = co_await sock_accept(l);
    EXPECT_TRUE(a.sock.valid());
}

TEST_P(sockets, a_cancelled_accept_leaves_the_listener_usable) {
    CORIO_RUN(cancelled_accept());
}

task<void> udp() {
    socket a(AF_INET, SOCK_DGRAM);
    a.bind(socket_address::inet("127.0.0.1", 0));
    socket b(AF_INET, SOCK_DGRAM);
    b.bind(socket_address::inet("127.0.0.1", 0));
    EXPECT_EQ(co_await sock_sendto(a, "datagram", b.getsockname()), 8u);
    auto [data, from] = co_await sock_recvfrom(b, 64);
    EXPECT_EQ(data, "datagram");
    EXPECT_EQ(from.port(), a.getsockname().port());
}

// Owns its sockets, so they are closed when its frame is destroyed.
task<void> recv_forever(socket l, socket_address addr) {
    socket c(AF_INET, SOCK_STREAM);
    co_await sock_connect(c, addr);
    accepted_socket a = co_await sock_accept(l);
    co_await sock_recv(a.sock, 16);  // nobody sends
    ADD_FAILURE() << "the recv completed";
}

// close() with a task suspended in a recv the kernel holds: the recv is cancelled and given
// back before the frame that holds its buffer is destroyed (io_op.hpp). close() returns, the
// task is reported, ASan sees no use after free or leak, and no descriptor is left open.
TEST_P(sockets, closing_the_loop_drains_a_recv_in_flight_before_destroying_its_frame) {
    CORIO_BACKEND_OR_SKIP(b);
    detail::backend& backend = *b;
    event_loop loop(std::move(b), steady_clock_source::instance());
    int destroyed_pending = 0;
    loop.set_exception_handler([&](event_loop&, const exception_context& c) {
        if (c.message == "Task was destroyed but it is pending!")
            ++destroyed_pending;
    });
    socket_address addr;
    task<void> t = loop.create_task(recv_forever(listener(addr), addr));
    loop.run_until_complete([]() -> task<void> { co_await sleep(0.05); }());
    ASSERT_FALSE(t.done());
    EXPECT_EQ(backend.pending_ops(), 1u);  // the recv
    loop.close();
    EXPECT_EQ(backend.pending_ops(), 0u);
    EXPECT_GE(destroyed_pending, 1);
}

TEST_P(sockets, udp_sendto_and_recvfrom) {
    CORIO_RUN(udp());
}

TEST_P(sockets, bad_input_is_a_clear_error) {
    EXPECT_THROW(socket_address::inet("not-an-ip", 1), std::invalid_argument);
    EXPECT_THROW(socket_address::unix_path(std::string(200, 'x')), std::invalid_argument);
    socket empty;
    EXPECT_THROW(sock_accept(empty), std::invalid_argument);
    EXPECT_EQ(socket_address::inet("::1", 80).to_string(), "[::1]:80");
}

CORIO_INSTANTIATE_BACKENDS(sockets);

}  // namespace
}  // namespace corio
