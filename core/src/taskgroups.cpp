// task_group: asyncio.TaskGroup's rules (taskgroups.hpp).
#include <corio/log.hpp>
#include <corio/taskgroups.hpp>

namespace corio {
namespace {

bool is_cancellation(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const cancelled_error&) {
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace

task_group::task_group() : loop_(&get_running_loop()), parent_(current_task()) {
    if (parent_ == nullptr)
        throw std::runtime_error("task_group should be used inside a task");
}

task_group::~task_group() {
    if (remaining_ > 0) {
        log(log_level::warning, "task_group destroyed before join(): cancelling its children");
        abort();
    }
    for (child& c : children_) {
        c.task->detach_done_callback(c.id);
        c.task->release();
    }
}

void task_group::check_open() const {
    if (finished_)
        throw std::runtime_error("task_group is finished");
    if (aborting_)
        throw std::runtime_error("task_group is shutting down");
}

void task_group::adopt(detail::task_base& t) {
    t.add_ref();
    ++remaining_;
    callback_id id = t.add_done_callback(detail::future_state_base::done_fn(
        [this](detail::future_state_base& s) { child_done(static_cast<detail::task_base&>(s)); }));
    children_.push_back({&t, id});
}

void task_group::child_done(detail::task_base& child) {
    --remaining_;
    if (remaining_ == 0 && wake_.valid() && !wake_.done())
        wake_.set_result();
    if (child.cancelled())
        return;
    std::exception_ptr error = child.exception();
    if (!error)
        return;
    errors_.push_back(error);
    if (!aborting_ && !parent_cancel_requested_) {
        // asyncio: the first failure cancels the siblings and the task running the group,
        // so that its body stops at its next await; join() takes that cancellation back.
        abort();
        parent_cancel_requested_ = true;
        parent_->cancel({});
    }
}

void task_group::abort() {
    aborting_ = true;
    for (child& c : children_) {
        if (!c.task->done())
            c.task->cancel({});
    }
}

task<void> task_group::join(std::exception_ptr body_error) {
    exiting_ = true;
    std::exception_ptr propagate;
    if (body_error) {
        if (is_cancellation(body_error)) {
            propagate = body_error;
        } else {
            errors_.push_back(body_error);
        }
        if (!aborting_)
            abort();
    }
    while (remaining_ > 0) {
        wake_ = loop_->create_future();
        bool cancelled = false;
        try {
            co_await wake_;
        } catch (const cancelled_error&) {
            cancelled = true;
            if (!aborting_)
                propagate = std::current_exception();
        }
        if (cancelled && !aborting_)
            abort();
    }
    finished_ = true;
    if (parent_cancel_requested_ && parent_->uncancel() == 0) {
        propagate = nullptr;  // the only cancellation was ours: do not propagate it
    }
    if (!errors_.empty())
        throw exception_group(std::move(errors_));
    if (propagate)
        std::rethrow_exception(propagate);
}

}  // namespace corio
