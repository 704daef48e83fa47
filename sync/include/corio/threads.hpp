// Crossing threads and loops: asyncio's run_coroutine_threadsafe, wrap_future and to_thread,
// plus submit_to (Seastar's smp::submit_to) for loop-to-loop calls that never block.
//
//     // any thread:
//     corio::concurrent_future<int> f = corio::run_coroutine_threadsafe(work(), loop);
//     int v = f.result(std::chrono::seconds(1));
//     // on a loop, calling another loop:
//     int w = co_await corio::submit_to(other_loop, [] { return 42; });
#pragma once

#include <exception>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <corio/concurrent_future.hpp>
#include <corio/detail/inbox.hpp>
#include <corio/detail/remote_promise.hpp>
#include <corio/events.hpp>
#include <corio/executor.hpp>
#include <corio/futures.hpp>
#include <corio/tasks.hpp>

namespace corio {

namespace detail {

inline std::exception_ptr loop_closed_error() {
    return std::make_exception_ptr(std::runtime_error("Event loop is closed"));
}

// run_coroutine_threadsafe's state: also knows the task it mirrors, to cancel it.
template <class T>
class coroutine_state final : public concurrent_state<T> {
public:
    // The task, while it runs; written and read only on the loop's thread (the start message,
    // the task's done callback, the cancel message), so it needs no atomic.
    task_base* task = nullptr;

private:
    // asyncio: `loop.call_soon_threadsafe(task.cancel)` once the concurrent future is
    // cancelled. The loop must still exist (not necessarily open: a closed loop drops it).
    void on_cancelled() noexcept override {
        this->add_ref();
        try {
            post(*this->loop, [this](message_fate fate) {
                if (fate == message_fate::run && task != nullptr)
                    task->cancel({});
                this->release();
            });
        } catch (...) {
            this->release();
        }
    }
};

// Owns one reference to a concurrent state; releases it however it ends.
template <class State>
class state_ref {
public:
    explicit state_ref(State* s) noexcept : s_(s) { s_->add_ref(); }
    state_ref(state_ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    state_ref& operator=(state_ref&&) = delete;
    ~state_ref() {
        if (s_)
            s_->release();
    }
    State* operator->() const noexcept { return s_; }
    State* get() const noexcept { return s_; }

private:
    State* s_;
};

// The task's done callback: copies its outcome into the concurrent future. Destroyed unrun
// (the loop closed and dropped the pending task), it fails the future instead.
template <class T>
struct task_to_concurrent {
    coroutine_state<T>* st;  // one reference, released once

    explicit task_to_concurrent(coroutine_state<T>* s) noexcept : st(s) {}
    task_to_concurrent(task_to_concurrent&& o) noexcept : st(std::exchange(o.st, nullptr)) {}
    task_to_concurrent& operator=(task_to_concurrent&&) = delete;
    ~task_to_concurrent() {
        if (st == nullptr)
            return;
        st->task = nullptr;
        st->set_exception(loop_closed_error());
        st->release();
    }

    void operator()(future_state_base& s) {
        coroutine_state<T>* c = std::exchange(st, nullptr);
        c->task = nullptr;
        auto& state = static_cast<future_state<T, task_base>&>(s);
        if (state.cancelled()) {
            c->set_cancelled();  // back from the task: the concurrent future is cancelled too
        } else if (std::exception_ptr e = state.exception()) {
            c->set_exception(std::move(e));
        } else if constexpr (std::is_void_v<T>) {
            c->set_result();
        } else {
            c->set_result(std::move(state.result()));
        }
        c->release();
    }
};

template <class T>
void start_threadsafe(state_ref<coroutine_state<T>>& st, task<T>& coro, message_fate fate) {
    if (fate == message_fate::dropped) {
        st->set_exception(loop_closed_error());
        return;
    }
    if (st->cancelled())
        return;  // cancelled before it started: the coroutine never runs
    try {
        task<T> t = st->loop->create_task(std::move(coro));
        st->task = t.promise();
        st->add_ref();
        t.promise()->add_handoff_callback(
            future_state_base::done_fn(task_to_concurrent<T>(st.get())));
    } catch (...) {
        st->set_exception(std::current_exception());
    }
}

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {
    using value_type = T;
};

template <class T>
struct plain_result {
    using value_type = T;
};
template <class F>
struct submit_result {
    using invoked = std::invoke_result_t<std::decay_t<F>&>;
    using type = typename std::conditional_t<is_task<invoked>::value, is_task<invoked>,
                                             plain_result<invoked>>::value_type;
};

}  // namespace detail

/// asyncio.run_coroutine_threadsafe: schedules `coro` as a task of `loop` (from any thread)
/// and returns a concurrent future of its result. Cancelling that future cancels the task;
/// a task cancelled on its loop cancels the future. Throws std::runtime_error("Event loop is
/// closed") on a closed loop; a loop that closes before the task starts fails the future with
/// that error.
template <class T>
concurrent_future<T> run_coroutine_threadsafe(task<T> coro, event_loop& loop) {
    if (!coro.valid())
        throw std::invalid_argument("run_coroutine_threadsafe needs a coroutine");
    if (loop.is_closed())
        throw std::runtime_error("Event loop is closed");
    auto* st = new detail::coroutine_state<T>();
    st->loop = &loop;
    concurrent_future<T> result(st);  // adopts the first reference
    detail::state_ref<detail::coroutine_state<T>> ref(st);
    const bool open = detail::post(
        loop, [ref = std::move(ref), coro = std::move(coro)](detail::message_fate fate) mutable {
            detail::start_threadsafe(ref, coro, fate);
        });
    if (!open)
        st->set_exception(detail::loop_closed_error());  // raced with close()
    return result;
}

/// asyncio.wrap_future: a future of the running loop that completes (through its inbox) when
/// `cf` does, so a coroutine can await another thread's work without blocking. Cancelling
/// the returned future cancels `cf`.
template <class T>
future<T> wrap_future(concurrent_future<T> cf) {
    event_loop& loop = get_running_loop();
    future<T> f = loop.create_future<T>();
    cf.add_done_callback([p = detail::remote_promise<T>(f)](concurrent_future<T>& done) mutable {
        if (done.cancelled()) {
            p.cancel();
            return;
        }
        try {
            if constexpr (std::is_void_v<T>) {
                done.result();
                p.set_value();
            } else {
                p.set_value(T(done.result()));
            }
        } catch (...) {
            p.set_exception(std::current_exception());
        }
    });
    f.add_done_callback([cf](future<T>& me) mutable {
        if (me.cancelled())
            cf.cancel();
    });
    return f;
}

/// Loop-to-loop call (Seastar's smp::submit_to): runs fn() on `target`'s thread (as a task if
/// fn returns a task<R>) and returns a future of the calling loop, completed through the
/// caller's inbox: neither loop ever blocks. FIFO per calling loop. Cancelling the returned
/// future does not stop the remote work (its result is then ignored). Throws
/// std::runtime_error("Event loop is closed") if `target` is closed; if it closes before
/// running fn, the future fails with that error.
template <class F>
auto submit_to(event_loop& target, F&& fn) -> future<typename detail::submit_result<F>::type> {
    using R = typename detail::submit_result<F>::type;
    using invoked = std::invoke_result_t<std::decay_t<F>&>;
    event_loop& caller = get_running_loop();
    if (target.is_closed())
        throw std::runtime_error("Event loop is closed");
    future<R> f = caller.create_future<R>();
    detail::post(target, [fn = std::forward<F>(fn),
                          p = detail::remote_promise<R>(f)](detail::message_fate fate) mutable {
        if (fate == detail::message_fate::dropped) {
            p.set_exception(detail::loop_closed_error());
            return;
        }
        try {
            if constexpr (detail::is_task<invoked>::value) {
                task<R> t = get_running_loop().create_task(fn());
                t.promise()->add_handoff_callback(
                    detail::future_state_base::done_fn(detail::task_to_remote<R>{std::move(p)}));
            } else if constexpr (std::is_void_v<R>) {
                fn();
                p.set_value();
            } else {
                p.set_value(fn());
            }
        } catch (...) {
            p.set_exception(std::current_exception());
        }
    });
    return f;
}

/// asyncio.to_thread: runs fn(args...) on the running loop's default executor and returns a
/// future of the running loop (co_await it).
template <class F, class... Args>
auto to_thread(F&& fn, Args&&... args) {
    return get_running_loop().run_in_executor(nullptr, std::forward<F>(fn),
                                              std::forward<Args>(args)...);
}

}  // namespace corio
