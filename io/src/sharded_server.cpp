// start_server(runtime&, ...) and sharded_server (sharded_server.hpp).
#include <exception>
#include <vector>

#include <corio/detail/inbox.hpp>
#include <corio/sharded_server.hpp>

namespace corio::detail {

// servers[i] is loop i's server and is read or written only on loop i's thread (the vector's
// size never changes after construction, so the slots themselves are never moved); the other
// members belong to the home loop.
struct sharded_server_state {
    runtime* rt = nullptr;
    event_loop* home = nullptr;
    std::uint16_t port = 0;
    std::vector<server> servers;
    bool closed = false;
    future<void> serving;  // serve_forever() waits on it; close() cancels it

    explicit sharded_server_state(runtime& r)
        : rt(&r), home(&get_running_loop()), servers(r.size()) {}
};

namespace {

task<std::uint16_t> listen_on_this_loop(std::shared_ptr<sharded_server_state> s, std::size_t i,
                                        client_connected_cb cb, std::string host,
                                        std::uint16_t port, int backlog, std::size_t limit) {
    s->servers[i] =
        co_await start_server(std::move(cb), std::move(host), port, true, backlog, limit);
    co_return s->servers[i].sockets()[0].getsockname().port();
}

task<void> wait_closed_on_this_loop(std::shared_ptr<sharded_server_state> s, std::size_t i) {
    co_await s->servers[i].wait_closed();
    // Dropped here, on its own loop: a server's state holds futures of this loop.
    s->servers[i] = server();
}

// Starts loop i's listener through the runtime. A plain function, so that the submitted
// lambda is never a temporary of a coroutine: gcc 12 mishandles lambda temporaries (and their
// captures of coroutine parameters) in coroutine bodies, relocating them bitwise.
future<std::uint16_t> listen_on(std::shared_ptr<sharded_server_state> s, std::size_t i,
                                const client_connected_cb& cb, const std::string& host,
                                std::uint16_t port, int backlog, std::size_t limit) {
    runtime& rt = *s->rt;
    return rt.submit_to(i, [s = std::move(s), i, cb, host, port, backlog, limit] {
        return listen_on_this_loop(s, i, cb, host, port, backlog, limit);
    });
}

future<void> wait_closed_on(const std::shared_ptr<sharded_server_state>& s, std::size_t i) {
    return s->rt->submit_to(i, [s, i] { return wait_closed_on_this_loop(s, i); });
}

// Closes loop i's server from any loop: a message, so nothing of loop i is touched elsewhere.
// A loop that is already closed has stopped serving anyway.
void close_on(const std::shared_ptr<sharded_server_state>& s, std::size_t i) {
    post(s->rt->loop(i), remote_message([s, i](message_fate fate) {
             if (fate == message_fate::run)
                 s->servers[i].close();
         }));
}

}  // namespace

}  // namespace corio::detail

namespace corio {

std::uint16_t sharded_server::port() const noexcept {
    return s_ ? s_->port : 0;
}

std::size_t sharded_server::size() const noexcept {
    return s_ ? s_->servers.size() : 0;
}

bool sharded_server::is_serving() const noexcept {
    return s_ && !s_->closed;
}

void sharded_server::close() {
    if (!s_ || s_->closed)
        return;
    s_->closed = true;
    for (std::size_t i = 0; i < s_->servers.size(); ++i)
        detail::close_on(s_, i);
    if (s_->serving.valid() && !s_->serving.done())
        s_->serving.cancel();
}

task<void> sharded_server::wait_closed() {
    if (!s_)
        co_return;
    auto s = s_;
    std::vector<future<void>> pending;
    for (std::size_t i = 0; i < s->servers.size(); ++i)
        pending.push_back(detail::wait_closed_on(s, i));
    for (future<void>& f : pending)
        co_await f;
}

task<void> sharded_server::serve_forever() {
    if (!s_ || s_->closed)
        throw std::runtime_error("sharded server is closed");
    if (s_->serving.valid() && !s_->serving.done())
        throw std::runtime_error("sharded server is already being awaited on serve_forever()");
    auto s = s_;
    s->serving = s->home->create_future<void>();
    try {
        co_await s->serving;
    } catch (const cancelled_error&) {
        sharded_server(s).close();
        throw;
    }
}

task<sharded_server> start_server(runtime& rt, client_connected_cb cb, std::string host,
                                  std::uint16_t port, int backlog, std::size_t limit) {
    auto s = std::make_shared<detail::sharded_server_state>(rt);
    std::exception_ptr error;
    // The first listener resolves port 0; the others join it on the port it got.
    try {
        s->port = co_await detail::listen_on(s, 0, cb, host, port, backlog, limit);
    } catch (...) {
        error = std::current_exception();
    }
    if (!error) {
        std::vector<future<std::uint16_t>> pending;
        for (std::size_t i = 1; i < rt.size(); ++i)
            pending.push_back(detail::listen_on(s, i, cb, host, s->port, backlog, limit));
        // Every one is awaited, failed or not, so that none starts listening after the
        // clean-up below has closed the others.
        for (auto& f : pending) {
            try {
                co_await f;
            } catch (...) {
                if (!error)
                    error = std::current_exception();
            }
        }
    }
    if (error) {
        sharded_server partial(s);
        partial.close();
        co_await partial.wait_closed();
        std::rethrow_exception(error);
    }
    co_return sharded_server(std::move(s));
}

}  // namespace corio
