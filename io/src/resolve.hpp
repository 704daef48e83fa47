// Host names to socket addresses, for open_connection and start_server. Not API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <corio/sockets.hpp>

namespace corio::detail {

// Numeric hosts without a lookup; names with a blocking getaddrinfo on the calling thread
// (issue 5 allows it until dns.hpp runs it on the executor; "localhost" comes from
// /etc/hosts). `passive` (a server's address): an empty host is 127.0.0.1. Throws
// std::system_error (EAI_* in the message) when nothing resolves.
std::vector<socket_address> resolve(const std::string& host, std::uint16_t port, bool passive);

// TCP_NODELAY on TCP sockets, as asyncio sets it on every TCP transport.
void set_nodelay(const socket& s, int family) noexcept;

}  // namespace corio::detail
