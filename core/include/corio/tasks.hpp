// Coroutines and tasks: asyncio's tasks.py.
//
// A coroutine function returns corio::task<T>:
//
//     corio::task<int> answer() { co_await corio::sleep(0.1); co_return 42; }
//
// Calling it creates the coroutine suspended at its start (lazy, like an un-awaited Python
// coroutine object). Then either
//   - `co_await answer()` runs it inline, as part of the awaiting task (asyncio's
//     `await coro()`: no new task, no scheduling), or
//   - `corio::create_task(answer())` schedules it as a task of the running loop (its first
//     step runs in the next iteration) and returns it: a task is a future (done, result,
//     cancel, add_done_callback) that other coroutines can co_await.
// The frame holds the whole task state: a task costs one allocation.
//
// Cancellation is asyncio's: cancel(msg) throws cancelled_error into the coroutine at its
// current suspension point; the coroutine may catch it, clean up, and even carry on (then the
// task is not cancelled); uncancel()/cancelling() are Python 3.11's.
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/task_base.hpp>
#include <corio/events.hpp>
#include <corio/futures.hpp>

namespace corio {

template <class T = void>
class task;

namespace detail {

template <class T>
class task_promise;

// Common to every awaiter that suspends a task: records what the task waits on, and makes the
// task current again when it resumes.
template <class P>
task_base& awaiting_task(std::coroutine_handle<P> h) noexcept {
    return *h.promise().root();
}

// co_await on a future or on a scheduled task: wait for it to be done (asyncio's
// Future.__await__ and Task.__step's `_fut_waiter`).
template <class State>
class state_awaiter final : public task_waiter {
public:
    explicit state_awaiter(State* state) noexcept : state_(state) {}

    bool await_ready() const noexcept { return state_->done(); }

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task_ = &awaiting_task(h);
        if (static_cast<future_state_base*>(state_) == task_) {
            throw std::runtime_error("Task cannot await on itself: " + task_->get_name());
        }
        if (&state_->loop() != &task_->loop()) {
            throw std::runtime_error("Task " + task_->get_name() +
                                     " got a future attached to a different loop");
        }
        state_->add_waiter(h);
        task_->suspended_on(this);
        loop_access::set_current_task(task_->loop(), nullptr);
    }

    decltype(auto) await_resume() {
        if (task_ != nullptr) {
            task_->resume_as_current();
            task_->throw_if_cancel_requested();
        }
        return state_->result();
    }

    bool cancel_wait(const std::string& message) override { return state_->cancel(message); }

private:
    State* state_;
    task_base* task_ = nullptr;
};

// asyncio.sleep: a timer resumes the coroutine, and cancelling cancels the timer. A delay
// of zero or less is asyncio's __sleep0: the task goes straight back to the ready queue and
// resumes in the next iteration (a cancel() meanwhile is thrown when it resumes).
class sleep_awaiter final : public task_waiter {
public:
    explicit sleep_awaiter(double delay) noexcept : delay_(delay) {}
    bool await_ready() const noexcept { return false; }

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        waiter_ = &h.promise();
        if (delay_ <= 0) {  // asyncio's __sleep0: a plain ready entry, no timer
            loop_access::push_ready(waiter_->loop(), ready_entry::of(h));
            loop_access::set_current_task(waiter_->loop(), nullptr);
            return;
        }
        start_timer();
    }

    void await_resume() {
        waiter_->resume_as_current();
        waiter_->throw_if_cancel_requested();
    }

    // Stops the timer and resumes the task now; returning false leaves the cancellation (and
    // its message) pending in the task, which the resumption throws.
    bool cancel_wait(const std::string&) override {
        loop_access::cancel_timer(waiter_->loop(), timer_, timer_generation_);
        resume_next_iteration();
        return false;
    }

private:
    // The timer fired or was cancelled: a cancel() from now on waits for the resumption.
    void resume_next_iteration() {
        waiter_->root()->suspended_on(nullptr);
        loop_access::push_ready(waiter_->loop(), ready_entry::of(waiter_->coroutine()));
    }

    // Out of line: keeps the sleep(0) path above small enough to inline in every coroutine.
    [[gnu::noinline]] void start_timer() {
        // NaN reaches here too (it is not <= 0): call_later rejects it. delay_ is read before
        // timer_ takes its place.
        auto [rec, gen] = loop_access::timer_of(
            waiter_->loop().call_later(delay_, [this] { resume_next_iteration(); }));
        timer_ = rec;
        timer_generation_ = gen;
        waiter_->root()->suspended_on(this);
        loop_access::set_current_task(waiter_->loop(), nullptr);
    }

    // The delay until the timer starts, then the timer: with its generation, a timer_handle
    // in 12 bytes. Sharing a word, and keeping only the sleeping coroutine's promise (its
    // handle and its task are found from there), keeps the frame of a coroutine that sleeps
    // once within three cache lines.
    union {
        double delay_;
        callback_record* timer_;
    };
    task_base* waiter_ = nullptr;  // the awaiting coroutine's promise (root(): its task)
    std::uint32_t timer_generation_ = 0;
};

// The promise: the task's whole state lives here, inside the coroutine frame.
template <class T>
class task_promise_base : public future_state<T, task_base> {
public:
    // Lazy: the body starts when the task is scheduled or awaited. A task cancelled before
    // its first step never runs its body (asyncio throws into the unstarted coroutine).
    struct initial_awaiter {
        task_promise_base* self;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<>) const noexcept {}
        void await_resume() const {
            self->resume_as_current();
            self->throw_if_cancel_requested();
        }
    };
    initial_awaiter initial_suspend() noexcept { return {this}; }

    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<task_promise<T>> h) noexcept {
            task_promise<T>& p = h.promise();
            if (!p.scheduled())
                return p.continuation();  // back to the inline awaiter
            loop_access::set_current_task(p.loop(), nullptr);
            p.release_frame();  // the running reference; may destroy this frame
            return std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }

    void unhandled_exception() { this->finish_with(std::current_exception()); }

    // Frames come from the per-thread frame cache (detail/frame_allocator.hpp).
    static void* operator new(std::size_t size) { return allocate_frame(size); }
    static void operator delete(void* p, std::size_t size) noexcept { deallocate_frame(p, size); }

    void schedule(event_loop& loop) { task_base::schedule(loop, frame()); }
    // release() without its virtual call: the frame's type is known here.
    void release_frame() noexcept {
        if (this->drop_ref())
            task_promise_base::destroy();
    }

protected:
    std::coroutine_handle<> frame() noexcept final {
        return std::coroutine_handle<task_promise<T>>::from_promise(
            static_cast<task_promise<T>&>(*this));
    }
    void destroy() noexcept final { frame().destroy(); }
};

template <class T>
class task_promise final : public task_promise_base<T> {
public:
    task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& value) {
        this->store_value(std::forward<U>(value));
        this->finish_returned();
    }
};

template <>
class task_promise<void> final : public task_promise_base<void> {
public:
    task<void> get_return_object() noexcept;
    void return_void() { this->finish_returned(); }
};

}  // namespace detail

/// A coroutine, and once scheduled with create_task(), asyncio.Task: a future of its result.
/// Copies refer to the same task. Must not outlive its loop.
template <class T>
class task {
public:
    using promise_type = detail::task_promise<T>;
    using value_type = T;

    task() noexcept = default;
    task(const task& other) noexcept : p_(other.p_) {
        if (p_)
            p_->add_ref();
    }
    task(task&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    task& operator=(task other) noexcept {
        std::swap(p_, other.p_);
        return *this;
    }
    ~task() {
        if (p_)
            p_->release_frame();
    }

    bool valid() const noexcept { return p_ != nullptr; }

    // -- asyncio.Future's surface (meaningful once scheduled) ----------------------------
    bool done() const noexcept { return p_->done(); }
    bool cancelled() const noexcept { return p_->cancelled(); }
    decltype(auto) result() { return p_->result(); }
    std::exception_ptr exception() { return p_->exception(); }
    /// asyncio Task.cancel: requests cancellation; false if the task is already done.
    bool cancel(std::string message = {}) { return p_->cancel(std::move(message)); }
    int uncancel() noexcept { return p_->uncancel(); }
    int cancelling() const noexcept { return p_->cancelling(); }
    template <class F>
    callback_id add_done_callback(F&& fn) {
        return p_->add_done_callback(detail::future_state_base::done_fn(
            [fn = std::forward<F>(fn)](detail::future_state_base&) mutable { fn(); }));
    }
    std::size_t remove_done_callback(callback_id id) noexcept {
        return p_->remove_done_callback(id);
    }
    event_loop& get_loop() const noexcept { return p_->loop(); }
    std::string get_name() const { return p_->get_name(); }
    void set_name(std::string name) { p_->set_name(std::move(name)); }

    friend bool operator==(const task& a, const task& b) noexcept { return a.p_ == b.p_; }

    // -- Awaiting ------------------------------------------------------------------------
    /// A scheduled task: wait until it is done. An unstarted coroutine: run it inline.
    auto operator co_await() const noexcept { return awaiter{p_}; }

    detail::task_promise<T>* promise() const noexcept { return p_; }

private:
    friend class detail::task_promise<T>;
    explicit task(detail::task_promise<T>* p) noexcept : p_(p) {}

    struct awaiter {
        detail::task_promise<T>* p;
        detail::state_awaiter<detail::task_promise<T>> scheduled{p};

        bool await_ready() const noexcept { return p->scheduled() && p->done(); }

        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
            if (p->scheduled()) {
                scheduled.await_suspend(h);
                return std::noop_coroutine();
            }
            if (p->started())
                throw std::runtime_error("coroutine awaited twice");
            detail::task_base& outer = detail::awaiting_task(h);
            p->mark_started(outer.loop(), &outer);
            p->set_continuation(h);
            return std::coroutine_handle<detail::task_promise<T>>::from_promise(*p);
        }

        // A scheduled task may have several awaiters: each gets a copy (a move-only result
        // is moved out to the first). An inline coroutine has one: its result is moved out.
        T await_resume() {
            if (p->scheduled()) {
                if constexpr (std::is_void_v<T>) {
                    scheduled.await_resume();
                    return;
                } else if constexpr (std::is_copy_constructible_v<T>) {
                    return scheduled.await_resume();
                } else {
                    return std::move(scheduled.await_resume());  // move-only: one consumer
                }
            }
            detail::task_base& outer = *p->root();
            outer.resume_as_current();
            if constexpr (std::is_void_v<T>) {
                p->result();
            } else {
                return std::move(p->result());
            }
        }
    };

    detail::task_promise<T>* p_ = nullptr;
};

template <class T>
task<T> detail::task_promise<T>::get_return_object() noexcept {
    return task<T>(this);
}
inline task<void> detail::task_promise<void>::get_return_object() noexcept {
    return task<void>(this);
}

namespace detail {
// Keeps the future's state alive while a coroutine is suspended on it.
template <class T>
struct future_awaiter {
    future<T> f;
    state_awaiter<future_state<T>> a;
    bool await_ready() const noexcept { return a.await_ready(); }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        a.await_suspend(h);
    }
    decltype(auto) await_resume() { return a.await_resume(); }
};
}  // namespace detail

/// co_await on a future<T>: waits until it is done, then returns its result (or throws).
/// Awaiting a future of another loop throws std::runtime_error.
template <class T>
detail::future_awaiter<T> operator co_await(future<T> f) noexcept {
    detail::future_state<T>* s = f.state_;
    return {std::move(f), detail::state_awaiter<detail::future_state<T>>(s)};
}

namespace detail {
// create_task's checks and scheduling, shared by the free function and the loop's method.
template <class T>
[[gnu::noinline]] void start_task_checked(event_loop& loop, task_promise<T>* p,
                                          std::string_view name,
                                          const corio::source_location& where) {
    loop_access::check_usable(loop, "create_task");
    if (p == nullptr)
        throw std::invalid_argument("create_task needs a coroutine");
    if (p->started())
        throw std::runtime_error("create_task: the coroutine was already started");
    if (!name.empty()) [[unlikely]]
        p->set_name(std::string(name));
    if (loop.get_debug()) [[unlikely]]
        p->set_created_at(where);
    p->schedule(loop);
    if (const event_loop::task_factory& factory = loop.get_task_factory()) [[unlikely]] {
        factory(loop, *p);
    }
}
// The common case, always inlined into create_task's caller (as a call of its own it saved
// registers for the rare cases' calls): a fresh unnamed coroutine, on a loop that is open, not
// in debug mode and without a task factory.
template <class T>
[[gnu::always_inline]] inline void start_task(event_loop& loop, task_promise<T>* p,
                                              std::string_view name,
                                              const corio::source_location& where) {
    if (loop_access::plain_task_start(loop) && p != nullptr && !p->started() && name.empty())
        [[likely]] {
        p->schedule(loop);
        return;
    }
    start_task_checked(loop, p, name, where);
}
}  // namespace detail

/// asyncio.create_task: schedules `coro` on the running loop (its first step runs in the
/// next iteration) and returns it. Throws std::runtime_error("no running event loop").
template <class T>
task<T> create_task(task<T> coro, std::string_view name = {},
                    corio::source_location where = corio::source_location::current()) {
    detail::start_task(get_running_loop(), coro.promise(), name, where);
    return coro;
}

/// asyncio.current_task: the task running now on the running loop, or nullptr outside any
/// task. The pointer names the task (get_name(), cancel()); it is valid while the task lives.
detail::task_base* current_task();

/// asyncio.sleep: suspends the calling task for `delay` seconds; sleep(0) yields exactly one
/// loop iteration. NaN or infinity throw std::invalid_argument.
inline detail::sleep_awaiter sleep(double delay) noexcept {
    return detail::sleep_awaiter(delay);
}
template <class Rep, class Period>
detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept {
    return detail::sleep_awaiter(std::chrono::duration<double>(delay).count());
}

/// asyncio.all_tasks: the running loop's tasks that are not done yet.
std::vector<detail::task_base*> all_tasks();

template <class T>
task<T> event_loop::create_task(task<T> coro, std::string name, corio::source_location where) {
    detail::start_task(*this, coro.promise(), name, where);
    return coro;
}

template <class T>
T event_loop::run_until_complete(task<T> t) {
    if (!t.promise()->scheduled())
        t = create_task(std::move(t));
    return run_until_done<T>(t);
}

}  // namespace corio

#include <corio/detail/task_combinators.hpp>  // gather, wait, as_completed, shield
