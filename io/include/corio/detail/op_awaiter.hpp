// An io_op that a task co_awaits: starts the op on the running loop's backend, suspends the
// task, and resumes it from complete() (which already runs from the loop's ready queue, so the
// coroutine is never resumed inside a backend's reaping loop).
//
// Cancellation (DESIGN, io_op.hpp): task.cancel() while the task waits here asks the backend
// to cancel the op and leaves the task suspended until the op is done, because the kernel may
// still touch the op and its buffer. Then:
// - the op ended with -ECANCELED: the task resumes with cancelled_error;
// - the op finished anyway (the cancel came too late): its result is returned, so no byte
//   read or written is lost, and the cancellation stays pending in the task, thrown by its
//   next suspension point (or ending the task as cancelled if it returns first), as asyncio's
//   must_cancel.
// The descriptor stays usable either way. A cancellation already pending when the op is
// awaited is thrown before the op starts.
#pragma once

#include <cerrno>
#include <coroutine>
#include <string>
#include <utility>

#include <corio/detail/io_op.hpp>
#include <corio/tasks.hpp>

namespace corio::detail {

// `Op` is an io_op with a `finish()` that turns `result` into what co_await returns (or
// throws); op_awaiter<Op> is constructed with Op's arguments and lives in the coroutine frame.
template <class Op>
class op_awaiter final : public Op, public task_waiter {
public:
    template <class... Args>
    explicit op_awaiter(Args&&... args) : Op(std::forward<Args>(args)...) {}
    op_awaiter(const op_awaiter&) = delete;
    op_awaiter& operator=(const op_awaiter&) = delete;

    bool await_ready() const noexcept { return false; }

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task_ = &awaiting_task(h);
        handle_ = h;
        // A cancellation already pending is thrown here, before anything is started.
        task_->throw_if_cancel_requested();
        event_loop& loop = task_->loop();
        loop_access::backend(loop).start(*this);  // throws before suspending: nothing started
        task_->suspended_on(this);
        loop_access::set_current_task(loop, nullptr);
    }

    decltype(auto) await_resume() {
        task_->resume_as_current();
        if (this->result == -ECANCELED)
            task_->throw_if_cancel_requested();
        return this->finish();
    }

    // Runs on the loop from the ready queue: the op is done, the kernel is finished with it.
    void complete() noexcept override {
        task_->suspended_on(nullptr);  // a cancel() from now on is thrown at the next await
        handle_.resume();
    }

    // Returning false records the cancellation in the task; await_resume throws it once the
    // op is done (if the op was really cancelled) or the next await does.
    bool cancel_wait(const std::string&) override {
        loop_access::backend(task_->loop()).cancel(*this);
        return false;
    }

private:
    task_base* task_ = nullptr;
    std::coroutine_handle<> handle_;
};

// An op whose co_await returns the raw kernel result (a count or -errno), for code that
// interprets errors itself (streams, servers).
template <class Op>
class raw_result : public Op {
public:
    using Op::Op;
    int finish() const noexcept { return this->result; }
};

}  // namespace corio::detail
