// A server on every loop of a runtime (Seastar's and Glommio's sharded listening): one
// SO_REUSEPORT listener per loop on the same port, so the kernel spreads the connections over
// the loops and each connection lives, start to end, on the loop that accepted it.
//
//     corio::runtime rt;
//     rt.run([](corio::runtime& rt) -> corio::task<void> {
//         corio::sharded_server srv = co_await corio::start_server(rt, echo, "127.0.0.1", 7000);
//         co_await srv.serve_forever();
//     }(rt));
//
// No asyncio analogue: asyncio has one loop per process thread and no runtime of loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <corio/runtime.hpp>
#include <corio/streams.hpp>

namespace corio {

namespace detail {
struct sharded_server_state;
}

/// The servers start_server(runtime&, ...) started, one per loop. Call its members from the
/// loop that started it (its home loop); each loop's server is only ever touched on its loop.
class sharded_server {
public:
    sharded_server() noexcept = default;
    explicit sharded_server(std::shared_ptr<detail::sharded_server_state> s) noexcept
        : s_(std::move(s)) {}

    /// The port every loop listens on (the one the kernel chose when start_server got 0).
    std::uint16_t port() const noexcept;
    /// How many loops serve (the runtime's size).
    std::size_t size() const noexcept;

    /// Stops listening on every loop (through their inboxes; returns at once). Open
    /// connections are not closed, as asyncio's Server.close(). Idempotent.
    void close();
    /// Waits until close() was called and every loop's connection handlers have returned.
    task<void> wait_closed();
    /// Waits until the server is closed, then throws cancelled_error; a cancellation of the
    /// waiting task closes the server, as asyncio's serve_forever.
    task<void> serve_forever();
    bool is_serving() const noexcept;

private:
    std::shared_ptr<detail::sharded_server_state> s_;
};

/// start_server on every loop of `rt`, each with SO_REUSEPORT on `host`:`port` (port 0: the
/// first loop's listener picks a free port and the others bind that one). Call it from a loop
/// of `rt`; it returns when every loop listens. If one loop fails to listen, those already
/// listening are closed and the error is rethrown.
task<sharded_server> start_server(runtime& rt, client_connected_cb cb, std::string host,
                                  std::uint16_t port, int backlog = 100,
                                  std::size_t limit = default_stream_limit);

}  // namespace corio
