// The floor for corio's echo server on io_uring: a minimal single-threaded liburing echo
// server with no runtime, written the naive way (one accept, recv and send request at a time
// per socket; one submit-and-wait per batch of completions).
//     raw_uring_echo [--host 127.0.0.1] [--port 7000]
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

enum kind : uint64_t { accepting = 0, receiving = 1, sending = 2 };

struct conn {
    int fd = -1;
    char buf[65536];
    unsigned len = 0;  // bytes received, being sent back
    unsigned sent = 0;
};

io_uring ring;

uint64_t tag(kind k, int fd) {
    return (static_cast<uint64_t>(fd) << 2) | k;
}

io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

void arm_recv(conn& c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv(s, c.fd, c.buf, sizeof c.buf, 0);
    io_uring_sqe_set_data64(s, tag(receiving, c.fd));
}

void arm_send(conn& c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c.fd, c.buf + c.sent, c.len - c.sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, tag(sending, c.fd));
}

void arm_accept(int l) {
    io_uring_sqe* s = sqe();
    io_uring_prep_accept(s, l, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, tag(accepting, l));
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
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(l, 1024) < 0) {
        std::perror("bind/listen");
        return 1;
    }
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(1024, &ring, &p) < 0) {
        p.flags = 0;
        if (int rc = io_uring_queue_init_params(1024, &ring, &p); rc < 0) {
            std::fprintf(stderr, "io_uring_queue_init: %s\n", std::strerror(-rc));
            return 1;
        }
    }
    std::vector<std::unique_ptr<conn>> conns;
    arm_accept(l);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        unsigned head, seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            const kind k = static_cast<kind>(cqe->user_data & 3);
            const int fd = static_cast<int>(cqe->user_data >> 2);
            const int res = cqe->res;
            if (k == accepting) {
                if (res >= 0) {
                    ::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (static_cast<size_t>(res) >= conns.size())
                        conns.resize(static_cast<size_t>(res) + 1);
                    conns[static_cast<size_t>(res)] = std::make_unique<conn>();
                    conns[static_cast<size_t>(res)]->fd = res;
                    arm_recv(*conns[static_cast<size_t>(res)]);
                }
                arm_accept(l);
                continue;
            }
            conn& c = *conns[static_cast<size_t>(fd)];
            if (res <= 0) {
                ::close(fd);
                continue;
            }
            if (k == receiving) {
                c.len = static_cast<unsigned>(res);
                c.sent = 0;
                arm_send(c);
            } else {
                c.sent += static_cast<unsigned>(res);
                if (c.sent < c.len)
                    arm_send(c);
                else
                    arm_recv(c);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
