// create_subprocess_exec and process (subprocess.hpp): asyncio's subprocess.py and
// base_subprocess.py, with posix_spawn, pipes as streams and a pidfd per child.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <corio/connection_errors.hpp>
#include <corio/detail/pipe_ops.hpp>
#include <corio/log.hpp>
#include <corio/subprocess.hpp>

#include "io_loop_state.hpp"
#include "signal_registry.hpp"
#include "stream_transport.hpp"

extern char** environ;

namespace corio {
namespace detail {

class child_watchers;

// One child. Invariants: exit_op_ is in flight exactly while self_ is set (the op keeps the
// state alive, as a stream's send keeps its transport) and the state is in its loop's
// child_watchers; pidfd_ is open until the child is reaped; returncode is set once, when it
// is reaped, and then every waiter is woken.
struct process_state : std::enable_shared_from_this<process_state> {
    explicit process_state(event_loop& l) noexcept : loop(l) {}
    ~process_state() {
        if (pidfd_ >= 0)
            ::close(pidfd_);
    }
    process_state(const process_state&) = delete;
    process_state& operator=(const process_state&) = delete;

    event_loop& loop;
    pid_t pid = 0;
    std::optional<int> returncode;
    std::vector<future<int>> waiters;
    stream_writer in;
    stream_reader out;
    stream_reader err;
    bool has_in = false;
    bool has_out = false;
    bool has_err = false;

    void watch();
    void abandon() noexcept;  // the loop closed with the child still running

private:
    class exit_op final : public readable_op {
    public:
        explicit exit_op(process_state& p) noexcept : readable_op(-1), p_(p) {}
        void set_fd(int fd) noexcept { fd_ = fd; }
        void complete() noexcept override { p_.on_pidfd_readable(); }

    private:
        process_state& p_;
    };

    void start_exit_op();
    void on_pidfd_readable() noexcept;
    void poll_later(double delay);
    bool try_reap() noexcept;
    void exited(int code) noexcept;
    child_watchers& watchers();

    int pidfd_ = -1;
    exit_op exit_op_{*this};
    std::shared_ptr<process_state> self_;
};

// The loop's children whose exit op is in flight: when the loop closes, their ops have been
// drained and will never complete, so the states they keep alive are released here.
class child_watchers final : public loop_extension {
public:
    std::unordered_set<process_state*> watching;

    void on_close(event_loop&) noexcept override {
        std::unordered_set<process_state*> states = std::move(watching);
        watching.clear();
        for (process_state* p : states)
            p->abandon();
    }
};

namespace {

// Linux 5.3; the number is the same on every architecture (the unified syscall table).
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

constexpr double first_poll_delay = 0.001;  // the fallback's waitpid polling, seconds
constexpr double max_poll_delay = 0.05;

int pidfd_open(pid_t pid) noexcept {
    const char* force = std::getenv("CORIO_PIDFD_FORCE_FAIL");
    if (force != nullptr && *force != '\0' && std::strcmp(force, "0") != 0) {
        errno = ENOSYS;
        return -1;
    }
    // Always close-on-exec (pidfd_open(2)).
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

child_watchers& process_state::watchers() {
    std::unique_ptr<loop_extension>& slot = io_state(loop).children;
    if (!slot)
        slot = std::make_unique<child_watchers>();
    return static_cast<child_watchers&>(*slot);
}

void process_state::watch() {
    pidfd_ = pidfd_open(pid);
    if (pidfd_ < 0) {
        // ENOSYS: a kernel before 5.3. Anything else (EMFILE) is no reason to lose the child:
        // the timer watches it just as correctly, only less promptly.
        poll_later(first_poll_delay);
        return;
    }
    exit_op_.set_fd(pidfd_);
    try {
        start_exit_op();
    } catch (...) {
        poll_later(first_poll_delay);  // the backend refused the op (a full ring): still watched
    }
}

void process_state::start_exit_op() {
    child_watchers& w = watchers();
    w.watching.insert(this);
    try {
        loop_access::backend(loop).start(exit_op_);
    } catch (...) {
        w.watching.erase(this);
        throw;
    }
    self_ = shared_from_this();
}

// Runs on the loop from the ready queue. `keep` may be the last reference.
void process_state::on_pidfd_readable() noexcept {
    std::shared_ptr<process_state> keep = std::move(self_);
    watchers().watching.erase(this);
    if (try_reap())
        return;
    // Readable but not reaped: not expected from a pidfd. Fall back to polling rather than
    // risk spinning on an op that completes at once every time.
    try {
        poll_later(first_poll_delay);
    } catch (...) {
        loop.call_exception_handler({"Could not keep watching a child process",
                                     std::current_exception(), "create_subprocess_exec"});
    }
}

void process_state::abandon() noexcept {
    // If close() could not drain the op, the kernel may still complete it into this state:
    // keep it alive (leaked) rather than free memory that is still in use.
    if (exit_op_.state == op_state::submitted || exit_op_.state == op_state::cancelling)
        return;
    std::shared_ptr<process_state> drop = std::move(self_);
}

void process_state::poll_later(double delay) {
    loop.call_later(delay, [self = shared_from_this(), delay] {
        if (!self->try_reap())
            self->poll_later(std::min(delay * 2, max_poll_delay));
    });
}

bool process_state::try_reap() noexcept {
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) != 0) {
        if (errno == EINTR)
            continue;
        // ECHILD: reaped by someone else (SIGCHLD at SIG_IGN, a waitpid(-1) elsewhere).
        log(log_level::warning,
            "Unknown child process pid " + std::to_string(pid) + ", will report returncode 255");
        exited(255);
        return true;
    }
    if (info.si_pid == 0)
        return false;  // still running
    // CLD_KILLED and CLD_DUMPED carry the signal number in si_status.
    exited(info.si_code == CLD_EXITED ? info.si_status : -info.si_status);
    return true;
}

void process_state::exited(int code) noexcept {
    returncode = code;
    if (pidfd_ >= 0) {
        ::close(pidfd_);
        pidfd_ = -1;
        exit_op_.set_fd(-1);
    }
    for (future<int>& f : waiters) {
        if (!f.done())
            f.set_result(code);
    }
    waiters.clear();
}

namespace {

// An owned descriptor, for the error paths of a spawn.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    ~unique_fd() { reset(); }
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset() noexcept {
        if (fd_ >= 0)
            ::close(std::exchange(fd_, -1));
    }

private:
    int fd_ = -1;
};

[[noreturn]] void throw_errno(const char* what) {
    throw_os_error(errno, what);
}

struct pipe_ends {
    unique_fd parent;
    unique_fd child;
};

// A pipe for one of the child's standard descriptors. The child's end stays blocking (what
// programs expect of their stdio) and is kept off 0, 1 and 2, so that the dup2 that puts one
// child end in place can never close another; the parent's end is non-blocking, for the
// readiness lowering.
pipe_ends make_pipe(bool child_reads) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0)
        throw_errno("pipe2");
    unique_fd r(p[0]);
    unique_fd w(p[1]);
    pipe_ends ends{std::move(child_reads ? w : r), std::move(child_reads ? r : w)};
    if (ends.child.get() <= STDERR_FILENO) {
        const int high = ::fcntl(ends.child.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (high < 0)
            throw_errno("fcntl(F_DUPFD_CLOEXEC)");
        ends.child = unique_fd(high);
    }
    const int flags = ::fcntl(ends.parent.get(), F_GETFL);
    if (flags < 0 || ::fcntl(ends.parent.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        throw_errno("fcntl(O_NONBLOCK)");
    return ends;
}

// Popen ignores SIGPIPE the way the interpreter does at startup; subprocess.hpp says why.
void ignore_sigpipe_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction old {};
        if (::sigaction(SIGPIPE, nullptr, &old) != 0)
            return;
        if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL)
            return;  // the user's choice
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        ::sigemptyset(&ignore.sa_mask);
        ::sigaction(SIGPIPE, &ignore, nullptr);
    });
}

// posix_spawn's two argument objects, destroyed however the spawn ends. Every add* call can
// only fail with ENOMEM (or EBADF for a negative descriptor, which never reaches them).
class spawn_plan {
public:
    spawn_plan() {
        if (int rc = ::posix_spawn_file_actions_init(&actions_); rc != 0)
            throw_os_error(rc, "posix_spawn_file_actions_init");
        if (int rc = ::posix_spawnattr_init(&attr_); rc != 0) {
            ::posix_spawn_file_actions_destroy(&actions_);
            throw_os_error(rc, "posix_spawnattr_init");
        }
    }
    ~spawn_plan() {
        ::posix_spawnattr_destroy(&attr_);
        ::posix_spawn_file_actions_destroy(&actions_);
    }
    spawn_plan(const spawn_plan&) = delete;
    spawn_plan& operator=(const spawn_plan&) = delete;

    // Descriptor `target` of the child (0, 1 or 2) according to `mode`; `child_end` is the
    // pipe's end for stdio::pipe.
    void redirect(int target, stdio mode, int child_end) {
        switch (mode) {
            case stdio::inherit:
                return;
            case stdio::pipe:
                check(::posix_spawn_file_actions_adddup2(&actions_, child_end, target));
                return;
            case stdio::devnull:
                check(::posix_spawn_file_actions_addopen(&actions_, target, "/dev/null",
                                                         target == 0 ? O_RDONLY : O_WRONLY, 0));
                return;
            case stdio::to_stdout:  // stderr only (checked by the caller)
                check(::posix_spawn_file_actions_adddup2(&actions_, STDOUT_FILENO, target));
                return;
        }
    }

    void finish(const std::optional<std::string>& cwd) {
        if (cwd)
            check(::posix_spawn_file_actions_addchdir_np(&actions_, cwd->c_str()));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
        // Popen's close_fds=True: descriptors the user opened without O_CLOEXEC stay behind.
        check(::posix_spawn_file_actions_addclosefrom_np(&actions_, STDERR_FILENO + 1));
#endif
        sigset_t mask;
        ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
        unblock_handled_signals(mask);
        sigset_t defaults;
        ::sigemptyset(&defaults);
        ::sigaddset(&defaults, SIGPIPE);
        check(::posix_spawnattr_setsigmask(&attr_, &mask));
        check(::posix_spawnattr_setsigdefault(&attr_, &defaults));
        check(::posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    }

    pid_t spawn(const std::string& program, std::vector<char*>& argv, char** envp) {
        pid_t pid = 0;
        // posix_spawnp reports the child's exec failure as its result (glibc waits for the
        // exec in the CLONE_VFORK child).
        if (int rc = ::posix_spawnp(&pid, program.c_str(), &actions_, &attr_, argv.data(), envp);
            rc != 0) {
            throw_os_error(rc, program);
        }
        return pid;
    }

private:
    static void check(int rc) {
        if (rc != 0)
            throw_os_error(rc, "posix_spawn_file_actions");
    }

    posix_spawn_file_actions_t actions_;
    posix_spawnattr_t attr_;
};

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (std::string& s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

stream_reader reader_of(event_loop& loop, unique_fd& fd, std::size_t limit) {
    return stream_reader(
        std::make_shared<stream_transport>(loop, socket(fd.release()), limit, /*pipe=*/true));
}

void check_options(const subprocess_options& o) {
    if (o.stdin_mode == stdio::to_stdout || o.stdout_mode == stdio::to_stdout)
        throw std::invalid_argument("stdio::to_stdout is only valid for stderr_mode");
    if (o.limit == 0)
        throw std::invalid_argument("the stream limit must be positive");
}

process spawn(event_loop& loop, std::string program, std::vector<std::string> args,
              const subprocess_options& o) {
    loop_access::check_usable(loop, "create_subprocess_exec");
    check_options(o);
    if (o.stdin_mode == stdio::pipe)
        ignore_sigpipe_once();
    pipe_ends in, out, err;
    if (o.stdin_mode == stdio::pipe)
        in = make_pipe(true);
    if (o.stdout_mode == stdio::pipe)
        out = make_pipe(false);
    if (o.stderr_mode == stdio::pipe)
        err = make_pipe(false);

    spawn_plan plan;
    plan.redirect(STDIN_FILENO, o.stdin_mode, in.child.get());
    plan.redirect(STDOUT_FILENO, o.stdout_mode, out.child.get());
    plan.redirect(STDERR_FILENO, o.stderr_mode, err.child.get());
    plan.finish(o.cwd);

    args.insert(args.begin(), program);
    std::vector<char*> argv = c_strings(args);
    std::vector<std::string> env_strings = o.env.value_or(std::vector<std::string>{});
    std::vector<char*> envp = c_strings(env_strings);

    // Allocated before the child exists, so that nothing but the streams can fail after.
    auto state = std::make_shared<process_state>(loop);
    state->pid = plan.spawn(program, argv, o.env ? envp.data() : environ);
    in.child.reset();
    out.child.reset();
    err.child.reset();

    state->has_in = o.stdin_mode == stdio::pipe;
    state->has_out = o.stdout_mode == stdio::pipe;
    state->has_err = o.stderr_mode == stdio::pipe;
    if (state->has_in) {
        state->in = stream_writer(std::make_shared<stream_transport>(
            loop, socket(in.parent.release()), o.limit, /*pipe=*/true));
    }
    if (state->has_out)
        state->out = reader_of(loop, out.parent, o.limit);
    if (state->has_err)
        state->err = reader_of(loop, err.parent, o.limit);
    state->watch();
    return process(std::move(state));
}

task<void> feed_stdin(stream_writer in, std::optional<std::string> input) {
    // asyncio's _feed_stdin: a child that exits without reading is not an error.
    try {
        if (input && !input->empty()) {
            in.write(*input);
            co_await in.drain();
        }
    } catch (const broken_pipe_error&) {
    } catch (const connection_reset_error&) {
    }
    in.close();
}

task<std::optional<std::string>> read_to_eof(stream_reader r, bool present) {
    if (!present)
        co_return std::nullopt;
    co_return co_await r.read();
}

task<void> nothing() {
    co_return;
}

}  // namespace
}  // namespace detail

// -- process --------------------------------------------------------------------------------

namespace {

detail::process_state& checked(const std::shared_ptr<detail::process_state>& s) {
    if (!s)
        throw std::invalid_argument("an empty process");
    return *s;
}

}  // namespace

pid_t process::pid() const noexcept {
    return s_ ? s_->pid : 0;
}

std::optional<int> process::returncode() const noexcept {
    return s_ ? s_->returncode : std::nullopt;
}

task<int> process::wait() {
    std::shared_ptr<detail::process_state> keep = s_;
    detail::process_state& s = checked(keep);
    if (s.returncode)
        co_return *s.returncode;
    future<int> f = s.loop.create_future<int>();
    s.waiters.push_back(f);
    co_return co_await f;
}

task<communicate_result> process::communicate(std::optional<std::string> input) {
    std::shared_ptr<detail::process_state> keep = s_;
    detail::process_state& s = checked(keep);
    if (input && !s.has_in)
        throw std::invalid_argument("communicate: input given, but stdin is not stdio::pipe");
    // Feeding and reading at once: a child that fills its stdout pipe before it has read all
    // of its input waits for us to read, while we wait for it to read (asyncio's gather).
    // Named tasks, not temporaries: gcc 12 destroys a ?: temporary inside a co_await
    // expression twice.
    task<void> feed = s.has_in ? detail::feed_stdin(s.in, std::move(input)) : detail::nothing();
    task<std::optional<std::string>> read_out = detail::read_to_eof(s.out, s.has_out);
    task<std::optional<std::string>> read_err = detail::read_to_eof(s.err, s.has_err);
    auto [fed, out, err] =
        co_await gather(std::move(feed), std::move(read_out), std::move(read_err));
    co_await wait();
    co_return communicate_result{std::move(out), std::move(err)};
}

void process::send_signal(int signum) {
    detail::process_state& s = checked(s_);
    // Once reaped, the pid may belong to another process by now.
    if (s.returncode)
        return;
    if (::kill(s.pid, signum) < 0)
        throw_os_error(errno, "send_signal");
}

stream_writer& process::stdin_writer() {
    return checked(s_).in;
}
stream_reader& process::stdout_reader() {
    return checked(s_).out;
}
stream_reader& process::stderr_reader() {
    return checked(s_).err;
}

task<process> create_subprocess_exec(std::string program, std::vector<std::string> args,
                                     subprocess_options options) {
    co_return detail::spawn(get_running_loop(), std::move(program), std::move(args), options);
}

task<process> create_subprocess_shell(std::string cmd, subprocess_options options) {
    co_return detail::spawn(get_running_loop(), "/bin/sh", {"-c", std::move(cmd)}, options);
}

}  // namespace corio
