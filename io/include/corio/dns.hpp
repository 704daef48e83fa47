// Name resolution off the loop: asyncio's loop.getaddrinfo / loop.getnameinfo, which run the
// blocking C resolver on the loop's default executor so that a slow DNS server never stalls
// the loop.
//
//     for (const corio::addrinfo_entry& e : co_await corio::getaddrinfo("localhost", 80))
//         std::cout << e.address.to_string() << '\n';
//
// A numeric host with a numeric port and a socket type of SOCK_STREAM or SOCK_DGRAM resolves
// at once, without the executor (asyncio's _ipaddr_info). A loop built without an inbox (a
// test loop from explicit parts) has no executor: there the resolver runs inline, on the
// loop's thread. Cancelling a call does not stop the lookup already running on a worker; its
// result is dropped (asyncio's run_in_executor).
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <corio/sockets.hpp>
#include <corio/tasks.hpp>

namespace corio {

/// The EAI_* codes of getaddrinfo(3) and getnameinfo(3) as an error category: messages come
/// from gai_strerror.
const std::error_category& gai_category() noexcept;

/// socket.gaierror: the resolver failed (EAI_NONAME for an unknown host, EAI_AGAIN for a
/// temporary failure, ...). code().value() is the EAI_* code, in gai_category(); for
/// EAI_SYSTEM the errno is thrown instead, as the OSError it is.
class gaierror : public std::system_error {
public:
    gaierror(int eai, const std::string& what) : std::system_error(eai, gai_category(), what) {}
};

/// getaddrinfo's hints, asyncio's keyword arguments (family=0, type=0, proto=0, flags=0).
struct addrinfo_hints {
    int family = AF_UNSPEC;
    int type = 0;      // SOCK_STREAM, SOCK_DGRAM; 0: any
    int protocol = 0;  // IPPROTO_TCP, IPPROTO_UDP; 0: any
    int flags = 0;     // AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST, ...
};

/// One result of getaddrinfo: asyncio's (family, type, proto, canonname, sockaddr) tuple.
struct addrinfo_entry {
    int family = 0;
    int type = 0;
    int protocol = 0;
    std::string canonname;  // only in the first entry, and only with AI_CANONNAME
    socket_address address;
};

/// asyncio's loop.getaddrinfo(host, port): `port` is a number or a service name ("http"),
/// empty for none; an empty `host` is Python's None. Results in the resolver's order.
/// Throws gaierror (or the OSError of EAI_SYSTEM).
task<std::vector<addrinfo_entry>> getaddrinfo(std::string host, std::string port,
                                              addrinfo_hints hints = {});
/// The same with a numeric port.
task<std::vector<addrinfo_entry>> getaddrinfo(std::string host, std::uint16_t port,
                                              addrinfo_hints hints = {});

/// asyncio's loop.getnameinfo(sockaddr, flags): the (host, port) strings of an address, by
/// reverse lookup unless `flags` has NI_NUMERICHOST / NI_NUMERICSERV. Throws gaierror.
task<std::pair<std::string, std::string>> getnameinfo(socket_address address, int flags = 0);

}  // namespace corio
