// getaddrinfo / getnameinfo on the default executor (dns.hpp), asyncio's base_events.py.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <corio/dns.hpp>
#include <corio/executor.hpp>

namespace corio {
namespace {

class gai_error_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int eai) const override { return ::gai_strerror(eai); }
};

// What a lookup on a worker hands back: the resolver's code, not an exception. The exception
// is made and thrown on the loop's thread (get()), so no exception object is shared between
// threads: libstdc++'s exception reference counts are atomics that ThreadSanitizer, which does
// not see into the uninstrumented runtime, would report as races.
template <class T>
struct lookup {
    int rc = 0;
    int saved_errno = 0;
    std::string what;
    T value{};

    // EAI_SYSTEM means "look at errno": that is an OSError, not a gaierror (as in CPython).
    T get() {
        if (rc == EAI_SYSTEM)
            throw_os_error(saved_errno, what);
        if (rc != 0)
            throw gaierror(rc, what);
        return std::move(value);
    }
};

lookup<std::vector<addrinfo_entry>> blocking_getaddrinfo(const std::string& host,
                                                         const std::string& port,
                                                         const addrinfo_hints& h) {
    addrinfo hints{};
    hints.ai_family = h.family;
    hints.ai_socktype = h.type;
    hints.ai_protocol = h.protocol;
    hints.ai_flags = h.flags;
    addrinfo* res = nullptr;
    lookup<std::vector<addrinfo_entry>> out;
    out.rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                           port.empty() ? nullptr : port.c_str(), &hints, &res);
    if (out.rc != 0) {
        out.saved_errno = errno;
        out.what = "getaddrinfo(" + host + ", " + port + ")";
        return out;
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
    for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        out.value.push_back({ai->ai_family, ai->ai_socktype, ai->ai_protocol,
                             ai->ai_canonname != nullptr ? ai->ai_canonname : "",
                             socket_address(ai->ai_addr, ai->ai_addrlen)});
    }
    return out;
}

lookup<std::pair<std::string, std::string>> blocking_getnameinfo(const socket_address& a,
                                                                 int flags) {
    char host[NI_MAXHOST] = {};
    char serv[NI_MAXSERV] = {};
    lookup<std::pair<std::string, std::string>> out;
    out.rc = ::getnameinfo(a.get(), a.size(), host, sizeof host, serv, sizeof serv, flags);
    if (out.rc != 0) {
        out.saved_errno = errno;
        out.what = "getnameinfo(" + a.to_string() + ")";
        return out;
    }
    out.value = {host, serv};
    return out;
}

// asyncio's _ipaddr_info: a numeric host and port with a known socket type need no resolver.
// Only for stream and datagram types, where the protocol follows from the type; AI_CANONNAME
// asks for a name, which only the resolver gives.
std::optional<addrinfo_entry> numeric_info(const std::string& host, const std::string& port,
                                           const addrinfo_hints& h) {
    if (h.type != SOCK_STREAM && h.type != SOCK_DGRAM)
        return std::nullopt;
    if ((h.flags & AI_CANONNAME) != 0 || host.empty())
        return std::nullopt;
    const int proto = h.type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    if (h.protocol != 0 && h.protocol != proto)
        return std::nullopt;
    std::uint16_t number = 0;
    if (port.empty()) {
        number = 0;
    } else {
        char* end = nullptr;
        errno = 0;
        const unsigned long v = std::strtoul(port.c_str(), &end, 10);
        if (*end != '\0' || errno != 0 || v > 65535 || port[0] == '-' || port[0] == '+')
            return std::nullopt;  // a service name, or out of range: the resolver decides
        number = static_cast<std::uint16_t>(v);
    }
    // inet_pton accepts only the canonical forms; "1.2" or a scoped "fe80::1%eth0" go to the
    // resolver, which understands them.
    socket_address a;
    try {
        a = socket_address::inet(host, number);
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
    if (h.family != AF_UNSPEC && h.family != a.family())
        return std::nullopt;  // the resolver gives the right EAI_ADDRFAMILY / EAI_NONAME
    return addrinfo_entry{a.family(), h.type, proto, "", a};
}

// Whether lookups go to the default executor: a loop built without an inbox has none, and
// resolves inline.
bool has_executor(event_loop& loop) noexcept {
    return detail::loop_access::inbox(loop) != nullptr;
}

}  // namespace

const std::error_category& gai_category() noexcept {
    static const gai_error_category category;
    return category;
}

// The executor's work is built as a named future outside any co_await expression: gcc 12
// mis-destroys a capturing lambda passed as a temporary to a coroutine inside co_await.
task<std::vector<addrinfo_entry>> getaddrinfo(std::string host, std::string port,
                                              addrinfo_hints hints) {
    if (std::optional<addrinfo_entry> e = numeric_info(host, port, hints))
        co_return std::vector<addrinfo_entry>{std::move(*e)};
    event_loop& loop = get_running_loop();
    if (!has_executor(loop))
        co_return blocking_getaddrinfo(host, port, hints).get();
    future<lookup<std::vector<addrinfo_entry>>> pending = loop.run_in_executor(
        nullptr, [host, port, hints] { return blocking_getaddrinfo(host, port, hints); });
    co_return (co_await pending).get();
}

task<std::vector<addrinfo_entry>> getaddrinfo(std::string host, std::uint16_t port,
                                              addrinfo_hints hints) {
    return getaddrinfo(std::move(host), std::to_string(port), hints);
}

task<std::pair<std::string, std::string>> getnameinfo(socket_address address, int flags) {
    event_loop& loop = get_running_loop();
    if (!has_executor(loop))
        co_return blocking_getnameinfo(address, flags).get();
    future<lookup<std::pair<std::string, std::string>>> pending = loop.run_in_executor(
        nullptr, [address, flags] { return blocking_getnameinfo(address, flags); });
    co_return (co_await pending).get();
}

}  // namespace corio
