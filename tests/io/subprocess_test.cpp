// create_subprocess_exec / create_subprocess_shell and process on both backends: pipes as
// streams, exit codes and signal deaths, communicate() without deadlock, exec errors, and no
// descriptor leaked into the child or left behind in the parent (io_test's TearDown).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <corio/signals.hpp>
#include <corio/subprocess.hpp>

#include "io_fixture.hpp"

namespace corio {
namespace {

using test::io_test;

class subprocess : public io_test {};

subprocess_options pipes(stdio in, stdio out, stdio err = stdio::inherit) {
    subprocess_options o;
    o.stdin_mode = in;
    o.stdout_mode = out;
    o.stderr_mode = err;
    return o;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

// /bin/cat echoes what stdin_writer() writes to stdout_reader(), line by line, then its EOF.
task<void> cat_round_trip() {
    process p = co_await create_subprocess_exec("/bin/cat", pipes(stdio::pipe, stdio::pipe));
    EXPECT_GT(p.pid(), 0);
    EXPECT_FALSE(p.returncode().has_value());
    stream_writer& in = p.stdin_writer();
    stream_reader& out = p.stdout_reader();
    in.write("hello\n");
    co_await in.drain();
    EXPECT_EQ(co_await out.readline(), "hello\n");
    in.write("second line\n");
    EXPECT_EQ(co_await out.readline(), "second line\n");
    in.write("no newline");
    in.write_eof();  // closes the pipe: cat sees EOF and exits
    EXPECT_EQ(co_await out.read(), "no newline");
    EXPECT_TRUE(out.at_eof());
    EXPECT_EQ(co_await p.wait(), 0);
    EXPECT_EQ(p.returncode(), 0);
}

TEST_P(subprocess, cat_echoes_through_stdin_and_stdout) {
    CORIO_RUN(cat_round_trip());
}

// The example at the top of subprocess.hpp, kept compiling.
task<void> header_example() {
    corio::process p = co_await corio::create_subprocess_exec(
        "/bin/cat", corio::subprocess_options{.stdin_mode = corio::stdio::pipe,
                                              .stdout_mode = corio::stdio::pipe});
    auto [out, err] = co_await p.communicate("hello");  // out == "hello", err empty
    int status = co_await p.wait();                     // 0 (already known here)
    EXPECT_EQ(out, "hello");
    EXPECT_FALSE(err.has_value());
    EXPECT_EQ(status, 0);
}

TEST_P(subprocess, the_header_example) {
    CORIO_RUN(header_example());
}

task<void> exit_code() {
    process p = co_await create_subprocess_shell("exit 3");
    EXPECT_EQ(co_await p.wait(), 3);
    EXPECT_EQ(p.returncode(), 3);
    process q = co_await create_subprocess_exec("/bin/sh", "-c", "exit 0");
    EXPECT_EQ(co_await q.wait(), 0);
}

TEST_P(subprocess, exit_status_is_the_returncode) {
    CORIO_RUN(exit_code());
}

task<void> killed() {
    process p = co_await create_subprocess_exec("/bin/sleep", "30");
    p.kill();
    EXPECT_EQ(co_await p.wait(), -SIGKILL);
    p.kill();  // reaped: does nothing
    process q = co_await create_subprocess_exec("/bin/sleep", "30");
    q.terminate();
    EXPECT_EQ(co_await q.wait(), -SIGTERM);
    process r = co_await create_subprocess_exec("/bin/sleep", "30");
    r.send_signal(SIGUSR2);
    EXPECT_EQ(co_await r.wait(), -SIGUSR2);
}

TEST_P(subprocess, a_signal_death_is_a_negative_returncode) {
    CORIO_RUN(killed());
}

task<void> merged() {
    process p = co_await create_subprocess_shell(
        "echo out; echo err 1>&2; echo out2", pipes(stdio::inherit, stdio::pipe, stdio::to_stdout));
    communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.stdout_data, "out\nerr\nout2\n");
    EXPECT_FALSE(r.stderr_data.has_value());
    EXPECT_EQ(p.returncode(), 0);
}

TEST_P(subprocess, stderr_to_stdout_merges_the_streams) {
    CORIO_RUN(merged());
}

task<void> separate() {
    process p = co_await create_subprocess_shell("echo out; echo err 1>&2; exit 5",
                                                 pipes(stdio::devnull, stdio::pipe, stdio::pipe));
    communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.stdout_data, "out\n");
    EXPECT_EQ(r.stderr_data, "err\n");
    EXPECT_EQ(p.returncode(), 5);
}

TEST_P(subprocess, stdout_and_stderr_piped_separately) {
    CORIO_RUN(separate());
}

task<void> missing_program() {
    EXPECT_THROW(co_await create_subprocess_exec("/nonexistent/corio-test-program"),
                 file_not_found_error);
    EXPECT_THROW(co_await create_subprocess_exec("corio-no-such-program-in-path",
                                                 pipes(stdio::pipe, stdio::pipe, stdio::pipe)),
                 file_not_found_error);
    EXPECT_THROW(co_await create_subprocess_exec("/dev/null"), permission_error);  // not executable
}

TEST_P(subprocess, a_missing_program_raises_file_not_found) {
    CORIO_RUN(missing_program());
}

task<void> large_communicate() {
    const std::string input = pattern(1 << 20);
    process p = co_await create_subprocess_exec("/bin/cat", pipes(stdio::pipe, stdio::pipe));
    communicate_result r = co_await p.communicate(input);
    EXPECT_EQ(r.stdout_data->size(), input.size());
    EXPECT_TRUE(*r.stdout_data == input);
    EXPECT_EQ(p.returncode(), 0);
}

// Pipes hold 64 KiB: writing all of the input before reading would leave cat blocked on a full
// stdout and us on a full stdin.
TEST_P(subprocess, communicate_with_a_mebibyte_does_not_deadlock) {
    if (!run_void(large_communicate(), 30))
        GTEST_SKIP() << "backend unavailable: " << skip_reason_;
}

task<void> child_ignores_input() {
    process p = co_await create_subprocess_shell("exit 4", pipes(stdio::pipe, stdio::pipe));
    communicate_result r = co_await p.communicate(pattern(1 << 20));
    EXPECT_EQ(r.stdout_data, "");
    EXPECT_EQ(p.returncode(), 4);
}

// The child exits without reading: the write fails with EPIPE (never SIGPIPE), and
// communicate() ignores that, as asyncio's does.
TEST_P(subprocess, communicate_ignores_a_child_that_does_not_read) {
    CORIO_RUN(child_ignores_input());
}

task<void> wait_after_exit() {
    process p = co_await create_subprocess_shell("exit 7");
    while (!p.returncode())  // the loop reaps it without anyone waiting
        co_await sleep(0.001);
    EXPECT_EQ(p.returncode(), 7);
    const double start = get_running_loop().time();
    EXPECT_EQ(co_await p.wait(), 7);
    EXPECT_EQ(co_await p.wait(), 7);
    EXPECT_LT(get_running_loop().time() - start, 0.05);
}

TEST_P(subprocess, wait_on_an_exited_process_returns_at_once) {
    CORIO_RUN(wait_after_exit());
}

task<void> many_waiters() {
    process p = co_await create_subprocess_exec("/bin/sleep", "0.05");
    auto [a, b] = co_await gather(p.wait(), p.wait());
    EXPECT_EQ(a, 0);
    EXPECT_EQ(b, 0);
}

TEST_P(subprocess, several_waiters_all_get_the_returncode) {
    CORIO_RUN(many_waiters());
}

// What the child has open: only 0, 1, 2 (and ls's own directory descriptor), although this
// process holds descriptors without O_CLOEXEC.
task<void> child_descriptors() {
    process p = co_await create_subprocess_exec("/bin/ls", "/proc/self/fd",
                                                pipes(stdio::devnull, stdio::pipe, stdio::devnull));
    communicate_result r = co_await p.communicate();
    std::istringstream lines(*r.stdout_data);
    std::vector<int> fds;
    for (std::string line; std::getline(lines, line);)
        fds.push_back(std::stoi(line));
    EXPECT_GE(fds.size(), 3u);
    for (int fd : fds)
        EXPECT_LE(fd, 3) << "descriptor " << fd << " leaked into the child:\n" << *r.stdout_data;
}

TEST_P(subprocess, the_child_inherits_no_other_descriptor) {
    const int inheritable = ::dup(STDERR_FILENO);  // no O_CLOEXEC
    ASSERT_GE(inheritable, 0);
    const int moved = ::fcntl(inheritable, F_DUPFD, 20);  // above ls's own descriptor
    ::close(inheritable);
    ASSERT_GE(moved, 20);
    CORIO_RUN(child_descriptors());
    ::close(moved);
}

task<void> spawn_many() {
    for (int i = 0; i < 20; ++i) {
        process p = co_await create_subprocess_exec("/bin/cat",
                                                    pipes(stdio::pipe, stdio::pipe, stdio::pipe));
        communicate_result r = co_await p.communicate("x");
        EXPECT_EQ(r.stdout_data, "x");
        EXPECT_EQ(r.stderr_data, "");
    }
    // Dropped without communicate: the streams close their pipes when the handles go.
    process q =
        co_await create_subprocess_exec("/bin/cat", pipes(stdio::pipe, stdio::pipe, stdio::pipe));
    q.stdin_writer().close();
    EXPECT_EQ(co_await q.wait(), 0);
}

// io_test's TearDown compares /proc/self/fd before and after.
TEST_P(subprocess, no_descriptor_is_left_behind) {
    CORIO_RUN(spawn_many());
}

task<void> devnull_and_env() {
    process cat = co_await create_subprocess_exec("/bin/cat", pipes(stdio::devnull, stdio::pipe));
    EXPECT_EQ((co_await cat.communicate()).stdout_data, "");
    subprocess_options o = pipes(stdio::inherit, stdio::pipe);
    o.env = std::vector<std::string>{"CORIO_TEST_VAR=forty two", "PATH=/usr/bin:/bin"};
    o.cwd = "/";
    process sh = co_await create_subprocess_shell("echo \"$CORIO_TEST_VAR\"; pwd", o);
    EXPECT_EQ((co_await sh.communicate()).stdout_data, "forty two\n/\n");
}

TEST_P(subprocess, devnull_env_and_cwd) {
    CORIO_RUN(devnull_and_env());
}

task<void> bad_options() {
    EXPECT_THROW(co_await create_subprocess_exec("/bin/true", pipes(stdio::to_stdout, stdio::pipe)),
                 std::invalid_argument);
    process p = co_await create_subprocess_exec("/bin/true");
    EXPECT_THROW(co_await p.communicate("input without a stdin pipe"), std::invalid_argument);
    EXPECT_EQ(co_await p.wait(), 0);
}

TEST_P(subprocess, bad_options_are_rejected) {
    CORIO_RUN(bad_options());
}

// Where pidfd_open is missing (Linux < 5.3), a timer polls waitpid: the same results.
TEST_P(subprocess, exit_detection_without_pidfd) {
    ::setenv("CORIO_PIDFD_FORCE_FAIL", "1", 1);
    CORIO_RUN(exit_code());
    CORIO_RUN(killed());
    CORIO_RUN(cat_round_trip());
    ::unsetenv("CORIO_PIDFD_FORCE_FAIL");
}

task<std::string> child_sigblk() {
    process p = co_await create_subprocess_exec("/bin/grep", "^SigBlk", "/proc/self/status",
                                                pipes(stdio::devnull, stdio::pipe));
    co_return *(co_await p.communicate()).stdout_data;
}

// add_signal_handler blocks SIGUSR1 in this thread; the child must not inherit that block.
TEST_P(subprocess, the_child_does_not_inherit_blocked_handler_signals) {
    CORIO_BACKEND_OR_SKIP(b);
    event_loop loop(std::move(b), steady_clock_source::instance());
    add_signal_handler(loop, SIGUSR1, [] {});
    std::string sigblk = loop.run_until_complete(wait_for(child_sigblk(), limit(10)));
    EXPECT_EQ(sigblk, "SigBlk:\t0000000000000000\n");
    loop.close();  // removes the handler
}

CORIO_INSTANTIATE_BACKENDS(subprocess);

}  // namespace
}  // namespace corio
