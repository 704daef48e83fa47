// The owning socket, socket addresses and the sock_* coroutines (sockets.hpp).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <corio/sockets.hpp>

namespace corio {

namespace detail {

void throw_socket_error(int err, const char* what) {
    throw_os_error(err, what);
}

void check_socket(const socket& s, const char* what) {
    if (!s.valid())
        throw std::invalid_argument(std::string(what) + ": the socket is closed");
}

}  // namespace detail

namespace {

[[noreturn]] void throw_errno(const char* what) {
    throw_os_error(errno, what);
}

}  // namespace

// -- socket_address -------------------------------------------------------------------------

socket_address::socket_address(const sockaddr* addr, socklen_t len) noexcept {
    if (addr == nullptr || len > sizeof storage_)
        return;
    std::memcpy(&storage_, addr, len);
    len_ = len;
}

socket_address socket_address::inet(const std::string& host, std::uint16_t port) {
    socket_address a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.len_ = sizeof(sockaddr_in);
        return a;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.len_ = sizeof(sockaddr_in6);
        return a;
    }
    throw std::invalid_argument("not a numeric IPv4 or IPv6 address: '" + host + "'");
}

socket_address socket_address::unix_path(const std::string& path) {
    socket_address a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
    if (path.empty() || path.size() >= sizeof un->sun_path) {
        throw std::invalid_argument("a Unix socket path must have 1 to " +
                                    std::to_string(sizeof un->sun_path - 1) + " bytes");
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return a;
}

std::string socket_address::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    switch (storage_.ss_family) {
        case AF_INET:
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                        sizeof buf);
            return buf;
        case AF_INET6:
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
                        sizeof buf);
            return buf;
        case AF_UNIX: {
            const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
            if (len_ <= offsetof(sockaddr_un, sun_path))
                return {};  // unnamed
            return std::string(un->sun_path,
                               ::strnlen(un->sun_path, len_ - offsetof(sockaddr_un, sun_path)));
        }
        default:
            return {};
    }
}

std::uint16_t socket_address::port() const noexcept {
    switch (storage_.ss_family) {
        case AF_INET:
            return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
        case AF_INET6:
            return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
        default:
            return 0;
    }
}

std::string socket_address::to_string() const {
    switch (storage_.ss_family) {
        case AF_INET:
            return host() + ":" + std::to_string(port());
        case AF_INET6:
            return "[" + host() + "]:" + std::to_string(port());
        default:
            return host();
    }
}

// -- socket ---------------------------------------------------------------------------------

socket::socket(int family, int type, int protocol)
    : fd_(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol)) {
    if (fd_ < 0)
        throw_errno("socket");
}

void socket::close() noexcept {
    if (fd_ >= 0)
        ::close(std::exchange(fd_, -1));
}

void socket::bind(const socket_address& addr) {
    if (::bind(fd_, addr.get(), addr.size()) < 0)
        throw_errno("bind");
}

void socket::listen(int backlog) {
    if (::listen(fd_, backlog) < 0)
        throw_errno("listen");
}

void socket::setsockopt(int level, int option, int value) {
    if (::setsockopt(fd_, level, option, &value, sizeof value) < 0)
        throw_errno("setsockopt");
}

void socket::shutdown(int how) {
    if (::shutdown(fd_, how) < 0)
        throw_errno("shutdown");
}

socket_address socket::getsockname() const {
    sockaddr_storage s{};
    socklen_t len = sizeof s;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&s), &len) < 0)
        throw_errno("getsockname");
    return socket_address(reinterpret_cast<sockaddr*>(&s), len);
}

socket_address socket::getpeername() const {
    sockaddr_storage s{};
    socklen_t len = sizeof s;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&s), &len) < 0)
        throw_errno("getpeername");
    return socket_address(reinterpret_cast<sockaddr*>(&s), len);
}

// -- sock_* coroutines ----------------------------------------------------------------------

task<std::string> sock_recv(const socket& sock, std::size_t n) {
    std::string data(n, '\0');
    std::size_t got = co_await sock_recv_into(sock, std::span<char>(data.data(), data.size()));
    data.resize(got);
    co_return data;
}

task<void> sock_sendall(const socket& sock, std::string_view data) {
    while (!data.empty()) {
        std::size_t sent = co_await sock_send(sock, data);
        data.remove_prefix(sent);
    }
}

task<std::pair<std::string, socket_address>> sock_recvfrom(const socket& sock, std::size_t n) {
    std::string data(n, '\0');
    auto [got, from] = co_await sock_recvfrom_into(sock, std::span<char>(data.data(), data.size()));
    data.resize(got);
    co_return std::pair<std::string, socket_address>(std::move(data), std::move(from));
}

}  // namespace corio
