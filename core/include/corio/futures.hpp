// future<T>: asyncio.Future for one loop (futures.py).
//
// A future is a reference to shared state: copies see the same result. It belongs to the
// loop that created it and must be used on that loop's thread, and must not outlive it.
// Done callbacks are never run inline: when the future completes they are scheduled with
// call_soon, in the order they were added, as asyncio's __schedule_callbacks.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/inline_function.hpp>
#include <corio/events.hpp>
#include <corio/exceptions.hpp>

namespace corio {

/// Identifies one add_done_callback registration, for remove_done_callback.
using callback_id = std::uint64_t;

namespace detail {

template <class T>
struct future_awaiter;

enum class future_status : std::uint8_t { pending, finished, cancelled };

class future_state_base;

// What combinators (gather, wait, as_completed) register on each child instead of a
// type-erased callback: one object watching many futures, told which one finished by the
// index it gave. It detaches by identity, so watching n children stores nothing per child
// outside the children themselves.
class done_watcher {
public:
    // Runs as a done callback would: from a batch of the child's callbacks, one iteration
    // after the batch was scheduled, in registration order with the child's other callbacks.
    virtual void child_done(std::uint32_t index) = 0;
    // Offered instead, at the moment the child's batch would be scheduled, when the watcher is
    // the child's only callback. Accepting (true) takes the notification now and saves the
    // ready entry, on the watcher's promise to defer whatever others can observe to where that
    // entry would have run: a call_soon made now takes exactly that place. Declining (false)
    // gets child_done() from a batch as usual.
    virtual bool child_finished(std::uint32_t) { return false; }

protected:
    ~done_watcher() = default;
    // Registrations of this watcher sitting in scheduled, not yet run, batches: notifications
    // that will arrive later but whose place in the ready queue comes before anything
    // scheduled now. A watcher that accepts child_finished() while this is non-zero would
    // see its notifications out of order.
    std::uint32_t in_batches() const noexcept { return in_batches_; }

private:
    friend class future_state_base;
    std::uint32_t in_batches_ = 0;
};

// The type-independent part of a future's state.
//
// Invariants: status_ moves once, from pending to finished or cancelled. While pending,
// first_ and rare_->more hold every registered callback. Once done, they hold those not yet run,
// and batch_scheduled_ says whether a loop callback that will run them is queued.
class future_state_base {
public:
    // Two pointers of captures inline: done callbacks are few and short, and every task
    // carries one slot.
    using done_fn = inline_function<void(future_state_base&), 16>;

    explicit future_state_base(event_loop& loop) noexcept : loop_(&loop) {}
    future_state_base(const future_state_base&) = delete;
    future_state_base& operator=(const future_state_base&) = delete;

    // States come from the per-thread frame cache (detail/frame_allocator.hpp), as tasks'
    // frames do: a future is made and dropped for every hand-off between tasks.
    // (An over-aligned value's state bypasses it.)
    static void* operator new(std::size_t size) { return allocate_frame(size); }
    static void operator delete(void* p, std::size_t size) noexcept { deallocate_frame(p, size); }
    static void* operator new(std::size_t size, std::align_val_t al) {
        return ::operator new(size, al);
    }
    static void operator delete(void* p, std::size_t size, std::align_val_t al) noexcept {
        ::operator delete(p, size, al);
    }

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (drop_ref())
            destroy();
    }

    event_loop& loop() const noexcept { return *loop_; }
    bool done() const noexcept { return status_ != future_status::pending; }
    bool cancelled() const noexcept { return status_ == future_status::cancelled; }
    // done() and cancelled or finished with an exception; like `cancelled() || exception()`
    // it marks the exception retrieved, without copying it.
    bool failed() noexcept {
        if (status_ == future_status::pending)
            return false;
        if (status_ == future_status::cancelled)
            return true;
        exception_retrieved_ = true;
        return exception_ != nullptr;
    }

    // Throws what result() must throw unless the future finished with a value.
    void check_result() {
        if (status_ != future_status::finished || exception_) [[unlikely]]
            throw_result();
    }
    std::exception_ptr exception();
    void set_exception(std::exception_ptr error);
    // asyncio's Future.cancel; a task overrides it with Task.cancel's request semantics.
    virtual bool cancel(std::string message);

    callback_id add_done_callback(done_fn fn);
    // A done callback that hands the outcome to another thread or loop (the concurrent future
    // of run_coroutine_threadsafe, a remote task's caller). If it is the only callback it runs
    // as the future completes, not from the next iteration: the other side cannot see the
    // iteration in between, only its latency. Behind other callbacks it keeps its place and
    // runs with them, in order. Run at once if the future is already done.
    callback_id add_handoff_callback(done_fn fn);
    std::size_t remove_done_callback(callback_id id) noexcept;
    // Removes the callback whether or not the future is done, as long as it has not run yet
    // (what combinators need before their frame goes away).
    std::size_t detach_done_callback(callback_id id) noexcept;
    // A coroutine to resume once done: a ready-queue entry, not a type-erased callable.
    void add_waiter(std::coroutine_handle<> waiter) { add_plain(waiter_arg, waiter.address()); }
    // w->child_done(index) once done, run as a done callback would be. Removed again, if it
    // has not run yet, by detach_watcher(w).
    void add_watcher(done_watcher* w, std::uint32_t index) { add_plain(index, w); }
    void detach_watcher(done_watcher* w) noexcept;

protected:
    future_state_base() noexcept = default;  // a task's: the loop is bound when it starts
    virtual ~future_state_base() = default;
    virtual void destroy() noexcept { delete this; }
    void bind_loop(event_loop& loop) noexcept { loop_ = &loop; }
    // Drops a reference; true if it was the last (then an exception nobody retrieved has been
    // reported), and the caller destroys the state.
    bool drop_ref() noexcept {
        if (--refs_ != 0)
            return false;
        if (exception_ && !exception_retrieved_) [[unlikely]]
            report_unretrieved();
        return true;
    }
    void check_pending(const char* what) const;
    void finish() {  // pending -> finished, then schedule the callbacks
        status_ = future_status::finished;
        schedule_callbacks();
    }
    void finish_cancelled(std::string message);  // pending -> cancelled, likewise

    // One registration: a done_fn (arg == handoff_arg: add_handoff_callback's), or (fn empty)
    // a coroutine to resume (arg == waiter_arg) or a done_watcher to tell `arg`. id 0: the
    // slot is empty.
    static constexpr std::uint32_t waiter_arg = UINT32_MAX;
    static constexpr std::uint32_t handoff_arg = UINT32_MAX - 1;
    struct done_callback {
        std::uint32_t id = 0;
        std::uint32_t arg = 0;
        void* target = nullptr;
        done_fn fn;
    };
    // What few futures need, allocated on first need behind one pointer: callbacks past the
    // first, and (a task's, see make_rare) its name and pending cancel message. One pointer
    // for both keeps a task's frame a cache line smaller.
    struct rare_data {
        virtual ~rare_data() = default;
        std::vector<done_callback> more;
    };
    virtual rare_data* make_rare() const { return new rare_data(); }
    rare_data& rare() {
        if (!rare_)
            rare_.reset(make_rare());
        return *rare_;
    }
    rare_data* rare_if_any() const noexcept { return rare_.get(); }

private:
    void add_plain(std::uint32_t arg, void* target) {
        if (first_.id == 0 && !done()) {  // no callback yet (first_ fills before the rest)
            first_.id = next_id_++;
            first_.arg = arg;
            first_.target = target;
            return;
        }
        add_callback({next_id_++, arg, target, {}});
    }
    [[noreturn]] void throw_result();
    // result()'s and exception()'s common check: a cancelled future throws its cancelled_error,
    // a pending one invalid_state_error(not_ready); a finished one counts as retrieved.
    void require_finished(const char* not_ready);
    void report_unretrieved() noexcept;
    bool more_empty() const noexcept { return !rare_ || rare_->more.empty(); }
    callback_id add_fn(std::uint32_t arg, done_fn fn);  // a done_fn registration
    bool has_callbacks() const noexcept { return first_.id != 0 || !more_empty(); }
    void add_callback(done_callback c);
    void schedule_callbacks() {
        if (!has_callbacks() || batch_scheduled_)
            return;
        if (!first_.fn && more_empty()) {
            if (first_.arg == waiter_arg) {
                // The common case, one awaiting coroutine: it becomes a ready entry of its own.
                first_.id = 0;
                loop_access::push_ready(*loop_,
                                        ready_entry::of(std::coroutine_handle<>::from_address(
                                            std::exchange(first_.target, nullptr))));
                return;
            }
            if (offer_to_watcher())
                return;  // a combinator's child: no entry at all
        } else if (first_.arg == handoff_arg && more_empty()) {
            run_handoff();
            return;
        }
        schedule_batch();
    }
    // first_ is a watcher and the only callback. What it throws is reported as a done
    // callback's would be.
    bool offer_to_watcher() noexcept {
        try {
            if (!static_cast<done_watcher*>(first_.target)->child_finished(first_.arg)) {
                return false;
            }
        } catch (...) {
            report_callback_error();
        }
        first_.id = 0;
        return true;
    }
    void report_callback_error() noexcept;
    void run_handoff() noexcept;
    void schedule_batch();
    void count_in_batch(const done_callback& c, int delta) noexcept {
        if (c.id != 0 && !c.fn && c.arg != waiter_arg) {
            static_cast<done_watcher*>(c.target)->in_batches_ += static_cast<std::uint32_t>(delta);
        }
    }
    void run_callbacks() noexcept;
    void run_one(done_callback& c) noexcept;
    // Moves a registration and empties its slot. Moving an empty done_fn (a watcher's or a
    // waiter's) calls nothing through its table.
    static void take(done_callback& to, done_callback& from) noexcept {
        to.id = std::exchange(from.id, 0);
        to.arg = from.arg;
        to.target = from.target;
        to.fn = std::move(from.fn);
    }

    // Ordered for size: the pointers first, the small fields last, so that a task's own
    // small fields fill this class's tail padding (detail/task_base.hpp).
    event_loop* loop_ = nullptr;
    // The exception set with set_exception, or, once cancelled, the cancelled_error to throw
    // (made at cancel time: a cancelled future pays for its message, others do not).
    std::exception_ptr exception_;
    // The first callback lives inline (the common case: one awaiter); more go to the rare
    // data, which is allocated on the second add only. Order of registration: first_, then
    // rare_->more.
    done_callback first_;
    // Freed out of line: rare, and every future's (every task's) destructor inlines this
    // member's, which is then one test.
    struct rare_deleter {
        void operator()(rare_data* r) const noexcept;
    };
    std::unique_ptr<rare_data, rare_deleter> rare_;
    std::uint32_t refs_ = 1;
    std::uint32_t next_id_ = 1;
    future_status status_ = future_status::pending;
    bool exception_retrieved_ = false;  // asyncio's __log_traceback, inverted
    bool batch_scheduled_ = false;
};

// The state of a future<T> (Base = future_state_base), or of a task<T> (Base = task_base).
template <class T, class Base = future_state_base>
class future_state : public Base {
public:
    using Base::Base;

    template <class U>
    void set_result(U&& value) {
        this->check_pending("set_result");
        value_.emplace(std::forward<U>(value));
        this->finish();
    }
    T& result() {
        this->check_result();
        return *value_;
    }
    template <class U>
    void store_value(U&& value) {  // a task's return value, before it finishes
        value_.emplace(std::forward<U>(value));
    }

private:
    std::optional<T> value_;
};

template <class Base>
class future_state<void, Base> : public Base {
public:
    using Base::Base;
    void set_result() {
        this->check_pending("set_result");
        this->finish();
    }
    void result() { this->check_result(); }
};

}  // namespace detail

/// asyncio.Future. Not thread-safe: use it on its loop's thread.
template <class T = void>
class future {
public:
    using value_type = T;

    /// An empty future (valid() is false); assign one from create_future().
    future() noexcept = default;
    /// A pending future on `loop`, as loop.create_future().
    explicit future(event_loop& loop) : state_(new detail::future_state<T>(loop)) {}

    future(const future& other) noexcept : state_(other.state_) {
        if (state_)
            state_->add_ref();
    }
    future(future&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    future& operator=(future other) noexcept {
        std::swap(state_, other.state_);
        return *this;
    }
    ~future() {
        if (state_)
            state_->release();
    }

    bool valid() const noexcept { return state_ != nullptr; }
    event_loop& get_loop() const noexcept { return state_->loop(); }

    bool done() const noexcept { return state_->done(); }
    bool cancelled() const noexcept { return state_->cancelled(); }

    /// The value. Throws cancelled_error if cancelled, invalid_state_error("Result is not
    /// ready.") if pending, or the exception set with set_exception.
    decltype(auto) result() { return state_->result(); }

    /// The exception, or null if the future finished with a value. Throws cancelled_error if
    /// cancelled and invalid_state_error("Exception is not set.") if pending.
    std::exception_ptr exception() { return state_->exception(); }

    /// Completes the future and schedules its callbacks. invalid_state_error if done.
    template <class U = T>
    requires(!std::is_void_v<T>) void set_result(U&& value) {
        state_->set_result(std::forward<U>(value));
    }
    void set_result() requires std::is_void_v<T> { state_->set_result(); }

    void set_exception(std::exception_ptr error) { state_->set_exception(std::move(error)); }
    template <class E>
    void set_exception(E error) {
        state_->set_exception(std::make_exception_ptr(std::move(error)));
    }

    /// Cancels a pending future and schedules its callbacks; false if it was already done.
    bool cancel(std::string message = {}) { return state_->cancel(std::move(message)); }

    /// Adds fn, called as fn(future&) or fn(), in a later loop iteration once the future is
    /// done (at once scheduled if it already is). The returned id removes it again.
    template <class F>
    callback_id add_done_callback(F&& fn) {
        return state_->add_done_callback(detail::future_state_base::done_fn(
            [fn = std::forward<F>(fn)](detail::future_state_base& s) mutable {
                if constexpr (std::is_invocable_v<F&, future&>) {
                    future self(static_cast<detail::future_state<T>*>(&s));
                    fn(self);
                } else {
                    fn();
                }
            }));
    }

    /// Removes a callback that has not been scheduled yet; returns how many were removed
    /// (0 or 1). After the future is done, callbacks are scheduled and this returns 0.
    std::size_t remove_done_callback(callback_id id) noexcept {
        return state_->remove_done_callback(id);
    }

    friend bool operator==(const future& a, const future& b) noexcept {
        return a.state_ == b.state_;
    }

private:
    template <class U>
    friend detail::future_awaiter<U> operator co_await(future<U> f) noexcept;

    // Adopts a new reference to an existing state.
    explicit future(detail::future_state<T>* state) noexcept : state_(state) { state_->add_ref(); }

    detail::future_state<T>* state_ = nullptr;
};

template <class T>
future<T> event_loop::create_future() {
    check_usable("create_future");
    return future<T>(*this);
}

// Shared by run_until_complete(future) and run_until_complete(task): both are futures.
template <class T, class Future>
T event_loop::run_until_done(Future& f) {
    check_can_run();
    if (&f.get_loop() != this) {
        throw std::invalid_argument(
            "The future belongs to a different loop than the one specified as the loop argument");
    }
    callback_id id = f.add_done_callback([this] { stop(); });
    try {
        run_forever();
    } catch (...) {
        f.remove_done_callback(id);
        throw;
    }
    f.remove_done_callback(id);
    if (!f.done())
        throw std::runtime_error("Event loop stopped before Future completed.");
    if constexpr (std::is_void_v<T>) {
        f.result();
    } else {
        return std::move(f.result());
    }
}

template <class T>
T event_loop::run_until_complete(future<T> f) {
    return run_until_done<T>(f);
}

}  // namespace corio
