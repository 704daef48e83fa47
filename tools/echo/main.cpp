// corio-echo: the echo server the backend-comparison harness measures. One loop, one
// listener; each connection echoes what it reads, with drain() for backpressure.
//     corio-echo [--backend io_uring|epoll|auto] [--host 127.0.0.1] [--port 7000]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <corio/events.hpp>
#include <corio/streams.hpp>

namespace {

corio::task<void> echo(corio::stream_reader r, corio::stream_writer w) {
    try {
        for (;;) {
            std::string data = co_await r.read(64 * 1024);
            if (data.empty())
                break;
            w.write(data);
            co_await w.drain();
        }
    } catch (const std::exception&) {
        // a client that resets its connection: just close ours
    }
    w.close();
}

corio::task<void> serve(std::string host, std::uint16_t port) {
    corio::server srv = co_await corio::start_server(echo, host, port, true, 1024);
    std::fprintf(stderr, "corio-echo: %s on %s:%u\n",
                 std::string(corio::get_running_loop().backend_name()).c_str(), host.c_str(),
                 srv.sockets()[0].getsockname().port());
    co_await srv.serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 7000;
    corio::loop_options options;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        std::string value = argv[i + 1];
        if (flag == "--host") {
            host = value;
        } else if (flag == "--port") {
            port = std::atoi(value.c_str());
        } else if (flag == "--backend") {
            options.backend = value == "io_uring" ? corio::backend_kind::io_uring
                              : value == "epoll"  ? corio::backend_kind::epoll
                                                  : corio::backend_kind::automatic;
        } else {
            std::fprintf(stderr,
                         "usage: corio-echo [--backend io_uring|epoll|auto] "
                         "[--host 127.0.0.1] [--port 7000]\n");
            return 2;
        }
    }
    try {
        corio::event_loop loop(options);
        loop.run_until_complete(serve(host, static_cast<std::uint16_t>(port)));
    } catch (const corio::cancelled_error&) {
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "corio-echo: %s\n", e.what());
        return 1;
    }
}
