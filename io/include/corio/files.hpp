// Asynchronous file I/O. asyncio has none (aiofiles runs every call in a thread); corio
// runs it natively on io_uring (IORING_OP_OPENAT, READ, WRITE, FSYNC, CLOSE) and on the loop's
// default executor where the backend cannot (epoll: regular files are never "not ready").
//
//     corio::async_file f = co_await corio::open_file("data.bin", O_RDWR | O_CREAT, 0644);
//     co_await f.write("hello", 0);
//     std::string back = co_await f.read(5, 0);
//     co_await f.fsync();
//     co_await f.close();
//
// Errors are Python's OSError subclasses (connection_errors.hpp): file_not_found_error,
// permission_error, file_exists_error, is_a_directory_error, ..., else std::system_error.
// An operation on a closed file throws std::invalid_argument ("I/O operation on closed
// file", Python's ValueError). Cancelling a task that waits on a file op waits for the op
// (detail/file_ops.hpp): the buffer is never written after the task has moved on.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <corio/connection_errors.hpp>
#include <corio/detail/file_ops.hpp>
#include <corio/tasks.hpp>

namespace corio {

/// An open file, used on one loop's thread. Move-only; the destructor closes a file still
/// open (synchronously, as Python's file finalizer does). Offsets: given, the op is
/// positional (pread/pwrite) and leaves the file position alone; omitted, it reads or writes
/// at the file position and advances it (read/write), so concurrent position-less ops on one
/// file see an unspecified order, as with threads.
class async_file {
public:
    async_file() noexcept = default;
    /// Adopts an open descriptor.
    explicit async_file(int fd);
    async_file(async_file&&) noexcept = default;
    async_file& operator=(async_file&&) noexcept = default;
    ~async_file() = default;

    /// Python's read(n): up to `n` bytes, fewer only at end of file (an empty string there).
    /// With no `n`, everything up to the end of the file.
    task<std::string> read(std::size_t n = all, std::optional<std::uint64_t> offset = {});
    /// Python's readinto: one read(2) into `buf`, which must stay alive until the co_await
    /// returns; returns the count (0 at end of file, possibly short before it). No allocation.
    detail::file_awaiter<detail::file_count_op> read_into(std::span<char> buf,
                                                          std::optional<std::uint64_t> offset = {});
    /// Writes all of `data` (which must outlive the call), looping over short writes; returns
    /// data.size(). If cancelled, a prefix of it may have been written.
    task<std::size_t> write(std::string_view data, std::optional<std::uint64_t> offset = {});
    /// One write(2) of at most data.size() bytes; returns how many were written.
    detail::file_awaiter<detail::file_count_op> write_some(
        std::string_view data, std::optional<std::uint64_t> offset = {});
    /// os.fsync / os.fdatasync.
    detail::file_awaiter<detail::file_void_op> fsync();
    detail::file_awaiter<detail::file_void_op> fdatasync();
    /// Closes the file. A second close does nothing. With ops of other tasks still in flight,
    /// the descriptor is closed (synchronously) when the last of them finishes, and this
    /// returns at once. Must be co_awaited; if it is not, the descriptor is closed when the
    /// awaitable is destroyed.
    [[nodiscard]] detail::file_awaiter<detail::file_void_op> close();

    bool is_closed() const noexcept { return state_ == nullptr; }
    /// The descriptor, or -1 once closed.
    int fileno() const noexcept { return state_ ? state_->fd : -1; }

    static constexpr std::size_t all = static_cast<std::size_t>(-1);

private:
    const std::shared_ptr<detail::file_state>& open_state() const;  // or throws

    std::shared_ptr<detail::file_state> state_;
};

/// Opens `path` (open(2) flags and mode; O_CLOEXEC is always added). Throws
/// file_not_found_error, permission_error, file_exists_error, ... as Python's os.open.
task<async_file> open_file(std::string path, int flags = O_RDONLY, mode_t mode = 0666);

}  // namespace corio
