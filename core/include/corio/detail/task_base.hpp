// The type-independent part of a task: asyncio.Task's cancellation state machine, its name,
// and the loop's list of tasks. A task's promise derives from this, so the coroutine frame
// holds the whole task: creating one is one allocation.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <source_location>
#include <string>

#include <corio/futures.hpp>

namespace corio::detail {

// What a task is suspended on, when cancelling it means cancelling that (asyncio's
// _fut_waiter): a future, another task, a timer. cancel() returns true if the wait will end
// with cancelled_error on its own; false leaves the request pending in the task.
class task_waiter {
public:
    virtual bool cancel_wait(const std::string& message) = 0;

protected:
    ~task_waiter() = default;
};

// Invariants (asyncio's Task): a task is pending until its coroutine returns or throws. While
// it is suspended, either `waiting_on` is the wait that a cancel() forwards to, or the task is
// already scheduled to resume and a cancel() is recorded in `must_cancel_` (its message in the
// extras), which the next resumption throws into the coroutine.
class task_base : public future_state_base {
public:
    bool cancel(std::string message) override;  // asyncio Task.cancel
    int uncancel() noexcept;
    int cancelling() const noexcept { return cancel_requests_; }

    std::string get_name() const;
    void set_name(std::string name);
    // Debug mode: where create_task was called, for the loop's reports.
    void set_created_at(const std::source_location& where);
    // The name, and where the task was created when that is known: for reports.
    std::string describe() const;
    std::uint32_t id() const noexcept { return id_; }

    // Called by every awaiter as it resumes: throws a pending cancellation into the coroutine.
    void throw_if_cancel_requested() {
        waiting_on_ = nullptr;
        if (root_->must_cancel_) [[unlikely]]
            root_->throw_pending_cancel();
    }
    void suspended_on(task_waiter* w) noexcept { waiting_on_ = w; }

    // Lifecycle, driven by create_task and the promise.
    void schedule(event_loop& loop) { schedule(loop, frame()); }  // first step next iteration
    bool scheduled() const noexcept { return scheduled_; }
    bool started() const noexcept { return started_; }
    void mark_started(event_loop& loop, task_base* root) noexcept;
    task_base* root() noexcept { return root_; }
    std::coroutine_handle<> continuation() const noexcept { return continuation_; }
    void set_continuation(std::coroutine_handle<> c) noexcept { continuation_ = c; }
    // The coroutine returned or threw: complete the state as asyncio's __step would.
    void finish_with(std::exception_ptr error);
    void finish_returned() {  // returned (value already stored by the promise)
        if (scheduled_) {
            if (task_index != npos)
                loop_access::unlink_task(loop(), this);
            if (must_cancel_) [[unlikely]] {
                finish_returned_cancelled();
                return;
            }
        }
        finish();
    }
    // root_ is never null: this task, or the scheduled task it runs inline in.
    void resume_as_current() noexcept { loop_access::resume_task(loop(), root_); }

    static constexpr std::uint32_t npos = UINT32_MAX;

protected:
    task_base() noexcept = default;
    ~task_base() override {
        if (task_index != npos) [[unlikely]]  // close() unlinks first: this is a safety net
            unlink_on_destroy();
    }
    // `frame` is this task's own coroutine (what frame() returns, without the virtual call).
    void schedule(event_loop& loop, std::coroutine_handle<> frame) {
        bind_loop(loop);
        scheduled_ = true;
        started_ = true;
        id_ = loop_access::next_task_id(loop);
        loop_access::link_task(loop, this);
        add_ref();  // the running reference, dropped when the coroutine finishes
        loop_access::push_ready(loop, ready_entry::of(frame));
    }
    virtual std::coroutine_handle<> frame() noexcept = 0;
    virtual void store_value_as_cancelled() noexcept {}

private:
    [[noreturn]] void throw_pending_cancel();
    void unlink_on_destroy() noexcept;
    void finish_returned_cancelled();

    task_waiter* waiting_on_ = nullptr;
    task_base* root_ = this;  // the scheduled task whose cancellation this coroutine obeys
    std::coroutine_handle<> continuation_;  // an inline-awaited coroutine's awaiter
    // Rare data, allocated only for a named task, in debug mode or for a cancel() that must
    // wait for the next resumption, so that an anonymous task stays small: the name (empty:
    // "Task-<id>"), where it was created, and the pending cancellation's message.
    struct extras {
        std::string name;
        std::source_location created_at;
        bool has_location = false;
        std::string cancel_message;  // meaningful while must_cancel_
    };
    extras& get_extras();
    // Freed out of line, for the reason future_state_base's more_ is.
    struct extras_deleter {
        void operator()(extras* e) const noexcept;
    };
    std::unique_ptr<extras, extras_deleter> extras_;
    std::uint32_t id_ = 0;

public:
    std::uint32_t task_index = npos;  // place in the loop's task list (all_tasks); or npos

private:
    int cancel_requests_ = 0;
    bool scheduled_ = false;
    bool started_ = false;
    bool must_cancel_ = false;  // asyncio's _must_cancel: throw at the next resumption
};

// The loop's list of live tasks and its current task (what all_tasks/current_task read).
task_base* current_task_of(event_loop& loop) noexcept;

inline void loop_access::link_task(event_loop& loop, task_base* t) {
    t->task_index = static_cast<std::uint32_t>(loop.tasks_.size());
    loop.tasks_.push_back(t);
}

inline void loop_access::unlink_task(event_loop& loop, task_base* t) noexcept {
    if (t->task_index == task_base::npos)
        return;
    // Swap with the last: O(1), and all_tasks() promises no order.
    task_base* last = loop.tasks_.back();
    loop.tasks_[t->task_index] = last;
    last->task_index = t->task_index;
    loop.tasks_.pop_back();
    t->task_index = task_base::npos;
    // Debug mode's stall detector may have to name a task that ends in the step it times.
    if (loop.debug_ && t == loop.last_task_step_) [[unlikely]]
        note_task_ended(loop, t);
}

}  // namespace corio::detail
