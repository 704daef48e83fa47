// Tasks on another loop that behave, for the task awaiting them, like local ones: run_on()
// and task groups whose children run on other loops of a runtime. No asyncio analogue (asyncio
// has one loop per thread and no way to await a task of another loop except through a
// concurrent future, whose cancel() does not wait for the task to finish).
//
//     // on loop 0 of a runtime:
//     int n = co_await corio::run_on(rt.loop(1), count_rows(shard));  // runs on loop 1
//
//     co_await corio::task_group::run([&](corio::task_group& tg) -> corio::task<void> {
//         for (std::size_t i = 0; i < rt.size(); ++i)
//             corio::create_task_on(tg, rt.loop(i), scan(i));
//         co_return;
//     });  // the first failure on any loop cancels the children on every loop
//
// The rules that make a remote child a proper member of a group: cancelling the awaiting task
// cancels the remote task (through the target's inbox) and then *waits for it to finish*, so
// the group never exits while a child still runs on another loop; the awaiting task ends
// exactly as the remote task did (value, exception, or cancellation, also when the remote
// task swallowed the cancellation and returned).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <corio/detail/inbox.hpp>
#include <corio/detail/remote_promise.hpp>
#include <corio/events.hpp>
#include <corio/futures.hpp>
#include <corio/taskgroups.hpp>
#include <corio/tasks.hpp>
#include <corio/threads.hpp>

namespace corio {

namespace detail {

// The remote task, as the target loop knows it. Only the target loop's thread reads or writes
// `task` (the start message, the task's done callback and the cancel messages all run there),
// so the one cross-thread access is shared_ptr's own reference count.
struct remote_task_link {
    task_base* task = nullptr;
};

// The task's done callback on the target loop: forgets the task, sends the outcome home.
template <class T>
struct remote_task_done {
    std::shared_ptr<remote_task_link> link;
    task_to_remote<T> home;
    void operator()(future_state_base& s) {
        link->task = nullptr;
        home(s);
    }
};

// Asks the target loop to cancel the remote task, if it still runs. The start message went
// first from this same thread, and an inbox is FIFO per producer, so the task exists by then
// (or has ended). A closed target drops the message: close() fails the task, whose outcome
// still comes home.
inline void post_remote_cancel(event_loop& target, std::shared_ptr<remote_task_link> link) {
    post(target, remote_message([link = std::move(link)](message_fate fate) {
             if (fate == message_fate::run && link->task != nullptr)
                 link->task->cancel({});
         }));
}

// Starts `coro` as a task of `target`, whose outcome completes `outcome` through the caller's
// inbox. A plain function, not part of the coroutine below: gcc 12 mishandles a lambda that
// captures a coroutine's parameters inside the coroutine's body (see BUILD.md).
template <class T>
void post_remote_start(event_loop& target, const std::shared_ptr<remote_task_link>& link,
                       task<T> coro, future<T>& outcome) {
    post(target,
         [link, coro = std::move(coro), p = remote_promise<T>(outcome)](message_fate fate) mutable {
             if (fate == message_fate::dropped) {
                 p.set_exception(loop_closed_error());
                 return;
             }
             try {
                 task<T> t = get_running_loop().create_task(std::move(coro));
                 link->task = t.promise();
                 t.promise()->add_handoff_callback(future_state_base::done_fn(
                     remote_task_done<T>{link, task_to_remote<T>{std::move(p)}}));
             } catch (...) {
                 p.set_exception(std::current_exception());
             }
         });
}

template <class T>
task<T> run_on(event_loop& caller, event_loop& target, task<T> coro) {
    auto link = std::make_shared<remote_task_link>();
    future<T> outcome = caller.create_future<T>();
    post_remote_start(target, link, std::move(coro), outcome);
    // Await the outcome without ever cancelling it: each wait is on a fresh signal future, so
    // a cancellation of this task cancels the signal, is forwarded to the remote task, and the
    // wait goes on until the remote task has really ended.
    while (!outcome.done()) {
        future<void> woken = caller.create_future<void>();
        callback_id id = outcome.add_done_callback([woken](future<T>&) mutable {
            if (!woken.done())
                woken.set_result();
        });
        try {
            co_await woken;
        } catch (const cancelled_error&) {
            outcome.remove_done_callback(id);
            post_remote_cancel(target, link);
        }
    }
    if constexpr (std::is_void_v<T>) {
        outcome.result();
    } else {
        co_return std::move(outcome.result());
    }
}

}  // namespace detail

/// Runs `coro` as a task of `target` (another loop, or this one) and returns its outcome on
/// the calling loop, through the inboxes: neither loop blocks. Cancelling the calling task
/// cancels the remote one and waits for it to end; the result is then whatever the remote
/// task ended with. Throws std::invalid_argument for an empty task and std::runtime_error
/// ("Event loop is closed") if `target` is closed; if it closes before the task ends, the
/// result is that error.
template <class T>
task<T> run_on(event_loop& target, task<T> coro) {
    if (!coro.valid())
        throw std::invalid_argument("run_on needs a coroutine");
    event_loop& caller = get_running_loop();
    if (target.is_closed())
        throw std::runtime_error("Event loop is closed");
    return detail::run_on(caller, target, std::move(coro));
}

/// task_group::create_task for a child that runs on `target`: the child is run_on(target,
/// coro), a local task of the group's loop that mirrors the remote one. A failing child on any
/// loop cancels its siblings on every loop; the group waits for every remote child to end.
template <class T>
task<T> create_task_on(task_group& group, event_loop& target, task<T> coro, std::string name = {}) {
    return group.create_task(run_on(target, std::move(coro)), std::move(name));
}

}  // namespace corio
