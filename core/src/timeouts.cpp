// timeout_scope: asyncio.Timeout's state machine (timeouts.hpp).
#include <corio/timeouts.hpp>

namespace corio {
namespace {

bool is_cancellation(const std::exception_ptr& error) {
    if (!error)
        return false;
    try {
        std::rethrow_exception(error);
    } catch (const cancelled_error&) {
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace

timeout_scope timeout(std::optional<double> delay) {
    if (!delay)
        return timeout_scope(std::nullopt);
    return timeout_scope(get_running_loop().time() + *delay);
}

void timeout_scope::enter() {
    if (state_ != state::created)
        throw std::runtime_error("Timeout has already been entered");
    task_ = current_task();
    if (task_ == nullptr)
        throw std::runtime_error("Timeout should be used inside a task");
    loop_ = &task_->loop();
    cancelling_at_enter_ = task_->cancelling();
    state_ = state::entered;
    arm();
}

void timeout_scope::arm() {
    timer_.cancel();
    if (!when_)
        return;
    if (*when_ <= loop_->time()) {
        timer_ = loop_->call_soon([this] { on_timeout(); });
    } else {
        timer_ = loop_->call_at(*when_, [this] { on_timeout(); });
    }
}

void timeout_scope::on_timeout() {
    task_->cancel({});
    state_ = state::expiring;
}

void timeout_scope::reschedule(std::optional<double> when) {
    if (state_ != state::created && state_ != state::entered) {
        throw std::runtime_error("Cannot change the deadline of an expiring or exited timeout");
    }
    when_ = when;
    if (state_ == state::entered)
        arm();
}

void timeout_scope::exit(std::exception_ptr error) {
    timer_.cancel();
    if (state_ == state::expiring) {
        state_ = state::expired;
        // Ours only if no other cancel() is still pending on the task (asyncio's uncancel
        // count): then the cancelled_error becomes timeout_error.
        if (task_->uncancel() <= cancelling_at_enter_ && is_cancellation(error)) {
            throw timeout_error();
        }
    } else if (state_ == state::entered) {
        state_ = state::exited;
    }
    if (error)
        std::rethrow_exception(error);
}

}  // namespace corio
