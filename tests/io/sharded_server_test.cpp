// start_server(runtime&, ...): one SO_REUSEPORT listener per loop, connections spread by the
// kernel over the loops and each served on the loop that accepted it; on both backends.
#include <array>
#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <corio/runtime.hpp>
#include <corio/sharded_server.hpp>

#include "io_fixture.hpp"

namespace corio {
namespace {

class sharded_server_test : public test::io_test {
protected:
    runtime::options two_loops() {
        runtime::options o;
        o.loops = 2;
        o.loop.backend = GetParam();
        return o;
    }
};

// Answers each line with the index of the loop serving the connection.
task<void> tell_loop(stream_reader r, stream_writer w) {
    std::string line = co_await r.readline();
    w.write(std::to_string(*runtime::this_loop_index()) + "\n");
    co_await w.drain();
    w.close();
    co_await w.wait_closed();
}

task<std::size_t> ask_loop(std::uint16_t port) {
    auto [r, w] = co_await open_connection("127.0.0.1", port);
    w.write("which?\n");
    co_await w.drain();
    std::string answer = co_await r.readline();
    w.close();
    co_await w.wait_closed();
    co_return static_cast<std::size_t>(std::stoul(answer));
}

task<std::uint16_t> start(runtime& rt, sharded_server& out) {
    out = co_await start_server(rt, tell_loop, "127.0.0.1", 0);
    co_return out.port();
}

task<void> stop(sharded_server& srv) {
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(sharded_server_test, spreads_100_connections_over_2_loops_and_serves_them_all) {
    CORIO_BACKEND_OR_SKIP(probe);
    probe.reset();
    runtime rt(two_loops());
    sharded_server srv;
    const std::uint16_t port = rt.run(start(rt, srv));
    ASSERT_NE(port, 0);
    EXPECT_EQ(srv.size(), 2u);

    // The clients run on a loop of their own, all 100 connections at once.
    auto clients = [](std::uint16_t port) -> task<std::array<std::size_t, 2>> {
        std::vector<task<std::size_t>> asks;
        for (int i = 0; i < 100; ++i)
            asks.push_back(create_task(ask_loop(port)));
        std::array<std::size_t, 2> served{};
        for (std::size_t loop : co_await gather(std::move(asks)))
            ++served.at(loop);
        co_return served;
    };
    std::optional<std::array<std::size_t, 2>> served = run(clients(port), 20);
    rt.run(stop(srv));
    ASSERT_TRUE(served);
    EXPECT_EQ((*served)[0] + (*served)[1], 100u);
    // The kernel hashes each connection's 4-tuple to a listener: with 100 connections, a loop
    // that got none would mean the listeners were not sharing the port.
    EXPECT_GT((*served)[0], 0u);
    EXPECT_GT((*served)[1], 0u);
}

TEST_P(sharded_server_test, close_stops_every_loop_listening) {
    CORIO_BACKEND_OR_SKIP(probe);
    probe.reset();
    runtime rt(two_loops());
    sharded_server srv;
    const std::uint16_t port = rt.run(start(rt, srv));
    rt.run(stop(srv));
    EXPECT_FALSE(srv.is_serving());
    auto refused = [](std::uint16_t port) -> task<bool> {
        try {
            co_await open_connection("127.0.0.1", port);
        } catch (const connection_refused_error&) {
            co_return true;
        }
        co_return false;
    };
    EXPECT_EQ(run(refused(port)), std::optional<bool>(true));
}

TEST_P(sharded_server_test, a_port_held_without_reuse_port_is_an_error) {
    CORIO_BACKEND_OR_SKIP(probe);
    probe.reset();
    runtime rt(two_loops());
    // A listener without SO_REUSEPORT holds the port: no loop can join it.
    auto hold = []() -> task<server> {
        co_return co_await start_server(tell_loop, "127.0.0.1", 0);
    };
    auto attempt = [](runtime& rt, std::uint16_t port) -> task<bool> {
        try {
            co_await start_server(rt, tell_loop, "127.0.0.1", port);
        } catch (const std::system_error&) {
            co_return true;
        }
        co_return false;
    };
    auto b = make_backend_or_skip();
    event_loop loop(std::move(b), steady_clock_source::instance());
    server held = loop.run_until_complete(hold());
    const std::uint16_t port = held.sockets()[0].getsockname().port();
    EXPECT_TRUE(rt.run(attempt(rt, port)));
    held.close();
    loop.run_until_complete(held.wait_closed());
    loop.close();
}

CORIO_INSTANTIATE_BACKENDS(sharded_server_test);

}  // namespace
}  // namespace corio
