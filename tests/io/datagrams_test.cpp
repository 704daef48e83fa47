// create_datagram_endpoint on both backends: unconnected and connected round trips, many
// datagrams in order, truncation, close() while a recv waits, the errors asyncio raises, and
// an ICMP port unreachable surfacing as connection_refused_error.
#include <netinet/in.h>

#include <string>
#include <vector>

#include <corio/datagrams.hpp>

#include "io_fixture.hpp"

namespace corio {
namespace {

class datagrams : public test::io_test {
protected:
    datagrams() { with_executor_ = true; }  // "localhost" resolves on the executor
};

host_port any_port() {
    return {"127.0.0.1", 0};
}
host_port to(const socket_address& a) {
    return {a.host(), a.port()};
}

task<void> unconnected_round_trip() {
    datagram_endpoint a = co_await create_datagram_endpoint(any_port());
    datagram_endpoint b = co_await create_datagram_endpoint(any_port());
    EXPECT_FALSE(a.peername());
    EXPECT_EQ(a.sockname().host(), "127.0.0.1");
    EXPECT_NE(a.sockname().port(), 0);
    EXPECT_EQ(co_await a.sendto("ping", b.sockname()), 4u);
    auto [data, sender] = co_await b.recvfrom();
    EXPECT_EQ(data, "ping");
    EXPECT_EQ(sender.to_string(), a.sockname().to_string());
    co_await b.sendto("pong", sender);
    EXPECT_EQ(co_await a.recv(), "pong");
    // An empty datagram is a datagram.
    co_await a.sendto("", b.sockname());
    auto empty = co_await b.recvfrom();
    EXPECT_EQ(empty.first, "");
    // The allocation-free form.
    co_await a.sendto("into", b.sockname());
    char buf[16];
    auto [n, from] = co_await b.recvfrom_into(buf);
    EXPECT_EQ(std::string(buf, n), "into");
    EXPECT_EQ(from.port(), a.sockname().port());
}

TEST_P(datagrams, unconnected_round_trip) {
    CORIO_RUN(unconnected_round_trip());
}

task<void> connected_round_trip() {
    datagram_endpoint server = co_await create_datagram_endpoint(any_port());
    // Only a remote address, given by name: bound by the kernel on the first send.
    datagram_endpoint client = co_await create_datagram_endpoint(
        std::nullopt, host_port{"localhost", server.sockname().port()});
    EXPECT_TRUE(client.peername());
    EXPECT_EQ(client.peername().value_or(socket_address()).port(), server.sockname().port());
    co_await client.send("hello");
    auto [data, sender] = co_await server.recvfrom();
    EXPECT_EQ(data, "hello");
    EXPECT_EQ(sender.to_string(), client.sockname().to_string());
    co_await server.sendto("world", sender);
    EXPECT_EQ(co_await client.recv(), "world");
    // sendto with the remote address itself is allowed, as asyncio allows it.
    co_await client.sendto("again", client.peername().value_or(socket_address()));
    EXPECT_EQ((co_await server.recvfrom()).first, "again");
    // A connected endpoint hears only its peer.
    datagram_endpoint stranger = co_await create_datagram_endpoint(any_port());
    co_await stranger.sendto("noise", client.sockname());
    co_await server.sendto("signal", client.sockname());
    EXPECT_EQ(co_await client.recv(), "signal");
}

TEST_P(datagrams, connected_round_trip) {
    CORIO_RUN(connected_round_trip());
}

task<void> many_datagrams() {
    datagram_endpoint server = co_await create_datagram_endpoint(any_port());
    datagram_endpoint client = co_await create_datagram_endpoint(any_port(), to(server.sockname()));
    // In windows of 64, so that the receive buffer never overflows (UDP may drop then);
    // loopback keeps the order.
    constexpr int total = 4096;
    constexpr int window = 64;
    int expected = 0;
    for (int sent = 0; sent < total;) {
        for (int i = 0; i < window; ++i, ++sent)
            co_await client.send("datagram " + std::to_string(sent));
        for (int i = 0; i < window; ++i, ++expected) {
            auto [data, sender] = co_await server.recvfrom(64);
            EXPECT_EQ(data, "datagram " + std::to_string(expected));
            if (data != "datagram " + std::to_string(expected))
                co_return;
        }
    }
    EXPECT_EQ(expected, total);
}

TEST_P(datagrams, many_datagrams_arrive_in_order) {
    CORIO_RUN(many_datagrams());
}

task<void> truncation() {
    datagram_endpoint a = co_await create_datagram_endpoint(any_port());
    datagram_endpoint b = co_await create_datagram_endpoint(any_port());
    co_await a.sendto(std::string(100, 'x'), b.sockname());
    co_await a.sendto("next", b.sockname());
    EXPECT_EQ(co_await b.recv(10), std::string(10, 'x'));  // the other 90 bytes are gone
    EXPECT_EQ(co_await b.recv(10), "next");
}

TEST_P(datagrams, a_datagram_longer_than_max_is_truncated) {
    CORIO_RUN(truncation());
}

task<void> close_while_receiving() {
    datagram_endpoint ep = co_await create_datagram_endpoint(any_port());
    const int fd = ep.fileno();
    // 1. A recv waits; 2. the endpoint closes; 3. the waiting task ends with cancelled_error
    // (after the backend gave the op back); 4. the endpoint refuses further calls.
    task<std::pair<std::string, socket_address>> reader = create_task(ep.recvfrom());
    co_await sleep(0.01);
    EXPECT_FALSE(reader.done());
    ep.close();
    EXPECT_TRUE(ep.is_closing());
    EXPECT_THROW(co_await reader, cancelled_error);
    EXPECT_TRUE(reader.cancelled());
    EXPECT_THROW(co_await ep.recv(), std::invalid_argument);
    EXPECT_THROW(ep.sendto("x", socket_address::inet("127.0.0.1", 9)), std::invalid_argument);
    ep.close();  // idempotent
    // The descriptor is closed: the number is free again.
    socket probe(AF_INET, SOCK_DGRAM);
    EXPECT_EQ(probe.fileno(), fd);
}

TEST_P(datagrams, closing_while_a_recv_is_pending_cancels_it) {
    CORIO_RUN(close_while_receiving());
}

task<void> cancelled_recv_keeps_endpoint_usable() {
    datagram_endpoint a = co_await create_datagram_endpoint(any_port());
    datagram_endpoint b = co_await create_datagram_endpoint(any_port());
    task<std::string> reader = create_task(b.recv());
    co_await sleep(0.01);
    reader.cancel();
    EXPECT_THROW(co_await reader, cancelled_error);
    co_await a.sendto("after", b.sockname());
    EXPECT_EQ(co_await b.recv(), "after");
}

TEST_P(datagrams, a_cancelled_recv_leaves_the_endpoint_usable) {
    CORIO_RUN(cancelled_recv_keeps_endpoint_usable());
}

task<void> bad_input() {
    datagram_endpoint server = co_await create_datagram_endpoint(any_port());
    datagram_endpoint other = co_await create_datagram_endpoint(any_port());
    datagram_endpoint connected =
        co_await create_datagram_endpoint(std::nullopt, to(server.sockname()));
    // asyncio: ValueError("Invalid address: must be None or ('127.0.0.1', port)").
    EXPECT_THROW(connected.sendto("x", other.sockname()), std::invalid_argument);
    // send() needs a peer.
    EXPECT_THROW(server.send("x"), std::invalid_argument);
    // Neither address nor a family: asyncio's ValueError('unexpected address family').
    EXPECT_THROW(co_await create_datagram_endpoint(std::nullopt, std::nullopt),
                 std::invalid_argument);
    // Local and remote of different families: nothing to pair.
    EXPECT_THROW(co_await create_datagram_endpoint(host_port{"127.0.0.1", 0},
                                                   host_port{"::1", server.sockname().port()}),
                 std::invalid_argument);
    // A port in use without reuse_port.
    EXPECT_THROW(co_await create_datagram_endpoint(to(server.sockname())), std::system_error);
    // One recv at a time, as on every socket.
    task<std::string> first = create_task(server.recv());
    co_await sleep(0.01);
    EXPECT_THROW(co_await server.recv(), std::runtime_error);
    first.cancel();
    EXPECT_THROW(co_await first, cancelled_error);
}

TEST_P(datagrams, bad_input_raises_as_asyncio_does) {
    CORIO_RUN(bad_input());
}

task<void> family_and_options() {
    // Neither address, a family: an unbound socket that binds on its first send.
    datagram_endpoint a = co_await create_datagram_endpoint(
        std::nullopt, std::nullopt, {.allow_broadcast = true, .family = AF_INET});
    datagram_endpoint b =
        co_await create_datagram_endpoint(any_port(), std::nullopt, {.reuse_port = true});
    // reuse_port: a second endpoint on the same port.
    datagram_endpoint b2 =
        co_await create_datagram_endpoint(to(b.sockname()), std::nullopt, {.reuse_port = true});
    EXPECT_EQ(b2.sockname().port(), b.sockname().port());
    co_await a.sendto("x", b.sockname());
    EXPECT_NE(a.sockname().port(), 0);
    b2.close();  // SO_REUSEPORT may hand the datagram to either: close one first
    co_await a.sendto("y", b.sockname());
    std::string got = co_await b.recv();
    EXPECT_TRUE(got == "x" || got == "y") << got;
}

TEST_P(datagrams, family_only_endpoint_and_socket_options) {
    CORIO_RUN(family_and_options());
}

task<void> port_unreachable() {
    socket_address closed;
    {
        socket s(AF_INET, SOCK_DGRAM);
        s.bind(socket_address::inet("127.0.0.1", 0));
        closed = s.getsockname();
    }  // nothing listens there now
    datagram_endpoint ep = co_await create_datagram_endpoint(std::nullopt, to(closed));
    co_await ep.send("anyone?");
    // The ICMP port unreachable the send provoked is reported on the next recv (asyncio's
    // error_received(ConnectionRefusedError)).
    EXPECT_THROW(co_await ep.recv(), connection_refused_error);
}

TEST_P(datagrams, icmp_port_unreachable_raises_connection_refused) {
    CORIO_RUN(port_unreachable());
}

CORIO_INSTANTIATE_BACKENDS(datagrams);

}  // namespace
}  // namespace corio
