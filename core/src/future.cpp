// The type-independent half of future<T> (futures.hpp).
#include <algorithm>

#include <corio/futures.hpp>

namespace corio::detail {
namespace {

// Holds one reference to a state for as long as a scheduled batch of callbacks may run.
struct state_ref {
    future_state_base* state;
    explicit state_ref(future_state_base* s) noexcept : state(s) { state->add_ref(); }
    state_ref(state_ref&& other) noexcept : state(std::exchange(other.state, nullptr)) {}
    state_ref(const state_ref&) = delete;
    ~state_ref() {
        if (state)
            state->release();
    }
};

}  // namespace

void future_state_base::check_pending(const char* what) const {
    if (status_ != future_status::pending) {
        throw invalid_state_error(std::string(what) + ": the future is already done");
    }
}

void future_state_base::require_finished(const char* not_ready) {
    switch (status_) {
        case future_status::cancelled:
            std::rethrow_exception(exception_);
        case future_status::pending:
            throw invalid_state_error(not_ready);
        case future_status::finished:
            break;
    }
    exception_retrieved_ = true;
}

void future_state_base::throw_result() {
    require_finished("Result is not ready.");
    std::rethrow_exception(exception_);  // check_result() calls only with an exception set
}

std::exception_ptr future_state_base::exception() {
    require_finished("Exception is not set.");
    return exception_;
}

void future_state_base::set_exception(std::exception_ptr error) {
    check_pending("set_exception");
    if (!error)
        throw std::invalid_argument("set_exception needs an exception");
    exception_ = std::move(error);
    finish();
}

bool future_state_base::cancel(std::string message) {
    if (status_ != future_status::pending)
        return false;
    finish_cancelled(std::move(message));
    return true;
}

void future_state_base::finish_cancelled(std::string message) {
    status_ = future_status::cancelled;
    exception_ = std::make_exception_ptr(cancelled_error(std::move(message)));
    exception_retrieved_ = true;  // a cancellation is not an error to report
    schedule_callbacks();
}

callback_id future_state_base::add_done_callback(done_fn fn) {
    return add_fn(0, std::move(fn));
}

callback_id future_state_base::add_handoff_callback(done_fn fn) {
    return add_fn(handoff_arg, std::move(fn));
}

callback_id future_state_base::add_fn(std::uint32_t arg, done_fn fn) {
    callback_id id = next_id_;
    add_callback({next_id_++, arg, nullptr, std::move(fn)});
    return id;
}

void future_state_base::run_handoff() noexcept {
    done_callback c;
    take(c, first_);  // emptied first: the callback may add another
    run_one(c);
}

void future_state_base::add_callback(done_callback c) {
    done_callback* added = &first_;
    if (!has_callbacks()) {
        take(first_, c);
    } else {
        std::vector<done_callback>& more = rare().more;
        more.push_back(std::move(c));
        added = &more.back();
    }
    if (batch_scheduled_) {
        count_in_batch(*added, +1);  // joins the batch already queued
    } else if (done()) {
        schedule_callbacks();
    }
}

void future_state_base::detach_watcher(done_watcher* w) noexcept {
    auto is_w = [w](const done_callback& c) {
        return c.id != 0 && !c.fn && c.arg != waiter_arg && c.target == w;
    };
    if (rare_) {
        std::size_t removed = std::erase_if(rare_->more, is_w);
        if (batch_scheduled_)
            w->in_batches_ -= static_cast<std::uint32_t>(removed);
    }
    if (is_w(first_)) {
        if (batch_scheduled_)
            --w->in_batches_;
        first_.id = 0;
        if (!more_empty()) {  // keep registration order: the oldest of the rest moves up
            take(first_, rare_->more.front());
            rare_->more.erase(rare_->more.begin());
        }
    }
}

std::size_t future_state_base::remove_done_callback(callback_id id) noexcept {
    if (done())
        return 0;  // already handed to the loop, as asyncio's emptied list
    return detach_done_callback(id);
}

std::size_t future_state_base::detach_done_callback(callback_id id) noexcept {
    if (id == 0)
        return 0;
    if (first_.id == id) {
        if (batch_scheduled_)
            count_in_batch(first_, -1);
        // Keep registration order: the oldest of the rest becomes the inline one.
        first_.id = 0;
        first_.fn.reset();
        if (!more_empty()) {
            take(first_, rare_->more.front());
            rare_->more.erase(rare_->more.begin());
        }
        return 1;
    }
    if (!rare_)
        return 0;
    std::vector<done_callback>& more = rare_->more;
    auto it =
        std::find_if(more.begin(), more.end(), [id](const done_callback& c) { return c.id == id; });
    if (it == more.end())
        return 0;
    if (batch_scheduled_)
        count_in_batch(*it, -1);
    more.erase(it);
    return 1;
}

// One loop callback runs every callback registered so far, in order: the same observable
// order as asyncio's one call_soon per callback (they are queued back to back), for one
// ready entry instead of n. (A lone awaiting coroutine skips this: schedule_callbacks.)
void future_state_base::schedule_batch() {
    loop_->call_soon([ref = state_ref(this)] { ref.state->run_callbacks(); });
    batch_scheduled_ = true;
    count_in_batch(first_, +1);
    if (rare_) {
        for (const done_callback& c : rare_->more)
            count_in_batch(c, +1);
    }
}

void future_state_base::report_callback_error() noexcept {
    loop_->call_exception_handler(
        {"Exception in callback", std::current_exception(), "future done callback"});
}

void future_state_base::run_callbacks() noexcept {
    batch_scheduled_ = false;
    // Taken out first: a callback that adds another schedules a new batch, as asyncio's
    // add_done_callback on a done future calls call_soon.
    done_callback first;
    take(first, first_);
    if (more_empty()) {
        run_one(first);
        return;
    }
    std::vector<done_callback> more;
    more.swap(rare_->more);
    run_one(first);
    for (done_callback& c : more)
        run_one(c);
    more.clear();
    if (rare_->more.empty())
        rare_->more.swap(more);  // keep the capacity: no alloc next time
}

void future_state_base::run_one(done_callback& c) noexcept {
    if (c.id == 0)
        return;
    if (!c.fn && c.arg == waiter_arg) {
        std::coroutine_handle<>::from_address(c.target)
            .resume();  // its promise keeps what it throws
        return;
    }
    try {
        if (c.fn) {
            c.fn(*this);
        } else {
            auto* w = static_cast<done_watcher*>(c.target);
            --w->in_batches_;
            w->child_done(c.arg);
        }
    } catch (...) {
        report_callback_error();
    }
}

void future_state_base::rare_deleter::operator()(rare_data* r) const noexcept {
    delete r;
}

void future_state_base::report_unretrieved() noexcept {
    if (loop_ != nullptr && !loop_->is_closed()) {
        loop_->call_exception_handler(
            {"Future exception was never retrieved", exception_, "future"});
    }
}

}  // namespace corio::detail
