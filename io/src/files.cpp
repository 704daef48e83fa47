// async_file and open_file (files.hpp).
#include <fcntl.h>

#include <limits>
#include <stdexcept>
#include <string>

#include <corio/files.hpp>

namespace corio {
namespace {

using detail::file_awaiter;
using detail::file_count_op;
using detail::file_op;
using detail::file_state;
using detail::file_void_op;

std::int64_t to_offset(std::optional<std::uint64_t> offset) {
    if (!offset)
        return -1;
    if (*offset > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw std::invalid_argument("file offset out of range: " + std::to_string(*offset));
    return static_cast<std::int64_t>(*offset);
}

// Takes the state by value: the coroutine keeps the file's state (and descriptor) alive
// even if the async_file it came from is moved or closed meanwhile.
task<std::string> read_some_more(std::shared_ptr<file_state> s, std::size_t n,
                                 std::int64_t offset) {
    // Reads until n bytes or end of file. Without a limit, grows the buffer geometrically
    // from 64 KiB, as Python's readall does.
    std::string out;
    const bool bounded = n != async_file::all;
    std::size_t want = bounded ? n : std::size_t{64} * 1024;
    while (!bounded || out.size() < n) {
        const std::size_t have = out.size();
        out.resize(bounded ? n : have + want);
        const std::size_t got = co_await file_awaiter<file_count_op>(
            file_op::kind::read, s, out.data() + have, out.size() - have,
            offset < 0 ? -1 : offset + static_cast<std::int64_t>(have));
        out.resize(have + got);
        if (got == 0)
            break;
        if (!bounded && out.size() == have + want)
            want *= 2;
    }
    co_return out;
}

task<std::size_t> write_all(std::shared_ptr<file_state> s, std::string_view data,
                            std::int64_t offset) {
    std::size_t done = 0;
    while (done < data.size()) {
        const std::size_t n = co_await file_awaiter<file_count_op>(
            file_op::kind::write, s, const_cast<char*>(data.data() + done), data.size() - done,
            offset < 0 ? -1 : offset + static_cast<std::int64_t>(done));
        if (n == 0)  // cannot happen for a non-empty write(2) on a file, but must not spin
            throw_os_error(EIO, "write");
        done += n;
    }
    co_return done;
}

}  // namespace

async_file::async_file(int fd) {
    if (fd < 0)
        throw std::invalid_argument("async_file: invalid descriptor " + std::to_string(fd));
    state_ = std::make_shared<file_state>(fd);
}

const std::shared_ptr<file_state>& async_file::open_state() const {
    if (state_ == nullptr)
        throw std::invalid_argument("I/O operation on closed file");
    return state_;
}

task<std::string> async_file::read(std::size_t n, std::optional<std::uint64_t> offset) {
    return read_some_more(open_state(), n, to_offset(offset));
}

file_awaiter<file_count_op> async_file::read_into(std::span<char> buf,
                                                  std::optional<std::uint64_t> offset) {
    return file_awaiter<file_count_op>(file_op::kind::read, open_state(), buf.data(), buf.size(),
                                       to_offset(offset));
}

task<std::size_t> async_file::write(std::string_view data, std::optional<std::uint64_t> offset) {
    return write_all(open_state(), data, to_offset(offset));
}

file_awaiter<file_count_op> async_file::write_some(std::string_view data,
                                                   std::optional<std::uint64_t> offset) {
    return file_awaiter<file_count_op>(file_op::kind::write, open_state(),
                                       const_cast<char*>(data.data()), data.size(),
                                       to_offset(offset));
}

file_awaiter<file_void_op> async_file::fsync() {
    return file_awaiter<file_void_op>(file_op::kind::fsync, open_state(), nullptr, 0, -1);
}

file_awaiter<file_void_op> async_file::fdatasync() {
    return file_awaiter<file_void_op>(file_op::kind::fdatasync, open_state(), nullptr, 0, -1);
}

file_awaiter<file_void_op> async_file::close() {
    std::shared_ptr<file_state> s = std::move(state_);  // closed from now on, for this object
    if (s == nullptr)
        return file_awaiter<file_void_op>(std::shared_ptr<file_state>());  // nothing to do
    s->closed = true;
    if (s->in_flight > 0) {
        // Other tasks' ops still use the descriptor: the last of them closes it, when it drops
        // the state (~file_state), so that no op ever runs on a closed or reused number.
        return file_awaiter<file_void_op>(std::shared_ptr<file_state>());
    }
    return file_awaiter<file_void_op>(std::move(s));
}

task<async_file> open_file(std::string path, int flags, mode_t mode) {
    const int fd =
        co_await file_awaiter<detail::file_open_op>(path.c_str(), flags | O_CLOEXEC, mode);
    co_return async_file(fd);
}

}  // namespace corio
