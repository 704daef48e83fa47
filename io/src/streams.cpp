// stream_reader, stream_writer and open_connection (streams.hpp): asyncio's streams.py.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <corio/streams.hpp>

#include "resolve.hpp"
#include "stream_transport.hpp"

namespace corio {

using detail::recv_more;
using detail::stream_transport;

// -- stream_reader --------------------------------------------------------------------------

namespace {

std::string take(stream_transport& t, std::size_t n) {
    n = std::min(n, t.rbuf_.size());
    std::string out(t.rbuf_.data(), n);
    t.rbuf_.consume(n);
    return out;
}

stream_transport& checked(const std::shared_ptr<stream_transport>& t) {
    if (!t)
        throw std::invalid_argument("an empty stream_reader or stream_writer");
    return *t;
}

}  // namespace

task<std::string> stream_reader::read(std::ptrdiff_t n) {
    std::shared_ptr<stream_transport> keep = t_;
    stream_transport& t = checked(keep);
    t.check_readable("read");
    if (n == 0)
        co_return std::string();
    if (n < 0) {
        while (t.can_receive())
            co_await recv_more(t);
        co_return take(t, t.rbuf_.size());
    }
    if (t.rbuf_.empty() && t.can_receive())
        co_await recv_more(t);
    co_return take(t, static_cast<std::size_t>(n));
}

task<std::string> stream_reader::readexactly(std::size_t n) {
    std::shared_ptr<stream_transport> keep = t_;
    stream_transport& t = checked(keep);
    t.check_readable("readexactly");
    while (t.rbuf_.size() < n) {
        if (!t.can_receive()) {
            std::string partial = take(t, t.rbuf_.size());
            throw incomplete_read_error(std::move(partial), n);
        }
        co_await recv_more(t);
    }
    co_return take(t, n);
}

// asyncio's readuntil, step for step: look for the separator in what is buffered (resuming
// the search where the last one could not have matched), give up past the limit, wait for
// more otherwise.
task<std::string> stream_reader::readuntil(std::string separator) {
    if (separator.empty())
        throw std::invalid_argument("Separator should be at least one-byte string");
    std::shared_ptr<stream_transport> keep = t_;
    stream_transport& t = checked(keep);
    t.check_readable("readuntil");
    const std::size_t seplen = separator.size();
    std::size_t offset = 0;
    std::size_t isep;
    for (;;) {
        const std::size_t buflen = t.rbuf_.size();
        if (buflen - offset >= seplen) {
            std::string_view buffered(t.rbuf_.data(), buflen);
            isep = buffered.find(separator, offset);
            if (isep != std::string_view::npos)
                break;
            offset = buflen + 1 - seplen;
            if (offset > t.limit_) {
                throw limit_overrun_error("Separator is not found, and chunk exceed the limit",
                                          offset);
            }
        }
        if (!t.can_receive()) {
            std::string partial = take(t, t.rbuf_.size());
            throw incomplete_read_error(std::move(partial), 0);
        }
        co_await recv_more(t);
    }
    if (isep > t.limit_) {
        throw limit_overrun_error("Separator is found, but chunk is longer than limit", isep);
    }
    co_return take(t, isep + seplen);
}

task<std::string> stream_reader::readline() {
    std::shared_ptr<stream_transport> keep = t_;
    stream_transport& t = checked(keep);
    std::size_t consumed = 0;
    std::string message;
    try {
        co_return co_await readuntil("\n");
    } catch (incomplete_read_error& e) {
        co_return std::move(e.partial);
    } catch (const limit_overrun_error& e) {
        consumed = e.consumed;
        message = e.what();
    }
    // Drop the over-long line (through its '\n' if it is buffered), as asyncio does.
    std::string_view buffered(t.rbuf_.data(), t.rbuf_.size());
    if (consumed < buffered.size() && buffered[consumed] == '\n') {
        t.rbuf_.consume(consumed + 1);
    } else {
        t.rbuf_.clear();
    }
    throw limit_overrun_error(message, consumed);
}

bool stream_reader::at_eof() const noexcept {
    return t_ && !t_->can_receive() && t_->rbuf_.empty();
}

std::size_t stream_reader::limit() const noexcept {
    return t_ ? t_->limit_ : 0;
}

// -- stream_writer --------------------------------------------------------------------------

void stream_writer::write(std::string_view data) {
    checked(t_).write(data);
}

void stream_writer::writelines(std::initializer_list<std::string_view> lines) {
    for (std::string_view l : lines)
        write(l);
}

void stream_writer::writelines(std::span<const std::string> lines) {
    for (const std::string& l : lines)
        write(l);
}

task<void> stream_writer::drain() {
    return checked(t_).drain();
}
void stream_writer::write_eof() {
    checked(t_).write_eof();
}
void stream_writer::close() {
    checked(t_).close();
}
void stream_writer::abort() {
    checked(t_).abort();
}
bool stream_writer::is_closing() const noexcept {
    return t_ && t_->closing_;
}
task<void> stream_writer::wait_closed() {
    return checked(t_).wait_closed();
}

std::any stream_writer::get_extra_info(std::string_view name) const {
    if (!t_)
        return {};
    if (name == "peername")
        return t_->peername_;
    if (name == "sockname")
        return t_->sockname_;
    if (name == "socket")
        return t_->fd_;
    return {};
}

void stream_writer::set_write_buffer_limits(std::optional<std::size_t> high,
                                            std::optional<std::size_t> low) {
    std::size_t h = high.value_or(low ? *low * 4 : 64 * 1024);
    std::size_t l = low.value_or(h / 4);
    if (l > h)
        throw std::invalid_argument("high must be >= low");
    checked(t_).set_limits(h, l);
}

std::size_t stream_writer::get_write_buffer_size() const noexcept {
    return t_ ? t_->buffered() : 0;
}

// -- Opening connections --------------------------------------------------------------------

stream_pair make_streams(socket sock, std::size_t limit) {
    if (!sock.valid())
        throw std::invalid_argument("make_streams: the socket is closed");
    auto t = std::make_shared<stream_transport>(get_running_loop(), std::move(sock), limit);
    return {stream_reader(t), stream_writer(t)};
}

namespace detail {

// asyncio sets TCP_NODELAY on every TCP transport (base_events._set_nodelay).
void set_nodelay(const socket& s, int family) noexcept {
    if (family != AF_INET && family != AF_INET6)
        return;
    int one = 1;
    ::setsockopt(s.fileno(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace detail

task<stream_pair> open_connection(std::string host, std::uint16_t port, std::size_t limit) {
    std::vector<socket_address> addresses = co_await detail::resolve(host, port, false);
    std::exception_ptr last;
    for (const socket_address& a : addresses) {
        socket s(a.family(), SOCK_STREAM);
        try {
            co_await sock_connect(s, a);
        } catch (const std::exception&) {
            last = std::current_exception();
            continue;
        }
        detail::set_nodelay(s, a.family());
        co_return make_streams(std::move(s), limit);
    }
    std::rethrow_exception(last);
}

task<stream_pair> open_unix_connection(std::string path, std::size_t limit) {
    socket_address a = socket_address::unix_path(path);
    socket s(AF_UNIX, SOCK_STREAM);
    co_await sock_connect(s, a);
    co_return make_streams(std::move(s), limit);
}

}  // namespace corio
