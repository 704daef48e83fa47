// asyncio's combinators over tasks: gather, wait, as_completed, shield (tasks.py). Included
// by <corio/tasks.hpp>; not to be included alone.
#pragma once

#include <array>
#include <deque>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <corio/tasks.hpp>

namespace corio {

namespace detail {

// Watches a set of tasks: calls owner.child_done(index) when each task's done callbacks run,
// and detaches from every task whose callback has not run when it is destroyed, so that a
// combinator may return early (first error, timeout, cancellation) without leaving a callback
// that points into a dead coroutine frame. Per child it stores nothing but the registration
// inside the child; once every callback has run, destruction touches no child.
inline task_base& state_of(task_base* t) noexcept {
    return *t;
}
template <class T>
task_base& state_of(task<T>& t) noexcept {
    return *t.promise();
}

template <class T>
void ensure_scheduled(task<T>& child, event_loop& loop);

// A pass over thousands of children misses on each one's frame (they do not fit in L2):
// fetch the first lines of the child `prefetch_ahead` places on while this one is handled.
inline constexpr std::size_t prefetch_ahead = 4;
inline void prefetch_state(const task_base* t) noexcept {
    if (t == nullptr)
        return;
    // A task's state is 112 bytes, and the coroutine's resume index follows it: three lines
    // at most, however the frame is aligned.
    const char* p = reinterpret_cast<const char*>(t);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 127);
}
template <class T>
void prefetch_state(const task<T>& t) noexcept {
    prefetch_state(t.promise());
}

// `Children` is a vector of task<T> or an array of task_base*. Given a loop, the watch also
// schedules the children that are not tasks yet (asyncio's ensure_future), in the same pass:
// gather over n fresh coroutines then visits each frame once to start watching, not twice.
template <class Children, class Owner>
class child_watch final : public done_watcher {
public:
    child_watch(Children& children, Owner& owner, event_loop* schedule_on = nullptr)
        : children_(children), owner_(owner) {
        const std::size_t n = children.size();
        if (n >= UINT32_MAX)
            throw std::length_error("too many tasks to watch");
        std::size_t i = 0;
        try {
            for (; i < n; ++i) {
                if (i + prefetch_ahead < n)
                    prefetch_state(children[i + prefetch_ahead]);
                if constexpr (!std::is_pointer_v<std::remove_cvref_t<decltype(children[i])>>) {
                    if (schedule_on != nullptr)
                        ensure_scheduled(children[i], *schedule_on);
                }
                state_of(children[i]).add_watcher(this, static_cast<std::uint32_t>(i));
            }
        } catch (...) {
            detach(i);
            throw;
        }
    }
    ~child_watch() {
        if (fired_ != children_.size())
            detach(children_.size());
    }
    child_watch(const child_watch&) = delete;
    child_watch& operator=(const child_watch&) = delete;

    void child_done(std::uint32_t index) override {
        ++fired_;  // each registration is notified at most once, by one of these two
        if constexpr (defers) {
            owner_.child_done(index, false);
        } else {
            owner_.child_done(index);
        }
    }
    bool child_finished(std::uint32_t index) override {
        if constexpr (defers) {
            if (in_batches() != 0)
                return false;  // an earlier-placed notification is pending
            ++fired_;
            owner_.child_done(index, true);
            return true;
        } else {
            return false;
        }
    }

private:
    // An owner with child_done(index, deferred) takes notifications at the child's finish
    // (deferred: true), and then makes whatever it does visible through a call_soon.
    static constexpr bool defers = requires(Owner & o) { o.child_done(std::size_t{}, true); };

    void detach(std::size_t registered) noexcept {
        for (std::size_t i = 0; i < registered; ++i)
            state_of(children_[i]).detach_watcher(this);
    }

    Children& children_;
    Owner& owner_;
    std::size_t fired_ = 0;
};

// Schedules a coroutine that is not a task yet (asyncio's ensure_future), as
// loop.create_task would, and leaves a task alone.
template <class T>
void ensure_scheduled(task<T>& child, event_loop& loop) {
    if (!child.promise()->scheduled())
        start_task(loop, child.promise(), {}, corio::source_location::current());
}
template <class T>
void ensure_scheduled(std::vector<task<T>>& children, event_loop& loop) {
    for (task<T>& c : children)
        ensure_scheduled(c, loop);
}

inline bool failed(task_base& t) noexcept {
    return t.failed();
}
template <class T>
bool failed(task<T>& t) noexcept {
    return t.promise()->failed();
}

template <class T>
using value_or_monostate_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
value_or_monostate_t<T> take_result(task<T>& t) {
    if constexpr (std::is_void_v<T>) {
        t.result();
        return {};
    } else {
        return std::move(t.result());
    }
}

// gather's wake-up: a future the gather awaits, set once `count` children are done (or at the
// first failure). A notification taken at a child's finish (deferred) sets it through a
// call_soon made at that moment, which runs exactly where the child's done callback would
// have: the gather resumes in the same iteration, in the same order, as with callbacks.
struct gather_wake {
    future<void> fut;
    std::size_t remaining;
    bool woken_ = false;

    gather_wake(event_loop& loop, std::size_t count) : fut(loop.create_future()), remaining(count) {
        if (count == 0)
            wake_up(false);
    }
    bool woken() const noexcept { return woken_ || fut.done(); }  // done: cancelled
    bool last_done() noexcept { return --remaining == 0; }
    // Out of line: once per gather, and inlined it makes every child's notification save
    // registers for it.
    [[gnu::noinline]] void wake_up(bool deferred) {
        if (deferred) {
            fut.get_loop().call_soon([f = fut]() mutable {
                if (!f.done())
                    f.set_result();  // a cancelled gather has moved on
            });
        } else {
            fut.set_result();
        }
        woken_ = true;
    }
};

// Drops gather's references to its children, fetching ahead: where gather held the last one,
// that frame is destroyed here, which touches three of its lines. From the back, so that
// the vector is empty after this one pass and its destructor has no second one to make.
template <class T>
void release_children(std::vector<task<T>>& children) noexcept {
    for (std::size_t n = children.size(); n > 0; --n) {
        if (n > prefetch_ahead)
            prefetch_state(children[n - 1 - prefetch_ahead]);
        children.pop_back();
    }
}

template <class T>
using gather_result_t = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;

}  // namespace detail

/// asyncio.gather for tasks of one type: schedules the coroutines not yet scheduled, waits
/// for all of them and returns their results in order (void for task<void>). The first child
/// to fail or be cancelled makes gather throw that error at once; the other children keep
/// running, as asyncio's. Cancelling the gather cancels every child.
template <class T>
task<detail::gather_result_t<T>> gather(std::vector<task<T>> children) {
    event_loop& loop = get_running_loop();
    struct progress {
        std::vector<task<T>>& children;
        detail::gather_wake wake;
        bool any_failed = false;
        void child_done(std::size_t i, bool deferred) {
            if (wake.woken())
                return;
            if (detail::failed(children[i]))
                any_failed = true;
            if (any_failed || wake.last_done())
                wake.wake_up(deferred);
        }
    } state{children, detail::gather_wake(loop, children.size())};
    detail::child_watch<std::vector<task<T>>, progress> watch(children, state, &loop);
    try {
        co_await state.wake.fut;
    } catch (const cancelled_error&) {
        for (task<T>& c : children)
            c.cancel();
        throw;
    }
    // Woken by the last child with none failed, every child is done and fine: nothing to look
    // at again. Otherwise rethrow the first failure in argument order.
    if (state.any_failed) {
        for (task<T>& c : children) {
            if (detail::failed(c))
                c.result();
        }
    }
    if constexpr (std::is_void_v<T>) {
        detail::release_children(children);
        co_return;
    } else {
        std::vector<T> results;
        results.reserve(children.size());
        for (task<T>& c : children)
            results.push_back(std::move(c.result()));
        detail::release_children(children);
        co_return results;
    }
}

/// asyncio.gather over tasks of different types: `auto [a, b] = co_await gather(f(), g());`
/// Same rules as the vector form; a task<void>'s slot in the tuple is std::monostate.
template <class... Ts>
task<std::tuple<detail::value_or_monostate_t<Ts>...>> gather(task<Ts>... children) {
    event_loop& loop = get_running_loop();
    ((children.promise()->scheduled() ? void()
                                      : void(children = loop.create_task(std::move(children)))),
     ...);
    std::array<detail::task_base*, sizeof...(Ts)> bases{children.promise()...};
    struct progress {
        std::array<detail::task_base*, sizeof...(Ts)>& bases;
        detail::gather_wake wake;
        void child_done(std::size_t i, bool deferred) {
            if (wake.woken())
                return;
            if (detail::failed(*bases[i]) || wake.last_done())
                wake.wake_up(deferred);
        }
    } state{bases, detail::gather_wake(loop, sizeof...(Ts))};
    detail::child_watch<decltype(bases), progress> watch(bases, state);
    try {
        co_await state.wake.fut;
    } catch (const cancelled_error&) {
        (children.cancel(), ...);
        throw;
    }
    for (detail::task_base* b : bases) {
        if (detail::failed(*b))
            b->check_result();  // rethrows the first failure, in order
    }
    co_return std::tuple<detail::value_or_monostate_t<Ts>...>{detail::take_result(children)...};
}

/// gather's `return_exceptions=True`: pass corio::return_exceptions.
struct return_exceptions_t {
    explicit return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

/// One child's outcome in gather(..., return_exceptions): a value or an error (a cancelled
/// child's error is its cancelled_error).
template <class T>
struct outcome {
    std::optional<detail::value_or_monostate_t<T>> value;
    std::exception_ptr error;
    bool ok() const noexcept { return error == nullptr; }
};

/// asyncio.gather(..., return_exceptions=True): waits for every child and returns each one's
/// outcome in order; a child's failure or cancellation is an outcome, not an exception.
/// Cancelling the gather still cancels every child.
template <class T>
task<std::vector<outcome<T>>> gather(std::vector<task<T>> children, return_exceptions_t) {
    event_loop& loop = get_running_loop();
    detail::ensure_scheduled(children, loop);
    struct progress {
        detail::gather_wake wake;
        void child_done(std::size_t, bool deferred) {
            if (!wake.woken() && wake.last_done())
                wake.wake_up(deferred);
        }
    } state{detail::gather_wake(loop, children.size())};
    {
        // Every child is notified once, also those already done.
        detail::child_watch<std::vector<task<T>>, progress> watch(children, state);
        try {
            co_await state.wake.fut;
        } catch (const cancelled_error&) {
            for (task<T>& c : children)
                c.cancel();
            throw;
        }
    }
    std::vector<outcome<T>> out(children.size());
    for (std::size_t i = 0; i < children.size(); ++i) {
        try {
            if constexpr (std::is_void_v<T>) {
                children[i].result();
                out[i].value.emplace();
            } else {
                out[i].value.emplace(std::move(children[i].result()));
            }
        } catch (...) {
            out[i].error = std::current_exception();
        }
    }
    co_return out;
}

/// asyncio.FIRST_COMPLETED / FIRST_EXCEPTION / ALL_COMPLETED.
enum class return_when { first_completed, first_exception, all_completed };

template <class T>
struct wait_result {
    std::vector<task<T>> done;
    std::vector<task<T>> pending;
};

/// asyncio.wait: waits until `when` is satisfied or `timeout` seconds pass (nullopt: no
/// limit), and splits the tasks into done and pending, each in argument order. Neither raises
/// nor cancels anything on timeout. Coroutines not yet scheduled are scheduled. An empty list
/// throws std::invalid_argument, as asyncio's ValueError.
template <class T>
task<wait_result<T>> wait(std::vector<task<T>> tasks, std::optional<double> timeout = std::nullopt,
                          return_when when = return_when::all_completed) {
    if (tasks.empty())
        throw std::invalid_argument("Set of Tasks/Futures is empty.");
    event_loop& loop = get_running_loop();
    detail::ensure_scheduled(tasks, loop);
    struct progress {
        std::vector<task<T>>& tasks;
        return_when when;
        std::size_t remaining;
        future<void> wake;
        void child_done(std::size_t i) {
            if (wake.done())
                return;
            --remaining;
            bool error = !tasks[i].cancelled() && tasks[i].exception() != nullptr;
            if (remaining == 0 || when == return_when::first_completed ||
                (when == return_when::first_exception && error)) {
                wake.set_result();
            }
        }
    } state{tasks, when, tasks.size(), loop.create_future()};
    // Already satisfied by what is done: no wait (asyncio's _wait checks before it waits).
    std::size_t done_now = 0;
    bool satisfied = false;
    for (task<T>& t : tasks) {
        if (!t.done())
            continue;
        ++done_now;
        if (when == return_when::first_completed)
            satisfied = true;
        if (when == return_when::first_exception && !t.cancelled() && t.exception())
            satisfied = true;
    }
    if (done_now == tasks.size())
        satisfied = true;
    if (!satisfied) {
        // Every task's callback runs once, also for tasks already done.
        detail::child_watch<std::vector<task<T>>, progress> watch(tasks, state);
        timer_handle timer;
        if (timeout)
            timer = loop.call_later(*timeout, [w = state.wake]() mutable {
                if (!w.done())
                    w.set_result();
            });
        try {
            co_await state.wake;
        } catch (...) {
            timer.cancel();
            throw;
        }
        timer.cancel();
    }
    wait_result<T> out;
    for (task<T>& t : tasks)
        (t.done() ? out.done : out.pending).push_back(std::move(t));
    co_return out;
}

/// asyncio.as_completed: hands out the tasks in the order they finish.
///
///     auto finished = corio::as_completed(std::move(tasks));
///     while (finished.has_next()) { corio::task<int> t = co_await finished.next(); ... }
///
/// next() returns a done task (call result() on it) and throws timeout_error once `timeout`
/// seconds have passed since as_completed was called. Not movable: the tasks' callbacks
/// point at it.
template <class T>
class as_completed {
public:
    explicit as_completed(std::vector<task<T>> tasks, std::optional<double> timeout = std::nullopt)
        : tasks_(std::move(tasks)), loop_(get_running_loop()) {
        detail::ensure_scheduled(tasks_, loop_);
        if (timeout)
            deadline_ = loop_.time() + *timeout;
        watch_.emplace(tasks_, *this);
    }
    as_completed(const as_completed&) = delete;
    as_completed& operator=(const as_completed&) = delete;

    bool has_next() const noexcept { return handed_out_ < tasks_.size(); }

    task<task<T>> next() {
        if (!has_next())
            throw std::out_of_range("as_completed: no more tasks");
        if (finished_.empty()) {
            wake_ = loop_.create_future();
            timer_handle timer;
            if (deadline_)
                timer = loop_.call_at(*deadline_, [w = wake_]() mutable {
                    if (!w.done())
                        w.set_result();
                });
            try {
                co_await wake_;
            } catch (...) {
                timer.cancel();
                throw;
            }
            timer.cancel();
            if (finished_.empty())
                throw timeout_error();
        }
        ++handed_out_;
        std::size_t i = finished_.front();
        finished_.pop_front();
        co_return tasks_[i];
    }

    void child_done(std::size_t i) {
        finished_.push_back(i);
        if (wake_.valid() && !wake_.done())
            wake_.set_result();
    }

private:
    std::vector<task<T>> tasks_;
    event_loop& loop_;
    std::optional<double> deadline_;
    std::deque<std::size_t> finished_;
    std::size_t handed_out_ = 0;
    future<void> wake_;
    std::optional<detail::child_watch<std::vector<task<T>>, as_completed>>
        watch_;  // last: detaches first
};

/// asyncio.shield: a future that follows `inner` (scheduled if it is a coroutine), except that
/// cancelling the future (for instance because the task awaiting it was cancelled) does not
/// cancel `inner`, which runs on to completion.
template <class T>
future<T> shield(task<T> inner) {
    event_loop& loop = get_running_loop();
    if (!inner.promise()->scheduled())
        inner = loop.create_task(std::move(inner));
    future<T> outer = loop.create_future<T>();
    inner.promise()->add_done_callback(
        detail::future_state_base::done_fn([outer](detail::future_state_base& s) mutable {
            if (outer.done())
                return;  // the outer was cancelled; the inner ran on regardless
            auto& p = static_cast<detail::task_promise<T>&>(s);
            if (p.cancelled()) {
                outer.cancel();
            } else if (std::exception_ptr e = p.exception()) {
                outer.set_exception(e);
            } else if constexpr (std::is_void_v<T>) {
                outer.set_result();
            } else if constexpr (std::is_copy_constructible_v<T>) {
                outer.set_result(p.result());
            } else {
                outer.set_result(std::move(p.result()));
            }
        }));
    return outer;
}

}  // namespace corio
