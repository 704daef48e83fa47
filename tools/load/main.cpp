// corio-load: the echo load generator. Single-threaded raw epoll (no runtime, so that what it
// measures is the server). Each connection keeps `pipeline` messages of `size` bytes in
// flight; every echoed byte is checked against the byte sent at that stream position; each
// message's latency is recorded after the warm-up.
//     corio-load [--host 127.0.0.1] [--port 7000] [--conns 50] [--size 64] [--seconds 5]
//                [--warmup 1] [--pipeline 1] [--server-pid PID]
// Prints a latency histogram, then one line:
//     req_per_s=... p50_us=... p99_us=... [server_cpu_us_per_req=...] errors=0
// With --server-pid, the server's CPU time (utime + stime of /proc/PID/stat, all its threads)
// over the measured window divided by the requests completed in it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
    std::string host = "127.0.0.1";
    int port = 7000;
    int conns = 50;
    std::size_t size = 64;
    double seconds = 5;
    double warmup = 1;
    int pipeline = 1;
    int server_pid = 0;
};

// The byte at position `pos` of connection `id`'s stream: what the echo must return there.
inline char expected(int id, std::uint64_t pos) {
    return static_cast<char>((pos * 131 + static_cast<std::uint64_t>(id) * 7 + (pos >> 9)) & 0xff);
}

struct connection {
    int fd = -1;
    int id = 0;
    std::uint64_t sent = 0;      // stream bytes handed to send() (including pending)
    std::uint64_t received = 0;  // stream bytes echoed and checked
    std::uint64_t done = 0;      // messages completed
    std::string pending;         // bytes send() has not taken yet
    std::deque<clock_type::time_point> started;
};

struct histogram {
    std::vector<std::uint64_t> us = std::vector<std::uint64_t>(100001);  // 1 us buckets
    std::uint64_t count = 0;
    void add(clock_type::duration d) {
        auto v = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
        ++us[static_cast<std::size_t>(std::clamp<long long>(v, 0, 100000))];
        ++count;
    }
    double percentile(double p) const {
        if (count == 0)
            return 0;
        const auto target = static_cast<std::uint64_t>(p * static_cast<double>(count - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < us.size(); ++i) {
            seen += us[i];
            if (seen >= target)
                return static_cast<double>(i);
        }
        return 100000;
    }
    void print() const {
        std::printf("latency histogram (us, messages):\n");
        std::uint64_t lo = 0;
        for (std::uint64_t hi = 1; lo <= 100000; hi *= 2) {
            std::uint64_t n = 0;
            for (std::uint64_t i = lo; i < std::min<std::uint64_t>(hi, 100001); ++i)
                n += us[i];
            if (n > 0)
                std::printf("  [%6llu, %6llu) %llu\n", static_cast<unsigned long long>(lo),
                            static_cast<unsigned long long>(hi),
                            static_cast<unsigned long long>(n));
            lo = hi;
        }
    }
};

double server_cpu_seconds(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(f, line);
    auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos)
        return -1;
    std::istringstream rest(line.substr(close_paren + 2));
    std::string field;
    // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14)
            utime = std::stoull(field);
        if (i == 15)
            stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string f = argv[i], v = argv[i + 1];
        if (f == "--host")
            o.host = v;
        else if (f == "--port")
            o.port = std::atoi(v.c_str());
        else if (f == "--conns")
            o.conns = std::max(1, std::atoi(v.c_str()));
        else if (f == "--size")
            o.size = std::max<std::size_t>(1, std::strtoull(v.c_str(), nullptr, 10));
        else if (f == "--seconds")
            o.seconds = std::atof(v.c_str());
        else if (f == "--warmup")
            o.warmup = std::atof(v.c_str());
        else if (f == "--pipeline")
            o.pipeline = std::max(1, std::atoi(v.c_str()));
        else if (f == "--server-pid")
            o.server_pid = std::atoi(v.c_str());
        else {
            std::fprintf(stderr, "corio-load: unknown flag %s\n", f.c_str());
            std::exit(2);
        }
    }
    return o;
}

class load {
public:
    explicit load(const options& o) : o_(o), ep_(::epoll_create1(EPOLL_CLOEXEC)) {}

    void connect_all() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(o_.port));
        if (::inet_pton(AF_INET, o_.host.c_str(), &a.sin_addr) != 1)
            die("bad --host");
        conns_.resize(static_cast<std::size_t>(o_.conns));
        for (int i = 0; i < o_.conns; ++i) {
            connection& c = conns_[static_cast<std::size_t>(i)];
            c.id = i;
            c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
                die("connect");
            int one = 1;
            ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
            epoll_event e{};
            e.events = EPOLLIN;
            e.data.u32 = static_cast<std::uint32_t>(i);
            ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &e);
            for (int k = 0; k < o_.pipeline; ++k)
                send_message(c);
        }
    }

    void run() {
        const auto start = clock_type::now();
        const auto measure_from = start + to_duration(o_.warmup);
        const auto measure_to = measure_from + to_duration(o_.seconds);
        double cpu_from = 0;
        std::vector<epoll_event> events(256);
        std::vector<char> buf(std::max<std::size_t>(65536, o_.size));
        for (;;) {
            const auto now = clock_type::now();
            if (!measuring_ && now >= measure_from) {
                measuring_ = true;
                measured_from_ = now;
                if (o_.server_pid > 0)
                    cpu_from = server_cpu_seconds(o_.server_pid);
            }
            if (now >= measure_to)
                break;
            int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
            for (int i = 0; i < n; ++i) {
                connection& c = conns_[events[static_cast<std::size_t>(i)].data.u32];
                if (events[static_cast<std::size_t>(i)].events & EPOLLOUT)
                    flush(c);
                if (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    receive(c, buf);
            }
        }
        const double cpu_to = o_.server_pid > 0 ? server_cpu_seconds(o_.server_pid) : 0;
        const double elapsed =
            std::chrono::duration<double>(clock_type::now() - measured_from_).count();
        hist_.print();
        std::printf("req_per_s=%.0f p50_us=%.0f p99_us=%.0f",
                    static_cast<double>(requests_) / elapsed, hist_.percentile(0.50),
                    hist_.percentile(0.99));
        if (o_.server_pid > 0 && requests_ > 0) {
            std::printf(" server_cpu_us_per_req=%.3f",
                        (cpu_to - cpu_from) * 1e6 / static_cast<double>(requests_));
        }
        std::printf(" requests=%llu errors=%llu\n", static_cast<unsigned long long>(requests_),
                    static_cast<unsigned long long>(errors_));
        std::fflush(stdout);
    }

    bool ok() const { return errors_ == 0; }

private:
    static clock_type::duration to_duration(double s) {
        return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
    }
    [[noreturn]] static void die(const char* what) {
        std::perror(what);
        std::exit(1);
    }

    void send_message(connection& c) {
        for (std::size_t k = 0; k < o_.size; ++k)
            c.pending.push_back(expected(c.id, c.sent + k));
        c.sent += o_.size;
        c.started.push_back(clock_type::now());
        flush(c);
    }

    void flush(connection& c) {
        while (!c.pending.empty()) {
            ssize_t w = ::send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN)
                    break;
                die("send");
            }
            c.pending.erase(0, static_cast<std::size_t>(w));
        }
        epoll_event e{};
        e.events = EPOLLIN | (c.pending.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
        e.data.u32 = static_cast<std::uint32_t>(c.id);
        if (c.pending.empty() != c_was_empty(c))
            ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &e);
    }
    bool c_was_empty(connection& c) {
        // Tracks whether EPOLLOUT is registered, so epoll_ctl runs only on a change.
        if (watching_out_.size() < conns_.size())
            watching_out_.resize(conns_.size(), false);
        bool was = !watching_out_[static_cast<std::size_t>(c.id)];
        watching_out_[static_cast<std::size_t>(c.id)] = !c.pending.empty();
        return was;
    }

    void receive(connection& c, std::vector<char>& buf) {
        ssize_t r = ::recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0)
            die("the server closed a connection");
        for (ssize_t k = 0; k < r; ++k) {
            if (buf[static_cast<std::size_t>(k)] !=
                expected(c.id, c.received + static_cast<std::uint64_t>(k)))
                ++errors_;
        }
        c.received += static_cast<std::uint64_t>(r);
        while (c.received >= (c.done + 1) * o_.size) {
            ++c.done;
            if (measuring_) {
                hist_.add(clock_type::now() - c.started.front());
                ++requests_;
            }
            c.started.pop_front();
            send_message(c);
        }
    }

    const options o_;
    int ep_;
    std::vector<connection> conns_;
    std::vector<bool> watching_out_;
    histogram hist_;
    bool measuring_ = false;
    clock_type::time_point measured_from_{};
    std::uint64_t requests_ = 0;
    std::uint64_t errors_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    load l(o);
    l.connect_all();
    l.run();
    return l.ok() ? 0 : 1;
}
