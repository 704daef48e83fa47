// asyncio.Task's state machine, the type-independent half of task<T> (detail/task_base.hpp).
#include <algorithm>
#include <stdexcept>

#include <corio/runners.hpp>
#include <corio/tasks.hpp>

namespace corio::detail {

bool task_base::cancel(std::string message) {
    if (done())
        return false;
    ++cancel_requests_;
    // asyncio: forward to what the task waits on; if that will end the wait with
    // cancelled_error by itself, nothing more is needed.
    // (Only a scheduled task's word is a wait; an inline coroutine's is its continuation.)
    if (scheduled_ && waiting_on_ != nullptr && waiting_on_->cancel_wait(message))
        return true;
    get_extras().cancel_message = std::move(message);
    must_cancel_ = true;
    return true;
}

int task_base::uncancel() noexcept {
    if (cancel_requests_ > 0)
        --cancel_requests_;
    if (cancel_requests_ == 0)
        must_cancel_ = false;  // Python 3.13: drop must_cancel too
    return cancel_requests_;
}

future_state_base::rare_data* task_base::make_rare() const {
    return new extras();
}

void task_base::unlink_on_destroy() noexcept {
    loop_access::unlink_task(loop(), this);
}

std::string task_base::get_name() const {
    const extras* e = extras_if_any();
    if (e != nullptr && !e->name.empty())
        return e->name;
    return "Task-" + std::to_string(id_);
}

void task_base::set_name(std::string name) {
    get_extras().name = std::move(name);
}

void task_base::set_created_at(const corio::source_location& where) {
    extras& e = get_extras();
    e.created_at = where;
    e.has_location = true;
}

std::string task_base::describe() const {
    std::string text = get_name();
    const extras* e = extras_if_any();
    if (e != nullptr && e->has_location) {
        text += " created at ";
        text += e->created_at.file_name();
        text += ':';
        text += std::to_string(e->created_at.line());
    }
    return text;
}

void task_base::throw_pending_cancel() {
    must_cancel_ = false;
    throw cancelled_error(std::move(get_extras().cancel_message));
}

void task_base::mark_started(event_loop& loop, task_base* root) noexcept {
    bind_loop(loop);
    started_ = true;
    root_ = root;
}

void task_base::finish_with(std::exception_ptr error) {
    if (task_index != npos)
        loop_access::unlink_task(loop(), this);
    if (!scheduled_) {
        // An inline-awaited coroutine: its awaiter rethrows.
        set_exception(std::move(error));
        return;
    }
    try {
        std::rethrow_exception(error);
    } catch (const cancelled_error& c) {
        finish_cancelled(c.message());  // asyncio: CancelledError out of the coroutine
        return;
    } catch (...) {
    }
    set_exception(std::move(error));
}

// Cancelled during its last step (asyncio: _must_cancel at StopIteration).
void task_base::finish_returned_cancelled() {
    must_cancel_ = false;
    store_value_as_cancelled();
    finish_cancelled(std::move(get_extras().cancel_message));
}

}  // namespace corio::detail

namespace corio {

std::vector<detail::task_base*> detail::loop_access::tasks(event_loop& loop) {
    std::vector<task_base*> live;
    live.reserve(loop.tasks_.live());
    loop.tasks_.for_each([&live](task_base* t) { live.push_back(t); });
    return live;
}

void detail::task_registry::make_room() {
    // Squeezing the nulls out costs one pass, paid for by the removals that made them.
    if (size_ > 0 && dead_ > size_ / 2) {
        std::uint32_t n = 0;
        for (std::uint32_t i = 0; i < size_; ++i) {
            if (task_base* t = slots_[i]) {
                t->task_index = n;
                slots_[n++] = t;
            }
        }
        size_ = n;
        dead_ = 0;
        return;
    }
    const std::uint32_t capacity = capacity_ == 0 ? 64 : capacity_ * 2;
    if (capacity <= capacity_)  // wrapped: indexes stay below npos
        throw std::length_error("too many tasks");
    auto bigger = std::make_unique<task_base*[]>(capacity);
    std::copy(slots_.get(), slots_.get() + size_, bigger.get());
    slots_ = std::move(bigger);
    capacity_ = capacity;
}

void detail::loop_access::note_task_ended(event_loop& loop, task_base* t) {
    loop.last_task_ended_ = t->describe();
}

// close() with tasks still pending: each is reported (asyncio's "Task was destroyed but it
// is pending!"), loses its running reference, and so its frame is destroyed once nobody
// else holds the task. Nothing resumes it: the loop is closed.
void event_loop::close_pending_tasks() noexcept {
    while (detail::task_base* t = tasks_.last()) {
        detail::loop_access::unlink_task(*this, t);
        call_exception_handler({"Task was destroyed but it is pending!", nullptr, t->describe()});
        t->release();
    }
}

detail::task_base* current_task() {
    return detail::loop_access::current_task(get_running_loop());
}

std::vector<detail::task_base*> all_tasks() {
    return detail::loop_access::tasks(get_running_loop());
}

}  // namespace corio

namespace corio::detail {

void cancel_all_tasks(event_loop& loop) {
    std::vector<task_base*> pending = loop_access::tasks(loop);
    for (task_base* t : pending)
        t->add_ref();
    if (pending.empty())
        return;
    struct release_all {
        std::vector<task_base*>& tasks;
        ~release_all() {
            for (task_base* t : tasks)
                t->release();
        }
    } guard{pending};
    std::size_t remaining = pending.size();
    for (task_base* t : pending) {
        t->cancel({});
        t->add_done_callback(future_state_base::done_fn([&remaining, &loop](future_state_base&) {
            if (--remaining == 0)
                loop.stop();
        }));
    }
    loop.run_forever();
    for (task_base* t : pending) {
        if (!t->done() || t->cancelled())
            continue;
        if (std::exception_ptr error = t->exception()) {
            loop.call_exception_handler(
                {"unhandled exception during run() shutdown", error, t->describe()});
        }
    }
}

}  // namespace corio::detail
