// corio-echo: the echo server the backend-comparison harness measures, and the example of a
// sharded server: a runtime of N pinned loops, one SO_REUSEPORT listener per loop, each
// connection echoing what it reads with drain() for backpressure.
//     corio-echo [--backend io_uring|epoll|auto] [--host 127.0.0.1] [--port 7000] [--loops N]
// --loops defaults to one loop per physical core the process may use. SIGUSR1 prints the
// runtime's statistics table to stderr; SIGINT and SIGTERM stop the server cleanly.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include <corio/runtime.hpp>
#include <corio/sharded_server.hpp>

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

corio::task<void> serve(corio::runtime& rt, corio::sharded_server& srv, std::string host,
                        std::uint16_t port) {
    srv = co_await corio::start_server(rt, echo, host, port, 1024);
    std::fprintf(stderr, "corio-echo: %zu loop(s) on %s, %s:%u\n", rt.size(),
                 std::string(corio::get_running_loop().backend_name()).c_str(), host.c_str(),
                 srv.port());
    try {
        co_await srv.serve_forever();
    } catch (const corio::cancelled_error&) {
        // close(): from the signal thread
    }
    co_await srv.wait_closed();
}

int usage() {
    std::fprintf(stderr,
                 "usage: corio-echo [--backend io_uring|epoll|auto] [--host 127.0.0.1] "
                 "[--port 7000] [--loops N]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 7000;
    corio::runtime::options options;
    for (int i = 1; i < argc; i += 2) {
        std::string flag = argv[i];
        if (i + 1 >= argc)
            return usage();
        std::string value = argv[i + 1];
        if (flag == "--host") {
            host = value;
        } else if (flag == "--port") {
            port = std::atoi(value.c_str());
        } else if (flag == "--loops") {
            const int n = std::atoi(value.c_str());
            if (n < 1)
                return usage();
            options.loops = static_cast<std::size_t>(n);
        } else if (flag == "--backend") {
            options.loop.backend = value == "io_uring" ? corio::backend_kind::io_uring
                                   : value == "epoll"  ? corio::backend_kind::epoll
                                                       : corio::backend_kind::automatic;
        } else {
            return usage();
        }
    }
    // The signals are taken by one thread with sigwait, so they are blocked before any other
    // thread exists (the loops' threads inherit the mask): no handler ever runs on a loop.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    try {
        corio::runtime rt(options);
        corio::sharded_server srv;
        std::thread signal_thread([&rt, &srv, signals] {
            for (;;) {
                int sig = 0;
                if (sigwait(&signals, &sig) != 0)
                    continue;
                if (sig == SIGUSR1) {
                    // Readable from this thread while the loops run (runtime_stats.hpp).
                    std::fputs(rt.stats().table().c_str(), stderr);
                    continue;
                }
                try {
                    rt.submit_to_threadsafe(0, [&srv] { srv.close(); }).result();
                } catch (const std::exception&) {
                    // already stopping
                }
                return;
            }
        });
        try {
            rt.run(serve(rt, srv, host, static_cast<std::uint16_t>(port)));
        } catch (...) {
            pthread_kill(signal_thread.native_handle(), SIGTERM);  // let it return
            signal_thread.join();
            throw;
        }
        signal_thread.join();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "corio-echo: %s\n", e.what());
        return 1;
    }
}
