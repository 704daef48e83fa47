// File ops (detail/file_ops.hpp): their life cycle, the choice of lowering, and the executor
// lowering (the blocking syscall on the loop's default executor). The io_uring lowering is in
// ops/file.cpp.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include <corio/connection_errors.hpp>
#include <corio/detail/backend.hpp>
#include <corio/detail/file_ops.hpp>
#include <corio/detail/inbox.hpp>
#include <corio/executor.hpp>

namespace corio::detail {
namespace {

// Linux moves at most this much in one read(2)/write(2) (MAX_RW_COUNT), and it keeps a
// count in io_op::result's int.
constexpr std::size_t max_rw_count = 0x7ffff000;

}  // namespace

file_state::~file_state() {
    if (fd >= 0)
        ::close(fd);
}

file_op::file_op(kind k, std::shared_ptr<file_state> file, void* buf, std::size_t len,
                 std::int64_t offset) noexcept
    : kind_(k),
      file_(std::move(file)),
      buf_(buf),
      len_(std::min(len, max_rw_count)),
      offset_(offset) {}

file_op::file_op(const char* path, int flags, mode_t mode) noexcept
    : kind_(kind::open), path_(path), flags_(flags), mode_(mode) {}

file_op::file_op(std::shared_ptr<file_state> file) noexcept
    : kind_(kind::close), file_(std::move(file)) {}

file_op::~file_op() {
    const std::uint8_t p = phase_.load(std::memory_order_acquire);
    if (p != idle && p != released) {
        // Only when a closing loop destroys the frame of a task whose op a worker still runs
        // (file_ops.hpp): wait out that one syscall. Yield, then sleep, as it may be a slow
        // disk.
        for (int spins = 0; phase_.load(std::memory_order_acquire) != released; ++spins) {
            if (spins < 100)
                std::this_thread::yield();
            else
                std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }
    if (counted_)
        --file_->in_flight;
    const bool finished =
        native_ ? state == op_state::done : phase_.load(std::memory_order_relaxed) == released;
    if (kind_ == kind::open && finished && result >= 0 && !fd_taken_)
        ::close(result);
}

void file_op::launch(event_loop& loop) {
    if (kind_ == kind::close) {
        file_fd_ = std::exchange(file_->fd, -1);  // this op closes it now, not ~file_state
    } else if (file_ != nullptr) {
        if (file_->closed || file_->fd < 0)
            throw std::invalid_argument("I/O operation on closed file");
        file_fd_ = file_->fd;
    }
    backend& b = loop_access::backend(loop);
    // Chosen per op, from the backend of the loop the op runs on: one virtual call, next to
    // a syscall.
    native_ = b.caps().native_files;
    try {
        if (native_) {
            b.start(*this);
        } else {
            start_on_executor(loop);
        }
    } catch (...) {
        if (kind_ == kind::close)
            file_->fd = file_fd_;  // not started: ~file_state still closes it
        throw;
    }
    if (file_ != nullptr) {
        ++file_->in_flight;
        counted_ = true;
    }
}

void file_op::request_cancel(event_loop& loop) noexcept {
    // A close is never cancelled: the descriptor was taken from the file already, and only
    // this op will close it.
    if (kind_ == kind::close)
        return;
    if (native_) {
        loop_access::backend(loop).cancel(*this);
        return;
    }
    // Lost when a worker already runs the syscall: the op then finishes with its result.
    std::uint8_t expected = queued;
    phase_.compare_exchange_strong(expected, cancelled, std::memory_order_acq_rel);
}

void file_op::start_on_executor(event_loop& loop) {
    inbox& in = inbox_of(loop);  // a loop without one has no executor: throws
    thread_pool_executor& pool = in.default_executor();
    inbox_ = &in;
    // Relaxed: the executor's queue publishes it to the worker with the work item.
    phase_.store(queued, std::memory_order_relaxed);
    try {
        pool.post(thread_pool_executor::work_item(
            [this](message_fate fate) noexcept { on_worker(this, fate); }));
    } catch (...) {
        phase_.store(idle, std::memory_order_relaxed);  // nothing queued: nothing to wait for
        throw;
    }
}

// On a worker (or on the thread that shuts the executor down, with `dropped`).
void file_op::on_worker(file_op* op, message_fate fate) noexcept {
    std::uint8_t expected = queued;
    // A close runs even when the executor discards it (request_cancel never cancels one).
    if (op->kind_ == kind::close ||
        (fate == message_fate::run &&
         op->phase_.compare_exchange_strong(expected, running, std::memory_order_acq_rel))) {
        op->run_blocking();
    } else {
        op->result = -ECANCELED;
    }
    inbox_hook* in = op->inbox_;
    // The worker's last access to *op: from here a closing loop may free the frame.
    op->phase_.store(released, std::memory_order_release);
    // Safe because the message runs only while the loop is open, and until then the task
    // (and the op in its frame) waits for it; a closing loop drops it without touching op.
    // The queue's release/acquire publishes op->result to the loop's thread.
    in->post(remote_message([op](message_fate f) {
        if (f == message_fate::run)
            op->complete();
    }));
}

void file_op::run_blocking() noexcept {
    for (;;) {
        ssize_t n = -1;
        switch (kind_) {
            case kind::open:
                n = ::open(path_, flags_, mode_);
                break;
            case kind::read:
                n = offset_ < 0 ? ::read(file_fd_, buf_, len_)
                                : ::pread(file_fd_, buf_, len_, static_cast<off_t>(offset_));
                break;
            case kind::write:
                n = offset_ < 0 ? ::write(file_fd_, buf_, len_)
                                : ::pwrite(file_fd_, buf_, len_, static_cast<off_t>(offset_));
                break;
            case kind::fsync:
                n = ::fsync(file_fd_);
                break;
            case kind::fdatasync:
                n = ::fdatasync(file_fd_);
                break;
            case kind::close:
                // Never retried: Linux releases the descriptor even when close reports EINTR,
                // and a retry could close a number another thread was just given.
                n = ::close(file_fd_);
                result = n < 0 && errno != EINTR ? -errno : 0;
                return;
        }
        if (n >= 0) {
            result = static_cast<int>(n);
            return;
        }
        if (errno != EINTR) {
            result = -errno;
            return;
        }
    }
}

void file_op::throw_error() const {
    const int err = -result;
    switch (kind_) {
        case kind::open:
            throw_os_error(err, std::string("open '") + path_ + "'");
        case kind::read:
            throw_os_error(err, "read");
        case kind::write:
            throw_os_error(err, "write");
        case kind::fsync:
            throw_os_error(err, "fsync");
        case kind::fdatasync:
            throw_os_error(err, "fdatasync");
        case kind::close:
            throw_os_error(err, "close");
    }
    throw_os_error(err, "file operation");
}

}  // namespace corio::detail
