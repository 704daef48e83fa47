// The epoll backend (epoll_backend.hpp).
#include "epoll_backend.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

namespace corio::detail {
namespace {

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::system_category(), what);
}

constexpr std::uint32_t read_events = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
constexpr std::uint32_t write_events = EPOLLOUT | EPOLLHUP | EPOLLERR;

}  // namespace

epoll_backend::epoll_backend() : events_(256) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0)
        throw_errno("epoll_create1");
    event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0) {
        int saved = errno;
        ::close(epoll_fd_);
        errno = saved;
        throw_errno("eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = event_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) < 0) {
        int saved = errno;
        ::close(event_fd_);
        ::close(epoll_fd_);
        errno = saved;
        throw_errno("epoll_ctl(eventfd)");
    }
}

epoll_backend::~epoll_backend() {
    ::close(event_fd_);
    ::close(epoll_fd_);
}

void epoll_backend::poll(std::chrono::nanoseconds timeout, completion_sink& done) {
    if (!finished_.empty()) {
        for (io_op* op : finished_)
            done.push(*op);
        finished_.clear();
        timeout = std::chrono::nanoseconds(0);  // something is ready: do not block
    }
    if (timeout.count() == 0 && waiting_ == 0) {
        // Nothing registered can have become ready, and a pending wake-up only matters to a
        // poll that would block: no syscall.
        ++done.stats().polls_skipped;
        return;
    }
    ++done.stats().polls;
    int n = wait(timeout);
    for (int i = 0; i < n; ++i)
        dispatch(events_[static_cast<std::size_t>(i)], done);
}

int epoll_backend::wait(std::chrono::nanoseconds timeout) noexcept {
    const int max_events = static_cast<int>(events_.size());
    for (;;) {
        int n;
        if (have_pwait2_) {
            // epoll_pwait2 (Linux 5.11, glibc 2.35) takes a timespec: no rounding of short
            // timer waits up to a whole millisecond.
            timespec ts{};
            timespec* tsp = nullptr;
            if (timeout.count() >= 0) {
                ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
                ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
                tsp = &ts;
            }
            n = ::epoll_pwait2(epoll_fd_, events_.data(), max_events, tsp, nullptr);
            if (n < 0 && errno == ENOSYS) {
                have_pwait2_ = false;
                continue;
            }
        } else {
            // Round up, so that a timer is never polled for early and spun on.
            int ms = timeout.count() < 0
                         ? -1
                         : static_cast<int>((timeout.count() + 999'999) / 1'000'000);
            n = ::epoll_wait(epoll_fd_, events_.data(), max_events, ms);
        }
        if (n >= 0)
            return n;
        // EINTR: a signal arrived; the loop iterates and polls again. EBADF and EINVAL
        // cannot happen with the descriptors this object owns.
        return 0;
    }
}

void epoll_backend::dispatch(const epoll_event& ev, completion_sink& done) {
    if (ev.data.fd == event_fd_) {
        drain_wakeups(done);
        return;
    }
    const int fd = ev.data.fd;
    fd_ops& ops = fds_[static_cast<std::size_t>(fd)];
    // Interest is dropped lazily: only when it reports readiness nobody waits for. A reader
    // that starts its next recv in this iteration's step 5 finds its interest still there.
    const bool idle_read = ops.reader == nullptr && (ev.events & read_events) != 0;
    const bool idle_write = ops.writer == nullptr && (ev.events & write_events) != 0;
    if ((ev.events & read_events) != 0 && ops.reader != nullptr)
        try_slot(ops.reader, done);
    if ((ev.events & write_events) != 0 && ops.writer != nullptr)
        try_slot(ops.writer, done);
    if (!ops.sticky || idle_read || idle_write)
        set_interest(fd, wanted(ops));
}

void epoll_backend::try_slot(io_op*& slot, completion_sink& done) {
    if (slot->try_now() == attempt::would_block)
        return;  // spurious readiness: keep waiting
    --waiting_;
    done.push(*std::exchange(slot, nullptr));
}

void epoll_backend::drain_wakeups(completion_sink& done) noexcept {
    std::uint64_t count;
    // Non-blocking: a racing second wake() may already have been consumed with this one.
    if (::read(event_fd_, &count, sizeof count) == static_cast<ssize_t>(sizeof count)) {
        done.woken();
    }
}

void epoll_backend::wake() noexcept {
    const std::uint64_t one = 1;
    // Only EAGAIN (counter saturated, a wake-up is already pending) can fail here.
    [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
}

void epoll_backend::start(io_op& op) {
    if (op.multishot) [[unlikely]]  // caps() says no multishot_recv: a caller's bug
        throw std::logic_error("the epoll backend cannot receive multishot");
    if (!awaits_readiness_first(op) && op.try_now() == attempt::done) {
        op.state = op_state::submitted;
        finished_.push_back(&op);
        return;
    }
    const int fd = op.fd();
    if (fd < 0)
        throw std::invalid_argument("io_op has no file descriptor");
    if (static_cast<std::size_t>(fd) >= fds_.size())
        fds_.resize(static_cast<std::size_t>(fd) + 1);
    fd_ops& ops = fds_[static_cast<std::size_t>(fd)];
    if (ops.sticky && !op.forget_on_close && ops.reader == nullptr && ops.writer == nullptr) {
        forget(fd);  // maybe a new descriptor under an old number: register afresh
    }
    io_op*& slot = op.wants() == interest::read ? ops.reader : ops.writer;
    if (slot != nullptr) {
        throw std::runtime_error("another operation is already waiting to " +
                                 std::string(op.wants() == interest::read ? "read" : "write") +
                                 " on fd " + std::to_string(fd));
    }
    finished_.reserve(pending_ops() + 1);  // so that cancel() and cancel_all() never allocate
    slot = &op;
    if (op.forget_on_close)
        ops.sticky = true;
    // Registered already (the common case for a connection's next recv): no syscall.
    const std::uint32_t need = wanted(ops);
    if ((ops.registered & need) != need) {
        if (int err = set_interest(fd, ops.registered | need); err != 0) {
            slot = nullptr;
            throw std::system_error(err, std::system_category(), "epoll_ctl");
        }
    }
    op.state = op_state::submitted;
    ++waiting_;
}

// A read on a descriptor whose read interest is still registered (a connection's next recv)
// skips the first try: level-triggered epoll reports it at the next poll if data is already
// there, and otherwise the try would only have cost a recv that fails with EAGAIN, the usual
// case for a request-response connection. (raw_epoll_echo makes one recv per request; this
// keeps corio at one too.)
bool epoll_backend::awaits_readiness_first(const io_op& op) const noexcept {
    if (!op.forget_on_close || op.wants() != interest::read)
        return false;
    const int fd = op.fd();
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size())
        return false;
    const fd_ops& ops = fds_[static_cast<std::size_t>(fd)];
    return ops.sticky && (ops.registered & EPOLLIN) != 0;
}

void epoll_backend::cancel(io_op& op) noexcept {
    if (op.state != op_state::submitted)
        return;
    const int fd = op.fd();
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size())
        return;
    fd_ops& ops = fds_[static_cast<std::size_t>(fd)];
    io_op** slot = ops.reader == &op ? &ops.reader : ops.writer == &op ? &ops.writer : nullptr;
    if (slot == nullptr)
        return;  // finished already, waiting in finished_: keeps its result
    cancel_slot(*slot);
    if (!ops.sticky)
        set_interest(fd, wanted(ops));  // a failure leaves stale interest,
                                        // dropped at the next event
}

void epoll_backend::cancel_slot(io_op*& slot) noexcept {
    io_op& op = *std::exchange(slot, nullptr);
    --waiting_;
    op.state = op_state::cancelling;
    op.result = -ECANCELED;
    finished_.push_back(&op);  // capacity reserved by start(); interest is dropped lazily
}

// Nothing here is in the kernel's hands: unlinking every waiting op is the whole drain.
void epoll_backend::cancel_all() noexcept {
    for (fd_ops& ops : fds_) {
        if (ops.reader != nullptr)
            cancel_slot(ops.reader);
        if (ops.writer != nullptr)
            cancel_slot(ops.writer);
    }
}

void epoll_backend::forget(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size())
        return;
    fd_ops& ops = fds_[static_cast<std::size_t>(fd)];
    // Deleted explicitly rather than left to close(): epoll forgets a descriptor only when
    // its open file description goes, and a forked child may still hold that.
    if (ops.registered != 0) {
        epoll_event ev{};
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev);  // EBADF/ENOENT: gone already
        ops.registered = 0;
    }
    ops.sticky = false;
}

std::uint32_t epoll_backend::wanted(const fd_ops& ops) noexcept {
    return (ops.reader ? std::uint32_t{EPOLLIN | EPOLLRDHUP} : 0u) |
           (ops.writer ? std::uint32_t{EPOLLOUT} : 0u);
}

int epoll_backend::set_interest(int fd, std::uint32_t want) noexcept {
    fd_ops& ops = fds_[static_cast<std::size_t>(fd)];
    if (want == ops.registered)
        return 0;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = fd;
    int rc;
    if (ops.registered == 0) {
        rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    } else if (want == 0) {
        rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev);
        if (rc < 0 && (errno == EBADF || errno == ENOENT))
            rc = 0;  // fd closed meanwhile
    } else {
        rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
        if (rc < 0 && errno == ENOENT) {
            // Closed and reopened under the same number without forget(): register afresh.
            rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        }
    }
    if (rc < 0)
        return errno;
    ops.registered = want;
    return 0;
}

}  // namespace corio::detail
