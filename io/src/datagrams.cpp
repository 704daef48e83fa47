// UDP endpoints (datagrams.hpp): asyncio's _create_datagram_endpoint and
// _SelectorDatagramTransport, over the sendmsg/recvmsg ops.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <corio/datagrams.hpp>
#include <corio/detail/backend.hpp>

#include "resolve.hpp"

namespace corio {
namespace detail {

datagram_op::datagram_op(std::shared_ptr<datagram_state> s, bool sending, void* buf,
                         std::size_t len, const socket_address* to)
    : msg_op(s->sock.fileno(), sending, buf, len, to != nullptr ? to->get() : nullptr,
             to != nullptr ? to->size() : 0),
      state_(std::move(s)) {
    next_ = state_->ops;
    if (next_ != nullptr)
        next_->prev_ = this;
    state_->ops = this;
}

datagram_op::~datagram_op() {
    if (prev_ != nullptr) {
        prev_->next_ = next_;
    } else {
        state_->ops = next_;
    }
    if (next_ != nullptr)
        next_->prev_ = prev_;
}

void datagram_op::throw_error(const char* what) const {
    // The op was cancelled by close(), not by its task (op_awaiter throws that one first).
    if (result == -ECANCELED && state_->closing)
        throw cancelled_error("the datagram endpoint was closed");
    throw_socket_error(-result, what);
}

}  // namespace detail

namespace {

using detail::datagram_state;
using detail::op_awaiter;

bool same_address(const socket_address& a, const socket_address& b) {
    return a.family() == b.family() && a.port() == b.port() && a.host() == b.host();
}

task<std::pair<std::string, socket_address>> recvfrom_string(std::shared_ptr<datagram_state> s,
                                                             std::size_t max) {
    std::string buf(max, '\0');
    auto [n, sender] =
        co_await op_awaiter<detail::datagram_recv_op>(std::move(s), buf.data(), buf.size());
    buf.resize(n);
    if (buf.capacity() > 4 * n + 64)
        buf.shrink_to_fit();  // a small datagram should not keep a 64 KiB buffer alive
    co_return std::pair<std::string, socket_address>(std::move(buf), sender);
}

task<std::string> recv_string(std::shared_ptr<datagram_state> s, std::size_t max) {
    auto got = co_await recvfrom_string(std::move(s), max);
    co_return std::move(got.first);
}

// asyncio's addr_pairs_info: per address family, the first local and the first remote
// address of that family, in the order the families first appear.
using address_pair = std::pair<std::optional<socket_address>, std::optional<socket_address>>;

std::vector<address_pair> pair_by_family(
    const std::optional<std::vector<socket_address>>& locals,
    const std::optional<std::vector<socket_address>>& remotes) {
    std::vector<int> families;
    for (const auto* list : {&locals, &remotes}) {
        if (!*list)
            continue;
        for (const socket_address& a : **list) {
            if (std::find(families.begin(), families.end(), a.family()) == families.end())
                families.push_back(a.family());
        }
    }
    auto first_of = [](const std::vector<socket_address>& list,
                       int family) -> std::optional<socket_address> {
        for (const socket_address& a : list) {
            if (a.family() == family)
                return a;
        }
        return std::nullopt;
    };
    std::vector<address_pair> out;
    for (int family : families) {
        address_pair p;
        if (locals && !(p.first = first_of(*locals, family)))
            continue;  // both were asked for: a family needs both
        if (remotes && !(p.second = first_of(*remotes, family)))
            continue;
        out.push_back(p);
    }
    return out;
}

std::shared_ptr<datagram_state> open_endpoint(int family, const address_pair& p,
                                              const datagram_options& options) {
    auto s = std::make_shared<datagram_state>();
    s->sock = socket(family, SOCK_DGRAM);
    if (options.reuse_port)
        s->sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    if (options.allow_broadcast)
        s->sock.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
    if (p.first)
        s->sock.bind(*p.first);
    if (p.second) {
        // A UDP connect only sets the default peer and filters what is received: it never
        // waits, so it is not worth an op.
        if (::connect(s->sock.fileno(), p.second->get(), p.second->size()) < 0)
            throw_os_error(errno, "connect " + p.second->to_string());
        s->peer = *p.second;
    }
    s->loop = &get_running_loop();
    return s;
}

}  // namespace

datagram_endpoint& datagram_endpoint::operator=(datagram_endpoint&& o) noexcept {
    if (this != &o) {
        close();
        s_ = std::move(o.s_);
    }
    return *this;
}

detail::datagram_state& datagram_endpoint::open_state(const char* what) const {
    if (is_closing())
        throw std::invalid_argument(std::string(what) + ": the datagram endpoint is closed");
    return *s_;
}

op_awaiter<detail::datagram_send_op> datagram_endpoint::sendto(std::string_view data,
                                                               const socket_address& addr) {
    datagram_state& s = open_state("sendto");
    if (s.peer && !same_address(addr, *s.peer)) {
        throw std::invalid_argument("Invalid address: must be None or " + s.peer->to_string());
    }
    return op_awaiter<detail::datagram_send_op>(s_, true, const_cast<char*>(data.data()),
                                                data.size(), s.peer ? nullptr : &addr);
}

op_awaiter<detail::datagram_send_op> datagram_endpoint::send(std::string_view data) {
    datagram_state& s = open_state("send");
    if (!s.peer) {
        throw std::invalid_argument(
            "send: the datagram endpoint is not connected (no remote_addr); use sendto(data, "
            "addr)");
    }
    return op_awaiter<detail::datagram_send_op>(s_, true, const_cast<char*>(data.data()),
                                                data.size(), nullptr);
}

task<std::pair<std::string, socket_address>> datagram_endpoint::recvfrom(std::size_t max) {
    open_state("recvfrom");
    return recvfrom_string(s_, max);
}

task<std::string> datagram_endpoint::recv(std::size_t max) {
    open_state("recv");
    return recv_string(s_, max);
}

op_awaiter<detail::datagram_recv_op> datagram_endpoint::recvfrom_into(std::span<char> buf) {
    open_state("recvfrom_into");
    return op_awaiter<detail::datagram_recv_op>(s_, buf.data(), buf.size());
}

socket_address datagram_endpoint::sockname() const {
    return open_state("sockname").sock.getsockname();
}

std::optional<socket_address> datagram_endpoint::peername() const {
    return open_state("peername").peer;
}

// Cancels first, closes second: on epoll the cancel drops the descriptor's interest (which
// needs the descriptor); on io_uring an op still in the kernel holds its own reference to the
// socket and ends with -ECANCELED once the cancel reaches it.
void datagram_endpoint::close() noexcept {
    if (is_closing())
        return;
    s_->closing = true;
    for (detail::datagram_op* op = s_->ops; op != nullptr; op = op->next_) {
        // Only a started op may be cancelled, and only a started op proves its loop alive.
        if (op->state == detail::op_state::submitted)
            detail::loop_access::backend(*s_->loop).cancel(*op);
    }
    s_->sock.close();
}

task<datagram_endpoint> create_datagram_endpoint(std::optional<host_port> local_addr,
                                                 std::optional<host_port> remote_addr,
                                                 datagram_options options) {
    if (!local_addr && !remote_addr) {
        if (options.family != AF_INET && options.family != AF_INET6) {
            throw std::invalid_argument(
                "create_datagram_endpoint: unexpected address family (give local_addr, "
                "remote_addr, or options.family AF_INET or AF_INET6)");
        }
        co_return datagram_endpoint(open_endpoint(options.family, {}, options));
    }
    std::optional<std::vector<socket_address>> locals;
    std::optional<std::vector<socket_address>> remotes;
    if (local_addr) {
        locals = co_await detail::resolve(local_addr->host, local_addr->port, true, SOCK_DGRAM,
                                          options.family);
    }
    if (remote_addr) {
        remotes = co_await detail::resolve(remote_addr->host, remote_addr->port, false, SOCK_DGRAM,
                                           options.family);
    }
    const std::vector<address_pair> pairs = pair_by_family(locals, remotes);
    if (pairs.empty()) {
        throw std::invalid_argument(
            "create_datagram_endpoint: can not get address information (local and remote "
            "addresses of one family)");
    }
    std::exception_ptr last;
    for (const address_pair& p : pairs) {
        const int family = p.first ? p.first->family() : p.second->family();
        try {
            co_return datagram_endpoint(open_endpoint(family, p, options));
        } catch (const std::exception&) {
            last = std::current_exception();
        }
    }
    std::rethrow_exception(last);
}

}  // namespace corio
