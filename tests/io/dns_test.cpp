// getaddrinfo / getnameinfo on both backends: names resolve on the loop's default executor,
// numeric hosts without it, and failures are gaierror.
#include <netdb.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include <corio/dns.hpp>

#include "io_fixture.hpp"

namespace corio {
namespace {

class dns : public test::io_test {
protected:
    dns() { with_executor_ = true; }
};

// A loop built without an inbox has no executor.
class dns_without_executor : public test::io_test {};

bool is_loopback(const socket_address& a) {
    return a.host() == "127.0.0.1" || a.host() == "::1";
}

task<void> resolves_localhost() {
    std::vector<addrinfo_entry> found =
        co_await getaddrinfo("localhost", 8080, {.type = SOCK_STREAM});
    EXPECT_FALSE(found.empty());
    for (const addrinfo_entry& e : found) {
        EXPECT_TRUE(is_loopback(e.address)) << e.address.to_string();
        EXPECT_EQ(e.address.port(), 8080);
        EXPECT_EQ(e.type, SOCK_STREAM);
        EXPECT_EQ(e.family, e.address.family());
    }
    // A service name, and AI_CANONNAME's name in the first entry.
    found = co_await getaddrinfo("localhost", "",
                                 {.family = AF_INET, .type = SOCK_DGRAM, .flags = AI_CANONNAME});
    EXPECT_FALSE(found.empty());
    EXPECT_FALSE(found[0].canonname.empty());
    EXPECT_EQ(found[0].address.host(), "127.0.0.1");
}

TEST_P(dns, getaddrinfo_resolves_localhost_on_the_executor) {
    CORIO_RUN(resolves_localhost());
}

TEST_P(dns_without_executor, getaddrinfo_resolves_localhost_inline_on_a_loop_without_executor) {
    CORIO_RUN(resolves_localhost());
}

task<void> numeric_hosts() {
    // asyncio's _ipaddr_info: one entry, the protocol inferred from the type, no executor
    // needed (this suite's loop has none).
    std::vector<addrinfo_entry> found = co_await getaddrinfo("127.0.0.1", 53, {.type = SOCK_DGRAM});
    EXPECT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].address.to_string(), "127.0.0.1:53");
    EXPECT_EQ(found[0].protocol, IPPROTO_UDP);
    found = co_await getaddrinfo("::1", "443", {.type = SOCK_STREAM});
    EXPECT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].address.to_string(), "[::1]:443");
    EXPECT_EQ(found[0].protocol, IPPROTO_TCP);
}

TEST_P(dns_without_executor, numeric_hosts_resolve_without_the_executor) {
    CORIO_RUN(numeric_hosts());
}

task<void> bad_hosts() {
    // AI_NUMERICHOST makes the resolver refuse a name without asking anyone: EAI_NONAME.
    try {
        co_await getaddrinfo("not a number", 80, {.flags = AI_NUMERICHOST});
        ADD_FAILURE() << "no exception";
    } catch (const gaierror& e) {
        EXPECT_EQ(e.code().value(), EAI_NONAME);
        EXPECT_EQ(&e.code().category(), &gai_category());
        EXPECT_NE(std::string(e.what()).find("not a number"), std::string::npos) << e.what();
    }
    // The .invalid top-level domain never resolves (RFC 6761); a resolver without network
    // says EAI_AGAIN instead of EAI_NONAME, still a gaierror.
    EXPECT_THROW(co_await getaddrinfo("corio-test.invalid", 80, {.type = SOCK_STREAM}), gaierror);
    // Streams resolve through the same path.
    EXPECT_THROW(co_await open_connection("corio-test.invalid", 80), gaierror);
}

TEST_P(dns, a_bad_host_raises_gaierror) {
    CORIO_RUN(bad_hosts());
}

task<void> reverse_lookups() {
    auto [host, port] = co_await getnameinfo(socket_address::inet("127.0.0.1", 80),
                                             NI_NUMERICHOST | NI_NUMERICSERV);
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, "80");
    auto named = co_await getnameinfo(socket_address::inet("127.0.0.1", 80), NI_NUMERICSERV);
    EXPECT_FALSE(named.first.empty());
    EXPECT_EQ(named.second, "80");
    // An empty address has no family: EAI_FAMILY.
    try {
        co_await getnameinfo(socket_address());
        ADD_FAILURE() << "no exception";
    } catch (const gaierror& e) {
        EXPECT_EQ(e.code().value(), EAI_FAMILY);
    }
}

TEST_P(dns, getnameinfo_gives_host_and_port) {
    CORIO_RUN(reverse_lookups());
}

task<void> connect_by_name() {
    server srv = co_await start_server(
        [](stream_reader, stream_writer w) -> task<void> {
            w.write("hi");
            co_await w.drain();
            w.close();
        },
        "localhost", 0);
    stream_pair c = co_await open_connection("localhost", test::port_of(srv));
    EXPECT_EQ(co_await c.reader.read(), "hi");
    c.writer.close();
    srv.close();
    co_await srv.wait_closed();
}

TEST_P(dns, open_connection_and_start_server_resolve_names_on_the_executor) {
    CORIO_RUN(connect_by_name());
}

CORIO_INSTANTIATE_BACKENDS(dns);
CORIO_INSTANTIATE_BACKENDS(dns_without_executor);

}  // namespace
}  // namespace corio
