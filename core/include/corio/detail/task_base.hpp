// The type-independent part of a task: asyncio.Task's cancellation state machine, its name,
// and the loop's list of tasks. A task's promise derives from this, so the coroutine frame
// holds the whole task: creating one is one allocation.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include <corio/detail/source_location.hpp>
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
// it is suspended, either `waiting_on_` is the wait that a cancel() forwards to, or the task is
// already scheduled to resume and a cancel() is recorded in `must_cancel_` (its message in the
// extras), which the next resumption throws into the coroutine.
//
// Size matters here: the frame of a coroutine that does one co_await sleep(0) is 192 bytes,
// three cache lines, with this class at 112 (the static_assert below), which it keeps by
// sharing a word between waiting_on_ and continuation_, one rare-data pointer with the future
// part, and by its small fields filling future_state_base's tail padding.
class task_base : public future_state_base {
public:
    bool cancel(std::string message) override;  // asyncio Task.cancel
    int uncancel() noexcept;
    int cancelling() const noexcept { return cancel_requests_; }

    std::string get_name() const;
    void set_name(std::string name);
    // Debug mode: where create_task was called, for the loop's reports.
    void set_created_at(const corio::source_location& where);
    // The name, and where the task was created when that is known: for reports.
    std::string describe() const;
    std::uint32_t id() const noexcept { return id_; }

    // Called by every awaiter as it resumes: throws a pending cancellation into the coroutine.
    // On the root task (what awaiters hold), or on an inline coroutine as it starts.
    void throw_if_cancel_requested() {
        root_->waiting_on_ = nullptr;
        if (root_->must_cancel_) [[unlikely]]
            root_->throw_pending_cancel();
    }
    // On the root task only: an inline coroutine's word holds its continuation.
    void suspended_on(task_waiter* w) noexcept { waiting_on_ = w; }

    // Lifecycle, driven by create_task and the promise.
    void schedule(event_loop& loop) { schedule(loop, frame()); }  // first step next iteration
    bool scheduled() const noexcept { return scheduled_; }
    bool started() const noexcept { return started_; }
    void mark_started(event_loop& loop, task_base* root) noexcept;
    task_base* root() noexcept { return root_; }
    // This coroutine's own frame (for an awaiter that keeps the promise instead of the handle).
    std::coroutine_handle<> coroutine() noexcept { return frame(); }
    std::coroutine_handle<> continuation() const noexcept {
        return std::coroutine_handle<>::from_address(continuation_);
    }
    void set_continuation(std::coroutine_handle<> c) noexcept { continuation_ = c.address(); }
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

    // Rare data, allocated only for a named task, in debug mode or for a cancel() that must
    // wait for the next resumption, so that an anonymous task stays small: the name (empty:
    // "Task-<id>"), where it was created, and the pending cancellation's message. It shares
    // the future part's allocation and pointer (future_state_base::rare_data).
    struct extras : rare_data {
        std::string name;
        corio::source_location created_at;
        bool has_location = false;
        std::string cancel_message;  // meaningful while must_cancel_
    };
    rare_data* make_rare() const override;
    extras& get_extras() { return static_cast<extras&>(rare()); }
    const extras* extras_if_any() const noexcept {
        return static_cast<const extras*>(rare_if_any());
    }

    // Declared first: these fill future_state_base's tail padding. Bits, to fit there.
    bool scheduled_ : 1 = false;
    bool started_ : 1 = false;
    bool must_cancel_ : 1 = false;  // asyncio's _must_cancel: throw at the next resumption
    int cancel_requests_ = 0;
    std::uint32_t id_ = 0;

public:
    std::uint32_t task_index = npos;  // place in the loop's task list (all_tasks); or npos

private:
    // A scheduled task may wait on something (waiting_on_); an inline-awaited coroutine never
    // does (its awaiters record the wait in its root), but has an awaiter to return to
    // (continuation_, a coroutine address). Never both, so they share a word.
    union {
        task_waiter* waiting_on_ = nullptr;
        void* continuation_;
    };
    task_base* root_ = this;  // the scheduled task whose cancellation this coroutine obeys
};

// 112 bytes on LP64 (see the class comment); a change here moves the frame across a cache line.
static_assert(sizeof(void*) != 8 || sizeof(task_base) <= 112);

// The loop's list of live tasks and its current task (what all_tasks/current_task read).
task_base* current_task_of(event_loop& loop) noexcept;

inline void loop_access::link_task(event_loop& loop, task_base* t) {
    t->task_index = loop.tasks_.add(t);
}

inline void loop_access::unlink_task(event_loop& loop, task_base* t) noexcept {
    if (t->task_index == task_base::npos)
        return;
    loop.tasks_.remove(t->task_index);
    t->task_index = task_base::npos;
    // Debug mode's stall detector may have to name a task that ends in the step it times.
    if (loop.debug_ && t == loop.last_task_step_) [[unlikely]]
        note_task_ended(loop, t);
}

}  // namespace corio::detail
