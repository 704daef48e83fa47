// task_group: asyncio.TaskGroup (Python 3.11, taskgroups.py). Structured concurrency: the
// group's children finish before the group does.
//
//     co_await corio::task_group::run([&](corio::task_group& tg) -> corio::task<void> {
//         tg.create_task(fetch(a));
//         tg.create_task(fetch(b));
//         co_return;
//     });  // returns when both are done; the first failure cancels the other
//
// Rules, as asyncio's: the first child that fails cancels its siblings and the task running
// the group; the group waits for every child; all errors come back together in one
// exception_group; a cancellation of the parent from outside is propagated to the children
// and re-raised once they are done.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include <corio/tasks.hpp>

namespace corio {

class task_group {
public:
    /// Binds the group to the current task. Throws std::runtime_error outside a task.
    task_group();
    /// A group destroyed before join() finished cancels its remaining children (they still
    /// run to completion on their own) and logs that it did.
    ~task_group();
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;

    /// Schedules `coro` as a child. Throws std::runtime_error once the group is shutting down
    /// (a child failed) or finished.
    template <class T>
    task<T> create_task(task<T> coro, std::string name = {}) {
        check_open();
        task<T> t = loop_->create_task(std::move(coro), std::move(name));
        adopt(*t.promise());
        return t;
    }

    /// asyncio's __aexit__: waits for every child; `body_error` is what the group's body threw,
    /// if anything. Throws exception_group with every error, or re-raises a cancellation.
    task<void> join(std::exception_ptr body_error = nullptr);

    /// Runs `body(group)` and then join(): the group's `async with` block. `body` is kept
    /// alive in this coroutine's frame, so a capturing lambda is safe.
    template <class Body>
    static task<void> run(Body body) {
        task_group group;
        std::exception_ptr error;
        try {
            co_await body(group);
        } catch (...) {
            error = std::current_exception();
        }
        co_await group.join(error);
    }

    void child_done(detail::task_base& child);

private:
    struct child {
        detail::task_base* task;  // referenced (add_ref) until the group is destroyed
        callback_id id;
    };

    void check_open() const;
    void adopt(detail::task_base& t);
    void abort();

    event_loop* loop_;
    detail::task_base* parent_;
    std::vector<child> children_;
    std::size_t remaining_ = 0;
    std::vector<std::exception_ptr> errors_;
    future<void> wake_;  // set when remaining_ drops to zero during join()
    bool aborting_ = false;
    bool parent_cancel_requested_ = false;
    bool exiting_ = false;
    bool finished_ = false;
};

}  // namespace corio
