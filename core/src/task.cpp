// asyncio.Task's state machine, the type-independent half of task<T> (detail/task_base.hpp).
#include <corio/runners.hpp>
#include <corio/tasks.hpp>

namespace corio::detail {

bool task_base::cancel(std::string message) {
    if (done())
        return false;
    ++cancel_requests_;
    // asyncio: forward to what the task waits on; if that will end the wait with
    // cancelled_error by itself, nothing more is needed.
    if (waiting_on_ != nullptr && waiting_on_->cancel_wait(message))
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

task_base::extras& task_base::get_extras() {
    if (!extras_)
        extras_.reset(new extras());
    return *extras_;
}

void task_base::extras_deleter::operator()(extras* e) const noexcept {
    delete e;
}

void task_base::unlink_on_destroy() noexcept {
    loop_access::unlink_task(loop(), this);
}

std::string task_base::get_name() const {
    if (extras_ && !extras_->name.empty())
        return extras_->name;
    return "Task-" + std::to_string(id_);
}

void task_base::set_name(std::string name) {
    get_extras().name = std::move(name);
}

void task_base::set_created_at(const std::source_location& where) {
    extras& e = get_extras();
    e.created_at = where;
    e.has_location = true;
}

std::string task_base::describe() const {
    std::string text = get_name();
    if (extras_ && extras_->has_location) {
        text += " created at ";
        text += extras_->created_at.file_name();
        text += ':';
        text += std::to_string(extras_->created_at.line());
    }
    return text;
}

void task_base::throw_pending_cancel() {
    must_cancel_ = false;
    throw cancelled_error(std::move(extras_->cancel_message));
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
    finish_cancelled(std::move(extras_->cancel_message));
}

}  // namespace corio::detail

namespace corio {

void detail::loop_access::note_task_ended(event_loop& loop, task_base* t) {
    loop.last_task_ended_ = t->describe();
}

// close() with tasks still pending: each is reported (asyncio's "Task was destroyed but it
// is pending!"), loses its running reference, and so its frame is destroyed once nobody
// else holds the task. Nothing resumes it: the loop is closed.
void event_loop::close_pending_tasks() noexcept {
    while (!tasks_.empty()) {
        detail::task_base* t = tasks_.back();
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
