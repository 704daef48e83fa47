// add_signal_handler / remove_signal_handler (signals.hpp): a signalfd per loop, read by one op
// at a time, asyncio's unix_events signal handling without a C-level handler.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <corio/detail/pipe_ops.hpp>
#include <corio/signals.hpp>

#include "io_loop_state.hpp"
#include "signal_registry.hpp"

namespace corio {
namespace detail {
namespace {

// Which loop handles each signal, and whether add_signal_handler blocked it. Process-wide:
// loops on several threads may add and remove handlers at the same time.
struct signal_table {
    struct entry {
        event_loop* owner = nullptr;
        bool we_blocked = false;
    };
    std::mutex mutex;
    entry entries[NSIG];
};

signal_table& table() {
    static signal_table t;
    return t;
}

// Python's signal.valid_signals(): glibc's sigfillset leaves out the two real-time signals it
// keeps for itself (32 and 33, thread cancellation and setxid).
void check_signal(int signum) {
    sigset_t all;
    ::sigfillset(&all);
    if (signum < 1 || signum >= NSIG || ::sigismember(&all, signum) != 1)
        throw std::invalid_argument("invalid signal number " + std::to_string(signum));
}

sigset_t only(int signum) noexcept {
    sigset_t s;
    ::sigemptyset(&s);
    ::sigaddset(&s, signum);
    return s;
}

// One loop's handlers. Invariants: mask_ holds exactly the signals in handlers_; fd_ is open
// while handlers_ is not empty or a read is in flight (reading_), which is then the only op
// on it; a read is in flight whenever handlers_ is not empty (and the loop is open).
class signal_watcher final : public loop_extension {
public:
    explicit signal_watcher(event_loop& loop) : loop_(loop), op_(*this) { ::sigemptyset(&mask_); }
    ~signal_watcher() override { close_fd(); }
    signal_watcher(const signal_watcher&) = delete;
    signal_watcher& operator=(const signal_watcher&) = delete;

    void add(int signum, std::function<void()> callback);
    bool remove(int signum);
    void on_close(event_loop& loop) noexcept override;

private:
    // Shared with the callbacks a delivery scheduled: removal cancels those not yet run.
    struct handler {
        std::function<void()> callback;
        bool we_blocked = false;
        bool cancelled = false;
    };

    class read_op final : public pipe_read_op {
    public:
        explicit read_op(signal_watcher& w) noexcept
            : pipe_read_op(-1, w.records_, sizeof w.records_), w_(w) {}
        void set_fd(int fd) noexcept { fd_ = fd; }
        void complete() noexcept override { w_.on_read(); }

    private:
        signal_watcher& w_;
    };

    void update_signalfd();
    void start_read();
    void on_read() noexcept;
    void dispatch(int signum) noexcept;
    void release(int signum, bool we_blocked) noexcept;
    void report(const char* what, std::exception_ptr error) noexcept;
    void close_fd() noexcept;

    event_loop& loop_;
    int fd_ = -1;
    sigset_t mask_;
    std::map<int, std::shared_ptr<handler>> handlers_;
    bool reading_ = false;
    signalfd_siginfo records_[8];  // one read takes up to eight deliveries
    read_op op_;
};

void signal_watcher::add(int signum, std::function<void()> callback) {
    if (auto it = handlers_.find(signum); it != handlers_.end()) {
        // A new handler object: a call the old one already scheduled still runs (asyncio).
        auto h = std::make_shared<handler>(handler{std::move(callback), it->second->we_blocked});
        it->second = std::move(h);
        return;
    }
    auto h = std::make_shared<handler>(handler{std::move(callback)});
    std::lock_guard lock(table().mutex);
    signal_table::entry& entry = table().entries[signum];
    if (entry.owner != nullptr && entry.owner != &loop_) {
        throw std::runtime_error("signal " + std::to_string(signum) +
                                 " already has a handler on another event loop");
    }
    const sigset_t one = only(signum);
    sigset_t old;
    ::pthread_sigmask(SIG_BLOCK, &one, &old);
    h->we_blocked = ::sigismember(&old, signum) != 1;
    ::sigaddset(&mask_, signum);
    try {
        update_signalfd();
        if (!reading_)
            start_read();
        handlers_.emplace(signum, h);
    } catch (...) {
        ::sigdelset(&mask_, signum);
        if (handlers_.empty() && !reading_) {
            close_fd();
        } else if (fd_ >= 0) {
            ::signalfd(fd_, &mask_, 0);
        }
        if (h->we_blocked)
            ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        throw;
    }
    entry.owner = &loop_;
    entry.we_blocked = h->we_blocked;
}

bool signal_watcher::remove(int signum) {
    auto it = handlers_.find(signum);
    if (it == handlers_.end())
        return false;
    std::shared_ptr<handler> h = std::move(it->second);
    handlers_.erase(it);
    h->cancelled = true;
    ::sigdelset(&mask_, signum);
    if (fd_ >= 0)
        ::signalfd(fd_, &mask_, 0);  // only EINVAL/ENOMEM, impossible for an existing signalfd
    release(signum, h->we_blocked);
    if (handlers_.empty()) {
        if (reading_) {
            loop_access::backend(loop_).cancel(op_);  // on_read() closes the descriptor
        } else {
            close_fd();
        }
    }
    return true;
}

void signal_watcher::on_close(event_loop&) noexcept {
    // Every op was drained (events.hpp): the read is no longer in the kernel's hands, and its
    // complete() will not run.
    reading_ = false;
    for (auto& [signum, h] : handlers_) {
        h->cancelled = true;
        release(signum, h->we_blocked);
    }
    handlers_.clear();
    ::sigemptyset(&mask_);
    close_fd();
}

void signal_watcher::update_signalfd() {
    const int fd = ::signalfd(fd_, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "signalfd");
    fd_ = fd;
    op_.set_fd(fd);
}

void signal_watcher::start_read() {
    loop_access::backend(loop_).start(op_);
    reading_ = true;
}

// Runs on the loop from the ready queue. A signal whose handler was removed after the kernel
// queued it is dropped here, as asyncio drops a delivery for a cancelled handle.
void signal_watcher::on_read() noexcept {
    reading_ = false;
    const int r = op_.result;
    if (r > 0) {
        const auto n = static_cast<std::size_t>(r) / sizeof(signalfd_siginfo);
        for (std::size_t i = 0; i < n; ++i)
            dispatch(static_cast<int>(records_[i].ssi_signo));
    } else if (r < 0 && r != -ECANCELED && r != -EAGAIN && r != -EINTR) {
        // Not expected from a signalfd; reading again would fail the same way, in a loop.
        report("Reading the signalfd failed; signal handlers of this loop stopped",
               std::make_exception_ptr(std::system_error(-r, std::generic_category(), "read")));
        return;
    }
    if (handlers_.empty()) {
        close_fd();
        return;
    }
    try {
        start_read();
    } catch (...) {
        report("Could not read the signalfd again; signal handlers of this loop stopped",
               std::current_exception());
    }
}

void signal_watcher::dispatch(int signum) noexcept {
    auto it = handlers_.find(signum);
    if (it == handlers_.end())
        return;
    try {
        loop_.call_soon([h = it->second] {
            if (!h->cancelled)
                h->callback();
        });
    } catch (...) {
        report("Could not schedule a signal handler", std::current_exception());
    }
}

// Gives the signal back as add_signal_handler found it in this thread. Instances already
// pending arrived while the handler existed: they are taken here, so that unblocking does not
// hand them to the default action (asyncio would have dispatched them to a handler that is
// gone, which drops them).
void signal_watcher::release(int signum, bool we_blocked) noexcept {
    if (we_blocked) {
        const sigset_t one = only(signum);
        const timespec no_wait{};
        while (::sigtimedwait(&one, nullptr, &no_wait) == signum) {
        }
        ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    }
    std::lock_guard lock(table().mutex);
    table().entries[signum] = {};
}

void signal_watcher::report(const char* what, std::exception_ptr error) noexcept {
    loop_.call_exception_handler({what, std::move(error), "add_signal_handler"});
}

void signal_watcher::close_fd() noexcept {
    if (fd_ < 0)
        return;
    ::close(fd_);
    fd_ = -1;
    op_.set_fd(-1);
}

signal_watcher& watcher_of(event_loop& loop) {
    std::unique_ptr<loop_extension>& slot = io_state(loop).signals;
    if (!slot)
        slot = std::make_unique<signal_watcher>(loop);
    return static_cast<signal_watcher&>(*slot);
}

}  // namespace

void unblock_handled_signals(sigset_t& mask) noexcept {
    std::lock_guard lock(table().mutex);
    for (int s = 1; s < NSIG; ++s) {
        if (table().entries[s].owner != nullptr && table().entries[s].we_blocked)
            ::sigdelset(&mask, s);
    }
}

}  // namespace detail

void add_signal_handler(event_loop& loop, int signum, std::function<void()> callback) {
    detail::check_signal(signum);
    if (signum == SIGKILL || signum == SIGSTOP) {
        // What signal.signal() raises there (EINVAL), as asyncio reports it.
        throw std::runtime_error("sig " + std::to_string(signum) + " cannot be caught");
    }
    if (!callback)
        throw std::invalid_argument("add_signal_handler: the callback is empty");
    detail::loop_access::check_usable(loop, "add_signal_handler");
    detail::watcher_of(loop).add(signum, std::move(callback));
}

bool remove_signal_handler(event_loop& loop, int signum) {
    detail::check_signal(signum);
    std::unique_ptr<detail::loop_extension>& slot = detail::io_state(loop).signals;
    return slot && static_cast<detail::signal_watcher&>(*slot).remove(signum);
}

}  // namespace corio
