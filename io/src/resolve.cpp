// Name resolution for streams, servers and datagram endpoints (resolve.hpp).
#include "resolve.hpp"

#include <netdb.h>

#include <algorithm>

#include <corio/dns.hpp>

namespace corio::detail {

task<std::vector<socket_address>> resolve(std::string host, std::uint16_t port, bool passive,
                                          int type, int family) {
    if (host.empty() && passive)
        host = "127.0.0.1";
    addrinfo_hints hints;
    hints.family = family;
    hints.type = type;
    hints.flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    std::vector<addrinfo_entry> found = co_await getaddrinfo(std::move(host), port, hints);
    std::vector<socket_address> out;
    for (const addrinfo_entry& e : found) {
        const std::string key = e.address.to_string();
        if (std::none_of(out.begin(), out.end(),
                         [&](const socket_address& b) { return b.to_string() == key; }))
            out.push_back(e.address);
    }
    co_return out;
}

}  // namespace corio::detail
