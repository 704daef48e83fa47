// Subprocesses: asyncio's subprocess.py (create_subprocess_exec, create_subprocess_shell,
// Process), with the child's pipes as corio streams.
//
//     corio::process p = co_await corio::create_subprocess_exec(
//         "/bin/cat", corio::subprocess_options{.stdin_mode = corio::stdio::pipe,
//                                               .stdout_mode = corio::stdio::pipe});
//     auto [out, err] = co_await p.communicate("hello");   // out == "hello", err empty
//     int status = co_await p.wait();                       // 0 (already known here)
//
// Spawning: posix_spawnp (glibc: clone with CLONE_VM | CLONE_VFORK, so the calling thread
// waits only until the child has exec'd). A program without a '/' is searched in PATH, as
// Popen does. If the exec fails, create_subprocess_exec throws its errno as
// connection_errors.hpp maps it (file_not_found_error for a missing program, permission_error
// for one that is not executable), Python's FileNotFoundError and PermissionError.
//
// What the child gets:
// - descriptors 0, 1, 2 as the options say, and nothing else: every descriptor corio makes is
//   close-on-exec, and the child closes every other descriptor from 3 up before exec
//   (Popen's close_fds=True);
// - the spawning thread's signal mask without the signals add_signal_handler blocked, and
//   SIGPIPE at its default action (Popen's restore_signals=True);
// - the parent's environment unless options.env is set, and its working directory unless
//   options.cwd is set.
//
// Pipes are pipe2(O_CLOEXEC) pairs; the parent's end is non-blocking and becomes a stream
// (stream_writer for stdin, stream_reader for stdout and stderr) read and written with
// read(2)/write(2) ops (detail/pipe_ops.hpp). A write to a pipe whose reader exited raises
// SIGPIPE in the writing thread, on io_uring as on epoll, and write(2) has no MSG_NOSIGNAL. So,
// as the Python interpreter does at startup, the first create_subprocess_* with
// stdin_mode == stdio::pipe sets SIGPIPE to SIG_IGN for the process if it was at SIG_DFL (a
// handler or an ignore the user installed is left alone); the write then fails with EPIPE,
// which the stream reports as broken_pipe_error (communicate() ignores it, as asyncio's does).
//
// Exit: the child is watched from the moment it starts, so returncode() is set once the loop
// has seen it exit, with or without wait(). On Linux 5.3 and later the loop waits for its
// pidfd (pidfd_open) to become readable with an op (io_uring: IORING_OP_POLL_ADD; epoll: wait
// readable), then reaps it with waitid(WNOHANG). Where pidfd_open fails with ENOSYS (or when
// CORIO_PIDFD_FORCE_FAIL=1, for the tests), the loop polls waitid(P_PID, WNOHANG) from a timer,
// every 1 ms at first and backing off to every 50 ms: simple, and correct because only this
// watcher reaps this pid (unless SIGCHLD is set to SIG_IGN, which makes the kernel reap
// children itself: then, as asyncio, returncode is 255). If the loop closes before the child
// exits, the child is neither waited for nor killed.
//
// Used only on the loop's thread that created the process.
#pragma once

#include <sys/types.h>

#include <concepts>
#include <csignal>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/streams.hpp>
#include <corio/tasks.hpp>

namespace corio {

namespace detail {
struct process_state;
}

/// Where one of the child's standard descriptors goes (Popen's stdin=/stdout=/stderr=).
enum class stdio {
    inherit,    ///< None: the parent's descriptor
    pipe,       ///< asyncio.subprocess.PIPE: a pipe to a stream of the process
    devnull,    ///< asyncio.subprocess.DEVNULL: /dev/null
    to_stdout,  ///< asyncio.subprocess.STDOUT: stderr only, to wherever stdout goes
};

/// The keyword arguments of create_subprocess_exec that corio supports.
struct subprocess_options {
    stdio stdin_mode = stdio::inherit;
    stdio stdout_mode = stdio::inherit;
    stdio stderr_mode = stdio::inherit;
    /// The child's working directory; unset: the parent's.
    std::optional<std::string> cwd = std::nullopt;
    /// The child's whole environment, "NAME=value" strings; unset: the parent's.
    std::optional<std::vector<std::string>> env = std::nullopt;
    /// The limit of the stdout and stderr stream_readers (asyncio's `limit`).
    std::size_t limit = default_stream_limit;
};

/// What communicate() returns: asyncio's (stdout_data, stderr_data); empty for a stream that
/// is not stdio::pipe (asyncio's None).
struct communicate_result {
    std::optional<std::string> stdout_data;
    std::optional<std::string> stderr_data;
};

/// asyncio.subprocess.Process. A small handle: copies share one process. Every member but
/// pid() and returncode() throws std::invalid_argument on an empty (default-constructed) one.
class process {
public:
    process() noexcept = default;
    explicit process(std::shared_ptr<detail::process_state> s) noexcept : s_(std::move(s)) {}

    pid_t pid() const noexcept;
    /// The exit status once the loop has seen the child exit: its exit code, or -N if signal
    /// N killed it (asyncio's returncode). Unset while it runs.
    std::optional<int> returncode() const noexcept;

    /// Waits for the child to exit and returns returncode(); at once if it is known. With
    /// stdout or stderr piped, a child that writes more than a pipe holds waits for a reader:
    /// read the streams, or use communicate() (asyncio's warning).
    task<int> wait();

    /// asyncio's Process.communicate: writes `input` to stdin (if given) and closes it, reads
    /// stdout and stderr to EOF, all at once, then waits for the exit. A child that exits
    /// without reading its input is not an error (broken_pipe_error is ignored). Throws
    /// std::invalid_argument if `input` is given but stdin is not stdio::pipe.
    task<communicate_result> communicate(std::optional<std::string> input = std::nullopt);

    /// Sends `signum` to the child, unless it has already been reaped (returncode() is set),
    /// when it does nothing (Popen.send_signal). Throws std::system_error for a bad signal.
    void send_signal(int signum);
    /// SIGTERM.
    void terminate() { send_signal(SIGTERM); }
    /// SIGKILL.
    void kill() { send_signal(SIGKILL); }

    /// The parent's end of the child's stdin, stdout, stderr (asyncio's proc.stdin, ...):
    /// empty handles unless the option was stdio::pipe (asyncio's None).
    stream_writer& stdin_writer();
    stream_reader& stdout_reader();
    stream_reader& stderr_reader();

private:
    std::shared_ptr<detail::process_state> s_;
};

/// asyncio.create_subprocess_exec: runs `program` with `args` (argv[0] is `program`) on the
/// running loop. Throws std::invalid_argument for stdin_mode or stdout_mode to_stdout.
task<process> create_subprocess_exec(std::string program, std::vector<std::string> args,
                                     subprocess_options options = {});

namespace detail {
template <class T>
concept exec_argument = std::convertible_to<const T&, std::string_view> ||
    std::same_as<std::remove_cvref_t<T>, subprocess_options>;

inline void add_exec_argument(std::vector<std::string>& argv, subprocess_options&,
                              std::string_view arg) {
    argv.emplace_back(arg);
}
inline void add_exec_argument(std::vector<std::string>&, subprocess_options& options,
                              subprocess_options given) {
    options = std::move(given);
}
}  // namespace detail

/// The same in asyncio's shape, the arguments one by one and the options last:
/// `co_await create_subprocess_exec("/bin/ls", "-l", dir, subprocess_options{...})`. Prefer it
/// inside coroutines: gcc 12 rejects a braced list (`{"-l", dir}`) in a co_await expression
/// ("array used as initializer").
template <class... Args>
requires(detail::exec_argument<Args>&&...) task<process> create_subprocess_exec(std::string program,
                                                                                Args&&... args) {
    std::vector<std::string> argv;
    argv.reserve(sizeof...(Args));
    subprocess_options options;
    (detail::add_exec_argument(argv, options, std::forward<Args>(args)), ...);
    return create_subprocess_exec(std::move(program), std::move(argv), std::move(options));
}

/// asyncio.create_subprocess_shell: `/bin/sh -c cmd`.
task<process> create_subprocess_shell(std::string cmd, subprocess_options options = {});

}  // namespace corio
