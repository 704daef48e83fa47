// start_server and the server it returns (streams.hpp): asyncio's base_events.Server and
// streams.start_server. One accept task per listening socket; one task per connection.
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include <corio/streams.hpp>

#include "accept_stream.hpp"
#include "resolve.hpp"

namespace corio::detail {

// Shared by the server handles, the accept tasks and the connection tasks.
struct server_state {
    event_loop* loop = nullptr;
    client_connected_cb cb;
    std::size_t limit = default_stream_limit;
    std::vector<socket> listeners;
    // The accept tasks, one per listener, for close() to cancel; null once a task is gone.
    // Raw pointers, not task handles: a handle here and the task's reference to this state
    // would keep each other alive.
    std::vector<task_base*> acceptors;
    std::size_t accepting = 0;  // accept tasks not yet destroyed
    std::string unix_path;      // removed by close()
    bool closed = false;
    std::size_t active = 0;                    // connection handlers still running
    std::vector<future<void>> closed_waiters;  // wait_closed(): closed and active == 0
    future<void> serving;                      // serve_forever() waits on it; close() cancels

    void wake_if_done() noexcept {
        if (!closed || active != 0)
            return;
        for (future<void>& f : closed_waiters) {
            if (!f.done())
                f.set_result();
        }
        closed_waiters.clear();
    }
};

namespace {

constexpr double first_backoff = 0.01;  // seconds; doubles up to max_backoff
constexpr double max_backoff = 1.0;

bool out_of_resources(int err) noexcept {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

void report(server_state& s, const std::string& message, int err) {
    s.loop->call_exception_handler({message, make_os_error(err, "accept"), "server"});
}

// One connection: the handler's task. Its errors go to the exception handler and close the
// connection (asyncio's StreamReaderProtocol callback); a cancellation just closes it.
task<void> serve_client(std::shared_ptr<server_state> s, socket sock) {
    stream_pair streams = make_streams(std::move(sock), s->limit);
    struct active_guard {
        server_state& s;
        ~active_guard() {
            --s.active;
            s.wake_if_done();
        }
    } guard{*s};
    ++s->active;
    std::exception_ptr error;
    try {
        co_await s->cb(streams.reader, streams.writer);
    } catch (const cancelled_error&) {
        streams.writer.close();
        throw;
    } catch (...) {
        error = std::current_exception();
    }
    if (error) {
        s->loop->call_exception_handler(
            {"Unhandled exception in client_connected_cb", error, "server"});
        streams.writer.close();
    }
}

// An accept task's hold on its server, released when the task's frame is destroyed, also
// when the task was cancelled before its body ever ran.
struct acceptor_ticket {
    std::shared_ptr<server_state> s;
    std::size_t index;
    acceptor_ticket(std::shared_ptr<server_state> state, std::size_t i) noexcept
        : s(std::move(state)), index(i) {}
    acceptor_ticket(acceptor_ticket&& o) noexcept : s(std::move(o.s)), index(o.index) {}
    acceptor_ticket(const acceptor_ticket&) = delete;
    ~acceptor_ticket() {
        if (!s)
            return;
        s->acceptors[index] = nullptr;
        --s->accepting;
        s->wake_if_done();
    }
};

// Accepts until cancelled by close(). Out of descriptors: report, back off, try again.
task<void> accept_loop(acceptor_ticket ticket, int fd, bool tcp) {
    server_state* s = ticket.s.get();
    accept_stream accepts(*s->loop, fd);
    double backoff = first_backoff;
    while (!s->closed) {
        int r = co_await accepts.next();
        if (s->closed) {
            if (r >= 0)
                ::close(r);  // accepted just as close() cancelled: drop it
            co_return;
        }
        if (r >= 0) {
            socket conn(r);
            if (tcp)
                set_nodelay(conn, AF_INET);
            backoff = first_backoff;
            s->loop->create_task(serve_client(ticket.s, std::move(conn)));
        } else if (out_of_resources(-r)) {
            report(*s,
                   "socket.accept() out of system resource; retrying in " +
                       std::to_string(backoff) + " s",
                   -r);
            co_await sleep(backoff);
            backoff = std::min(backoff * 2, max_backoff);
        } else if (-r == ECONNABORTED || -r == EPROTO || -r == EPERM || -r == EINTR) {
            continue;  // that connection is gone; the listener is fine (asyncio's retry list)
        } else {
            report(*s, "socket.accept() failed; the server stops accepting", -r);
            co_return;
        }
    }
}

std::shared_ptr<server_state> new_state(client_connected_cb cb, std::size_t limit) {
    if (!cb)
        throw std::invalid_argument("start_server needs a client_connected_cb");
    auto s = std::make_shared<server_state>();
    s->loop = &get_running_loop();
    s->cb = std::move(cb);
    s->limit = limit;
    s->serving = s->loop->create_future<void>();
    return s;
}

void start_accepting(const std::shared_ptr<server_state>& s, bool tcp) {
    s->acceptors.assign(s->listeners.size(), nullptr);
    for (std::size_t i = 0; i < s->listeners.size(); ++i) {
        ++s->accepting;
        task<void> t =
            s->loop->create_task(accept_loop(acceptor_ticket(s, i), s->listeners[i].fileno(), tcp));
        s->acceptors[i] = t.promise();
    }
}

}  // namespace
}  // namespace corio::detail

namespace corio {

using detail::server_state;

task<server> start_server(client_connected_cb cb, std::string host, std::uint16_t port,
                          bool reuse_port, int backlog, std::size_t limit) {
    auto s = detail::new_state(std::move(cb), limit);
    for (const socket_address& a : co_await detail::resolve(host, port, true)) {
        socket l(a.family(), SOCK_STREAM);
        l.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        if (reuse_port)
            l.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
        if (a.family() == AF_INET6)
            l.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
        l.bind(a);
        l.listen(backlog);
        s->listeners.push_back(std::move(l));
    }
    detail::start_accepting(s, true);
    co_return server(std::move(s));
}

task<server> start_unix_server(client_connected_cb cb, std::string path, int backlog,
                               std::size_t limit) {
    auto s = detail::new_state(std::move(cb), limit);
    socket_address a = socket_address::unix_path(path);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        ::unlink(path.c_str());
    socket l(AF_UNIX, SOCK_STREAM);
    l.bind(a);
    l.listen(backlog);
    s->listeners.push_back(std::move(l));
    s->unix_path = path;
    detail::start_accepting(s, false);
    co_return server(std::move(s));
}

// Cancels the accept tasks, then stops listening at once: on epoll the cancel has
// unregistered the listeners already; on io_uring an accept still in the kernel holds its own
// reference to the socket until the cancel lands, so closing the descriptor alone would leave
// it listening until then. shutdown(SHUT_RDWR) on a listening TCP socket ends the listen
// state now (inet_shutdown -> tcp_disconnect) and fails any accept in progress.
void server::close() {
    if (!s_ || s_->closed)
        return;
    s_->closed = true;
    for (detail::task_base* t : s_->acceptors) {
        if (t != nullptr)
            t->cancel({});
    }
    for (socket& l : s_->listeners)
        ::shutdown(l.fileno(), SHUT_RDWR);
    s_->listeners.clear();
    if (!s_->unix_path.empty())
        ::unlink(s_->unix_path.c_str());
    s_->serving.cancel();
    s_->wake_if_done();
}

// Waits for close(), the connection handlers and the accept tasks (which end in the
// iterations after close()), so that nothing of the server is left on the loop.
task<void> server::wait_closed() {
    std::shared_ptr<server_state> s = s_;
    if (!s)
        co_return;
    if (!s->closed || s->active != 0 || s->accepting != 0) {
        future<void> f = s->loop->create_future<void>();
        s->closed_waiters.push_back(f);
        co_await f;
    }
}

task<void> server::serve_forever() {
    std::shared_ptr<server_state> s = s_;
    if (!s)
        throw std::invalid_argument("serve_forever on an empty server");
    if (s->closed)
        throw std::runtime_error("server is closed");
    future<void> f = s->serving;
    try {
        co_await f;
    } catch (const cancelled_error&) {
        // close() cancelled `serving`, or this task was cancelled: asyncio closes the server
        // either way, and the waiter sees the cancellation.
    }
    close();
    co_await wait_closed();
    throw cancelled_error();
}

bool server::is_serving() const noexcept {
    return s_ && !s_->closed;
}

std::span<const socket> server::sockets() const noexcept {
    if (!s_)
        return {};
    return s_->listeners;
}

std::size_t server::active_connections() const noexcept {
    return s_ ? s_->active : 0;
}

}  // namespace corio
