// File operations, written once and lowered twice: prep() fills an io_uring SQE
// (IORING_OP_OPENAT, READ, WRITE, FSYNC, CLOSE), and run_blocking() is the same syscall on
// the loop's default executor. The readiness lowering cannot serve files: epoll refuses
// regular files (EPERM), which are always "ready" and block in read(2) instead. Which lowering
// runs is the loop's backend's choice (backend_caps::native_files), made when the op starts;
// the code above this layer never asks which backend it runs on.
//
// Both lowerings keep the op's promise (io_op.hpp): the awaiting task stays suspended until
// the kernel or the worker is done with the op and its buffer, and a cancel that comes too
// late returns the op's result and leaves the cancellation pending in the task. On the
// executor, a cancel wins only while the op is still queued; a syscall already running on a
// worker is finished. The op lives in the coroutine frame: no allocation per op on either
// path (the work item and the completion message carry only the op's address).
//
// Executor lowering, lifetime: the worker touches the op until it stores `released` in
// phase_, then posts the completion to the loop's inbox with nothing but the op's address.
// The completion message runs (and resumes the task) only while the loop is open; a loop that
// closes drops it, and destroys the pending task's frame: the op's destructor then waits for
// `released`, so the worker never writes into a freed frame (the wait lasts at most one
// syscall; loop.close() with file ops in flight on the executor blocks that long).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <corio/detail/inbox_hook.hpp>
#include <corio/detail/io_op.hpp>
#include <corio/tasks.hpp>

namespace corio::detail {

// Shared by an async_file and its ops while they are in flight. Loop thread only.
// Invariant: fd >= 0 until a close op takes it; the last owner of a state whose fd is still
// open closes it synchronously (a file dropped, or closed while ops were in flight).
struct file_state {
    int fd = -1;
    bool closed = false;        // close() was called: new ops are refused
    std::size_t in_flight = 0;  // ops started and not yet destroyed

    explicit file_state(int d) noexcept : fd(d) {}
    ~file_state();
    file_state(const file_state&) = delete;
    file_state& operator=(const file_state&) = delete;
};

class file_op : public io_op {
public:
    enum class kind : std::uint8_t { open, read, write, fsync, fdatasync, close };

    // io_uring lowering.
    void prep(io_uring_sqe& sqe) noexcept override;
    // No readiness lowering. fd() is -1 so that the io_uring backend keeps no per-descriptor
    // slot for file ops: positional reads and writes of one file may overlap, as pread(2)s
    // from several threads may.
    int fd() const noexcept override { return -1; }
    interest wants() const noexcept override { return interest::read; }
    attempt try_now() noexcept override;  // -EOPNOTSUPP: never given to a readiness backend
    // Executor lowering: the blocking syscall, on a worker thread.
    void run_blocking() noexcept;

protected:
    // read, write, fsync, fdatasync on `file`; offset < 0: at the file position.
    file_op(kind k, std::shared_ptr<file_state> file, void* buf, std::size_t len,
            std::int64_t offset) noexcept;
    file_op(const char* path, int flags, mode_t mode) noexcept;   // open
    explicit file_op(std::shared_ptr<file_state> file) noexcept;  // close
    ~file_op();

    // Starts the op on `loop` by one of the two lowerings. Throws (nothing started) for a
    // closed file, a loop without an executor, or an executor that was shut down.
    void launch(event_loop& loop);
    // True when there is nothing to start: close() of a file already closed.
    bool nothing_to_do() const noexcept { return kind_ == kind::close && file_ == nullptr; }
    void request_cancel(event_loop& loop) noexcept;
    // What the op was about, for error messages: the path, or the syscall.
    [[noreturn]] void throw_error() const;

    kind kind_;
    std::shared_ptr<file_state> file_;
    int file_fd_ = -1;
    void* buf_ = nullptr;
    std::size_t len_ = 0;
    std::int64_t offset_ = -1;
    const char* path_ = nullptr;
    int flags_ = 0;
    mode_t mode_ = 0;
    // An open that finished but whose descriptor nobody took (its task was destroyed by a
    // closing loop): the destructor closes it, so the descriptor does not leak.
    bool fd_taken_ = false;

private:
    void start_on_executor(event_loop& loop);
    static void on_worker(file_op* op, message_fate fate) noexcept;

    // idle -> queued -> running -> released, or queued -> cancelled -> released.
    // queued -> running (worker) and queued -> cancelled (loop) are CASes on the same word,
    // so exactly one wins. The worker's store of `released` (release) is its last access to
    // the op; the destructor's acquire load of it orders the frame's destruction after that.
    enum phase : std::uint8_t { idle, queued, running, cancelled, released };
    std::atomic<std::uint8_t> phase_{idle};
    inbox_hook* inbox_ = nullptr;  // where the worker posts the completion
    bool native_ = false;
    bool counted_ = false;  // in file_->in_flight
};

// The results: a count (read, write), a descriptor (open), nothing (fsync, close).
struct file_count_op : file_op {
    using file_op::file_op;
    std::size_t finish() const {
        if (result < 0)
            throw_error();
        return static_cast<std::size_t>(result);
    }
};
struct file_open_op : file_op {
    using file_op::file_op;
    int finish() {
        if (result < 0)
            throw_error();
        fd_taken_ = true;
        return result;
    }
};
struct file_void_op : file_op {
    using file_op::file_op;
    void finish() const {
        if (result < 0)
            throw_error();
    }
};

// A file op that a task co_awaits (op_awaiter.hpp, for file ops' two lowerings).
template <class Op>
class file_awaiter final : public Op, public task_waiter {
public:
    template <class... Args>
    explicit file_awaiter(Args&&... args) : Op(std::forward<Args>(args)...) {}
    file_awaiter(const file_awaiter&) = delete;
    file_awaiter& operator=(const file_awaiter&) = delete;

    bool await_ready() const noexcept { return this->nothing_to_do(); }

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task_ = &awaiting_task(h);
        handle_ = h;
        task_->throw_if_cancel_requested();
        event_loop& loop = task_->loop();
        this->launch(loop);  // throws before suspending: nothing started
        task_->suspended_on(this);
        loop_access::set_current_task(loop, nullptr);
    }

    decltype(auto) await_resume() {
        if (task_ != nullptr) {
            task_->resume_as_current();
            if (this->result == -ECANCELED)
                task_->throw_if_cancel_requested();
        }
        return this->finish();
    }

    void complete() noexcept override {
        task_->suspended_on(nullptr);
        handle_.resume();
    }

    bool cancel_wait(const std::string&) override {
        this->request_cancel(task_->loop());
        return false;
    }

private:
    task_base* task_ = nullptr;
    std::coroutine_handle<> handle_;
};

}  // namespace corio::detail
