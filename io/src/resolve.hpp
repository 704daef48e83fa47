// Host names to socket addresses, for open_connection, start_server and datagram endpoints.
// Not API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <corio/sockets.hpp>
#include <corio/tasks.hpp>

namespace corio::detail {

// The addresses of `host`:`port` for sockets of `type` (SOCK_STREAM, SOCK_DGRAM), without
// duplicates, in the resolver's order. Numeric hosts resolve at once; names through
// corio::getaddrinfo, on the loop's default executor (dns.hpp). `passive` (an address to bind):
// an empty host is 127.0.0.1. `family` restricts the result (AF_UNSPEC: any). Throws gaierror
// when nothing resolves.
task<std::vector<socket_address>> resolve(std::string host, std::uint16_t port, bool passive,
                                          int type = SOCK_STREAM, int family = AF_UNSPEC);

// TCP_NODELAY on TCP sockets, as asyncio sets it on every TCP transport.
void set_nodelay(const socket& s, int family) noexcept;

}  // namespace corio::detail
