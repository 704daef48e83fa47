// Name resolution for streams and servers (resolve.hpp).
#include "resolve.hpp"

#include <netdb.h>

#include <cerrno>
#include <memory>
#include <system_error>

namespace corio::detail {

std::vector<socket_address> resolve(const std::string& host, std::uint16_t port, bool passive) {
    const std::string name = host.empty() && passive ? "127.0.0.1" : host;
    try {
        return {socket_address::inet(name, port)};
    } catch (const std::invalid_argument&) {
        // not numeric: ask the resolver
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &res);
    if (rc != 0) {
        throw std::system_error(rc == EAI_SYSTEM ? errno : EHOSTUNREACH, std::generic_category(),
                                "getaddrinfo(" + name + "): " + ::gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
    std::vector<socket_address> out;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        socket_address a(ai->ai_addr, ai->ai_addrlen);
        bool seen = false;
        for (const socket_address& b : out)
            seen = seen || b.to_string() == a.to_string();
        if (!seen)
            out.push_back(a);
    }
    return out;
}

}  // namespace corio::detail
