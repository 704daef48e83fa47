// open_file / async_file on both backends: native io_uring ops, or the executor on epoll.
// Round trips with offsets, end of file, the OSError subclasses, fsync, close semantics, and
// a loop closed while file ops are in flight.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <corio/files.hpp>

#include "io_fixture.hpp"

namespace corio {
namespace {

class files : public test::io_test {
protected:
    files() { with_executor_ = true; }  // epoll runs file ops there

    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "corio-files-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        io_test::SetUp();
    }
    void TearDown() override {
        io_test::TearDown();
        std::filesystem::remove_all(dir_);
    }
    std::string path(const char* name) const { return (dir_ / name).string(); }

    std::filesystem::path dir_;
};

std::string pattern_of(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>((i * 131 + seed) % 251);
    return s;
}

task<void> round_trip(std::string p) {
    constexpr std::size_t mib = 1 << 20;
    const std::string data = pattern_of(mib, 7);
    async_file f = co_await open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_FALSE(f.is_closed());
    // Four quarters, written back to front at their offsets.
    for (std::size_t q = 4; q-- > 0;) {
        const std::size_t n =
            co_await f.write(std::string_view(data).substr(q * mib / 4, mib / 4), q * mib / 4);
        EXPECT_EQ(n, mib / 4);
    }
    EXPECT_EQ(co_await f.read(mib, 0), data);
    EXPECT_EQ(co_await f.read(100, 512 * 1024), data.substr(512 * 1024, 100));
    // Past the end: only what is there.
    EXPECT_EQ(co_await f.read(100, mib - 10), data.substr(mib - 10));
    // read_into, allocation-free.
    char buf[64];
    const std::size_t got = co_await f.read_into(buf, 1000);
    EXPECT_EQ(std::string(buf, got), data.substr(1000, 64));
    // Without a limit: the whole file.
    EXPECT_EQ(co_await f.read(async_file::all, 0), data);
    co_await f.close();
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::size_t>(st.st_size), mib);
}

TEST_P(files, write_then_read_back_one_mib_with_offsets) {
    CORIO_RUN(round_trip(path("data")));
}

task<void> file_position(std::string p) {
    async_file f = co_await open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    // Without offsets, the file position moves, as read(2)/write(2).
    co_await f.write("abc");
    co_await f.write("def");
    EXPECT_EQ(co_await f.read(10), "");  // at the end
    EXPECT_EQ(co_await f.read(3, 0), "abc");
    EXPECT_EQ(co_await f.read(10), "");  // positional reads leave the position alone
    EXPECT_EQ(co_await f.write_some("gh", 6), 2u);
    EXPECT_EQ(co_await f.read(100, 0), "abcdefgh");
    co_await f.close();
    // Reopened read-only: reads from the start and on.
    async_file r = co_await open_file(p);
    EXPECT_EQ(co_await r.read(4), "abcd");
    EXPECT_EQ(co_await r.read(), "efgh");
    EXPECT_THROW(co_await r.write("x"), std::system_error);  // EBADF: not open for writing
    co_await r.close();
}

TEST_P(files, reads_and_writes_without_offset_use_the_file_position) {
    CORIO_RUN(file_position(path("pos")));
}

task<void> end_of_file(std::string p) {
    async_file f = co_await open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_EQ(co_await f.read(10, 0), "");  // empty file
    co_await f.write("12345", 0);
    EXPECT_EQ(co_await f.read(10, 5), "");
    EXPECT_EQ(co_await f.read(10, 1000), "");
    char buf[8];
    EXPECT_EQ(co_await f.read_into(buf, 5), 0u);
    co_await f.close();
}

TEST_P(files, read_at_end_of_file_returns_empty) {
    CORIO_RUN(end_of_file(path("eof")));
}

task<void> open_errors(std::string dir) {
    EXPECT_THROW(co_await open_file(dir + "/missing"), file_not_found_error);
    try {
        co_await open_file(dir + "/missing");
    } catch (const file_not_found_error& e) {
        EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
        EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
    }
    async_file f = co_await open_file(dir + "/there", O_WRONLY | O_CREAT, 0600);
    co_await f.close();
    EXPECT_THROW(co_await open_file(dir + "/there", O_WRONLY | O_CREAT | O_EXCL, 0600),
                 file_exists_error);
    EXPECT_THROW(co_await open_file(dir, O_WRONLY), is_a_directory_error);
    EXPECT_THROW(co_await open_file(dir + "/there/x"), not_a_directory_error);
    // Permission bits do not stop root; a read-only file system (/proc) does.
    if (::geteuid() != 0) {
        ::chmod((dir + "/there").c_str(), 0);
        EXPECT_THROW(co_await open_file(dir + "/there"), permission_error);
    }
}

TEST_P(files, open_errors_are_the_os_error_subclasses) {
    CORIO_RUN(open_errors(dir_.string()));
}

task<void> sync_and_close(std::string p) {
    async_file f = co_await open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    co_await f.write("durable", 0);
    co_await f.fsync();
    co_await f.fdatasync();
    co_await f.close();
    EXPECT_TRUE(f.is_closed());
    EXPECT_EQ(f.fileno(), -1);
    co_await f.close();  // harmless
    // Every operation on a closed file: Python's ValueError("I/O operation on closed file").
    EXPECT_THROW(co_await f.read(1), std::invalid_argument);
    char buf[4];
    EXPECT_THROW(f.read_into(buf), std::invalid_argument);
    EXPECT_THROW(co_await f.write("x"), std::invalid_argument);
    EXPECT_THROW(f.fsync(), std::invalid_argument);
    // A default-constructed file is closed too.
    async_file none;
    EXPECT_THROW(co_await none.read(1), std::invalid_argument);
    co_await none.close();
}

TEST_P(files, fsync_works_and_closing_twice_is_harmless_and_a_closed_file_raises) {
    CORIO_RUN(sync_and_close(path("sync")));
}

task<void> close_with_ops_in_flight(std::string p) {
    async_file f = co_await open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    const std::string data = pattern_of(256 * 1024, 3);
    co_await f.write(data, 0);
    // 1. Another task's read is in flight; 2. close() returns at once and refuses new ops;
    // 3. the read still completes on the open descriptor; 4. its end closes the descriptor
    // (the fixture's descriptor count checks that).
    task<std::string> reader = create_task(f.read(data.size(), 0));
    co_await sleep(0);
    co_await f.close();
    EXPECT_TRUE(f.is_closed());
    EXPECT_EQ(co_await reader, data);
    // An op made before the close but started after it is refused.
    async_file g = co_await open_file(p);
    auto late = g.read_into(std::span<char>());
    co_await g.close();
    EXPECT_THROW(co_await late, std::invalid_argument);
}

TEST_P(files, close_while_another_task_reads_defers_the_close) {
    CORIO_RUN(close_with_ops_in_flight(path("inflight")));
}

task<void> cancel_a_read(std::string p) {
    async_file f = co_await open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    const std::string data = pattern_of(1 << 20, 5);
    co_await f.write(data, 0);
    // The cancel may come before the op starts (cancelled_error) or after it finished (the
    // data, with the cancellation thrown at the next await): never a half-read buffer.
    for (int i = 0; i < 20; ++i) {
        task<std::string> reader = create_task(f.read(data.size(), 0));
        for (int j = 0; j < i % 3; ++j)
            co_await sleep(0);
        reader.cancel();
        try {
            EXPECT_EQ(co_await reader, data);
        } catch (const cancelled_error&) {
        }
    }
    co_await f.close();
}

TEST_P(files, cancelling_a_read_never_leaves_it_half_done) {
    CORIO_RUN(cancel_a_read(path("cancel")));
}

task<void> many_reads(std::string p) {
    async_file f = co_await open_file(p);
    for (;;)
        co_await f.read(4096, 0);
}

// A loop closed while tasks wait in file ops: on io_uring close() drains the ring; on epoll
// the ops' destructors wait for the workers. Nothing is written into a freed frame (ASan).
TEST_P(files, closing_the_loop_with_file_ops_in_flight_is_safe) {
    CORIO_BACKEND_OR_SKIP(b);
    { async_file setup(::open(path("busy").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)); }
    event_loop loop(std::move(b), steady_clock_source::instance(),
                    detail::make_inbox(std::chrono::nanoseconds(0)));
    // Quiet: close() reports each reader as "Task was destroyed but it is pending!".
    loop.set_exception_handler([](event_loop&, const exception_context&) {});
    std::vector<task<void>> readers;
    for (int i = 0; i < 8; ++i)
        readers.push_back(loop.create_task(many_reads(path("busy"))));
    loop.run_until_complete([]() -> task<void> {
        for (int i = 0; i < 50; ++i)
            co_await sleep(0);
    }());
    readers.clear();
    loop.close();
}

CORIO_INSTANTIATE_BACKENDS(files);

}  // namespace
}  // namespace corio
