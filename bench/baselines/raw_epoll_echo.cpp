// The floor for corio's echo server on epoll: a minimal single-threaded epoll echo server with
// no runtime (level-triggered; read, then write back; what does not fit waits for EPOLLOUT).
//     raw_epoll_echo [--host 127.0.0.1] [--port 7000]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct conn {
    std::string out;  // bytes read and not yet written back
};

int listen_on(const char* host, int port) {
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(l, 1024) < 0) {
        std::perror("bind/listen");
        std::exit(1);
    }
    return l;
}

void set_events(int ep, int fd, uint32_t ev, int op) {
    epoll_event e{};
    e.events = ev;
    e.data.fd = fd;
    ::epoll_ctl(ep, op, fd, &e);
}

}  // namespace

int main(int argc, char** argv) {
    const char* host = "127.0.0.1";
    int port = 7000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
        else if (std::strcmp(argv[i], "--port") == 0)
            port = std::atoi(argv[i + 1]);
    }
    int l = listen_on(host, port);
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    set_events(ep, l, EPOLLIN, EPOLL_CTL_ADD);
    std::vector<conn> conns;
    std::vector<epoll_event> events(256);
    char buf[65536];
    for (;;) {
        int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        for (int i = 0; i < n; ++i) {
            const int fd = events[static_cast<size_t>(i)].data.fd;
            if (fd == l) {
                int c;
                while ((c = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (static_cast<size_t>(c) >= conns.size())
                        conns.resize(static_cast<size_t>(c) + 1);
                    conns[static_cast<size_t>(c)].out.clear();
                    set_events(ep, c, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            conn& k = conns[static_cast<size_t>(fd)];
            bool closed = false;
            if (k.out.empty()) {
                ssize_t r = ::read(fd, buf, sizeof buf);
                if (r <= 0) {
                    closed = r == 0 || (errno != EAGAIN && errno != EINTR);
                } else {
                    ssize_t w = ::send(fd, buf, static_cast<size_t>(r), MSG_NOSIGNAL);
                    if (w < 0)
                        w = (errno == EAGAIN) ? 0 : -1;
                    if (w < 0) {
                        closed = true;
                    } else if (w < r) {
                        k.out.assign(buf + w, static_cast<size_t>(r - w));
                        set_events(ep, fd, EPOLLOUT, EPOLL_CTL_MOD);
                    }
                }
            } else {
                ssize_t w = ::send(fd, k.out.data(), k.out.size(), MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN)
                    closed = true;
                if (w > 0)
                    k.out.erase(0, static_cast<size_t>(w));
                if (!closed && k.out.empty())
                    set_events(ep, fd, EPOLLIN, EPOLL_CTL_MOD);
            }
            if (closed)
                ::close(fd);  // also leaves the epoll set
        }
    }
}
