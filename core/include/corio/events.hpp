// The event loop, its handles and the thread's current loop: asyncio's events.py.
//
// One event_loop runs on one thread. Its iteration (run_once, core/src/event_loop.cpp) is
// asyncio's _run_once: drain the inbox, compute the timeout, poll the backend, move due
// timers to the ready queue, then run exactly what was ready when that step began.
//
//     corio::event_loop loop;
//     loop.call_later(0.5, [&] { loop.stop(); });
//     loop.call_soon([] { std::puts("first"); });
//     loop.run_forever();
//
// Nothing here is thread-safe unless it says so; cross-thread entry points are
// call_soon_threadsafe and friends (sync/).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <corio/clock.hpp>
#include <corio/detail/backend.hpp>
#include <corio/detail/cache_line.hpp>
#include <corio/detail/callback_pool.hpp>
#include <corio/detail/inbox_hook.hpp>
#include <corio/detail/ready_queue.hpp>
#include <corio/detail/source_location.hpp>
#include <corio/detail/task_registry.hpp>
#include <corio/detail/timer_heap.hpp>
#include <corio/exceptions.hpp>
#include <corio/stats.hpp>

namespace corio {

class event_loop;
template <class T>
class future;
template <class T>
class task;

namespace detail {
struct loop_access;
class task_base;

// Per-loop state that corio::io keeps and must release when the loop closes (signal handlers,
// child watchers), as asyncio's unix loop overrides close() to remove its signal handlers.
// core cannot name io's types, so it holds one of these and only calls on_close().
class loop_extension {
public:
    virtual ~loop_extension() = default;
    // From close(), on the closing thread, once every in-flight op has been drained (no op's
    // complete() runs after this) and before pending tasks are dropped.
    virtual void on_close(event_loop& loop) noexcept = 0;
};
}  // namespace detail

/// asyncio.Handle: returned by call_soon; cancel() keeps the callback from running.
/// A handle is a small value (copies refer to the same callback) and must not outlive its
/// loop. Once the callback has run, cancel() does nothing.
class handle {
public:
    handle() noexcept = default;

    /// Cancels the callback if it has not run yet; the callable is destroyed at once, as
    /// asyncio drops the callback's references. Not thread-safe (debug mode checks).
    void cancel();
    /// True once cancel() was called through this handle (or a copy made after the call).
    bool cancelled() const noexcept { return cancelled_; }

protected:
    friend class event_loop;
    friend struct detail::loop_access;
    // A call_soon entry, by its position in the ready queue.
    handle(event_loop* loop, std::uint64_t position) noexcept : loop_(loop), key_(position) {}
    // A timer, by its record and the record's generation when scheduled.
    handle(event_loop* loop, detail::callback_record* rec) noexcept
        : loop_(loop), rec_(rec), key_(rec->generation) {}

    event_loop* loop_ = nullptr;
    detail::callback_record* rec_ = nullptr;  // null for call_soon entries
    std::uint64_t key_ = 0;                   // ready-queue position, or record generation
    bool cancelled_ = false;
};

/// asyncio.TimerHandle: a handle for call_later / call_at, which also knows its deadline.
class timer_handle : public handle {
public:
    timer_handle() noexcept = default;
    /// The deadline on the loop's clock, in seconds (as loop.time()).
    double when() const noexcept { return static_cast<double>(when_ns_) * 1e-9; }
    std::chrono::nanoseconds when_ns() const noexcept { return std::chrono::nanoseconds(when_ns_); }

private:
    friend class event_loop;
    timer_handle(event_loop* loop, detail::callback_record* rec, std::int64_t when) noexcept
        : handle(loop, rec), when_ns_(when) {}
    std::int64_t when_ns_ = 0;
};

namespace detail {
// The cancel state a threadsafe_handle shares with its message. Thread-safe.
struct remote_cancel_state {
    enum : std::uint8_t { pending, claimed, cancelled };
    // The handle's and the message's references; the last release deletes. acq_rel on the
    // decrement so that the deleting thread sees every access the other owner made.
    std::atomic<std::uint32_t> refs{2};
    // pending -> claimed (the loop, about to run or drop the callback) or pending -> cancelled
    // (cancel(), any thread): one CAS wins. Relaxed is enough: the flag publishes no data
    // (the callable travels through the inbox's queue), and the CAS total order on this one
    // variable already decides which side won.
    std::atomic<std::uint8_t> state{pending};

    bool claim() noexcept {
        std::uint8_t expected = pending;
        return state.compare_exchange_strong(expected, claimed, std::memory_order_relaxed);
    }
    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
            delete this;
    }
};
}  // namespace detail

/// Tag for call_soon_threadsafe: return a threadsafe_handle (one small allocation).
struct with_handle_t {
    explicit with_handle_t() = default;
};
inline constexpr with_handle_t with_handle{};

/// asyncio.Handle as returned by call_soon_threadsafe: cancel() is thread-safe.
/// Copies share the same callback; the handle may outlive its loop.
class threadsafe_handle {
public:
    threadsafe_handle() noexcept = default;
    threadsafe_handle(const threadsafe_handle& o) noexcept : state_(o.state_) {
        if (state_)
            state_->refs.fetch_add(1, std::memory_order_relaxed);  // an owner exists
    }
    threadsafe_handle(threadsafe_handle&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
    threadsafe_handle& operator=(threadsafe_handle o) noexcept {
        std::swap(state_, o.state_);
        return *this;
    }
    ~threadsafe_handle() {
        if (state_)
            state_->release();
    }

    /// Keeps the callback from running; thread-safe. True if this call cancelled it, false if
    /// it had already run, started, been dropped or been cancelled.
    bool cancel() noexcept {
        if (!state_)
            return false;
        std::uint8_t expected = detail::remote_cancel_state::pending;
        return state_->state.compare_exchange_strong(
            expected, detail::remote_cancel_state::cancelled, std::memory_order_relaxed);
    }
    bool cancelled() const noexcept {
        return state_ && state_->state.load(std::memory_order_relaxed) ==
                             detail::remote_cancel_state::cancelled;
    }

private:
    friend class event_loop;
    explicit threadsafe_handle(detail::remote_cancel_state* s) noexcept : state_(s) {}
    detail::remote_cancel_state* state_ = nullptr;
};

/// What call_exception_handler receives: asyncio's context dict, as a struct.
struct exception_context {
    std::string message;
    std::exception_ptr exception;  // may be null
    std::string source;            // what failed: "callback", a task's name, ...
};

enum class backend_kind { automatic, io_uring, epoll };

/// How the default policy builds a loop (defined in corio::io, which owns the backends).
struct loop_options {
    /// automatic reads CORIO_BACKEND (io_uring | epoll | auto): io_uring when the kernel
    /// allows it, else epoll with one log line saying why.
    backend_kind backend = backend_kind::automatic;
    /// Unset: debug mode follows CORIO_DEBUG=1, as PYTHONASYNCIODEBUG.
    std::optional<bool> debug;
    /// Unset: CLOCK_MONOTONIC. A clock given here must outlive the loop.
    clock_source* clock = nullptr;
    /// How long a loop that ran out of work polls its inbox before it blocks (Seastar's
    /// idle-poll time). Unset: CORIO_IDLE_POLL_US, else 100 us; zero disables it.
    std::optional<std::chrono::nanoseconds> idle_poll;
    /// Under a flood of cross-thread messages, a loop with nothing else to do drains its inbox
    /// at most once per this window, so that messages come in batches (interrupt coalescing;
    /// sync/detail/drain_coalescer.hpp). Unset: CORIO_INBOX_COALESCE_US, else 2 us; zero
    /// disables it.
    std::optional<std::chrono::nanoseconds> inbox_coalesce;
};

class event_loop {
public:
    using exception_handler = std::function<void(event_loop&, const exception_context&)>;

    /// A loop built by the default policy (corio::io): the backend CORIO_BACKEND selects,
    /// an inbox for cross-thread calls, and the monotonic clock.
    event_loop() : event_loop(loop_options{}) {}
    explicit event_loop(const loop_options& options);

    /// Builds a loop from explicit parts (tests, custom backends). The clock must outlive
    /// the loop; `inbox` may be null (no cross-thread entry points).
    event_loop(std::unique_ptr<detail::backend> backend, clock_source& clock,
               std::unique_ptr<detail::inbox_hook> inbox = nullptr);

    /// Closes the loop if it is not closed yet. Destroying a running loop is a bug and
    /// terminates.
    ~event_loop();

    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    // -- Scheduling callbacks -----------------------------------------------------------

    /// Runs fn() in a later iteration (the next one if called from a callback), in FIFO
    /// order with other call_soon callbacks. Throws std::runtime_error("Event loop is
    /// closed") on a closed loop.
    template <class F>
    handle call_soon(F&& fn);

    /// Runs fn() once `delay` seconds have passed. A negative delay runs as soon as
    /// possible, in deadline order; NaN or infinity throws std::invalid_argument. Equal
    /// deadlines run in the order they were scheduled.
    template <class F>
    timer_handle call_later(double delay, F&& fn);
    template <class Rep, class Period, class F>
    timer_handle call_later(std::chrono::duration<Rep, Period> delay, F&& fn);

    /// Runs fn() at loop time `when` (seconds, as time()). Same rules as call_later.
    template <class F>
    timer_handle call_at(double when, F&& fn);
    template <class F>
    timer_handle call_at(std::chrono::nanoseconds when, F&& fn);

    /// The loop's clock in seconds: a fresh monotonic reading, as asyncio's loop.time().
    double time() const noexcept { return static_cast<double>(clock_->now_ns()) * 1e-9; }
    std::chrono::nanoseconds time_ns() const noexcept {
        return std::chrono::nanoseconds(clock_->now_ns());
    }

    // -- From other threads (the inbox: sync/) -----------------------------------------

    /// asyncio's loop.call_soon_threadsafe: runs fn() on this loop's thread, in a later
    /// iteration. Thread-safe; FIFO per calling thread. Allocation-free in steady state for a
    /// callable of up to 32 bytes, and so returns nothing: use the with_handle overload for a
    /// handle. Throws std::runtime_error("Event loop is closed") on a closed loop; a callback
    /// accepted while the loop closes is never silently lost: it is counted
    /// (loop_stats::inbox_dropped) and reported through the exception handler.
    template <class F>
    void call_soon_threadsafe(F&& fn);
    /// The same, returning a handle whose cancel() is thread-safe (one small allocation for
    /// the shared flag, only on this overload).
    template <class F>
    threadsafe_handle call_soon_threadsafe(with_handle_t, F&& fn);

    /// asyncio's loop.run_in_executor: runs fn(args...) on `executor` (a
    /// thread_pool_executor* or &, or nullptr for this loop's default executor) and returns a
    /// future of this loop. Defined in <corio/executor.hpp>.
    template <class E, class F, class... Args>
    auto run_in_executor(E&& executor, F&& fn, Args&&... args);

    /// asyncio's loop.shutdown_default_executor: waits for the default executor's work to
    /// finish and joins its threads (blocking, where asyncio's is a coroutine); a later
    /// run_in_executor(nullptr, ...) throws. run() calls it before closing the loop.
    void shutdown_default_executor();

    // -- Futures -------------------------------------------------------------------------

    /// asyncio's loop.create_future().
    template <class T = void>
    future<T> create_future();

    /// asyncio's loop.create_task (tasks.hpp): schedules the coroutine's first step for the
    /// next iteration and returns it as a task.
    template <class T>
    task<T> create_task(task<T> coro, std::string name = {},
                        corio::source_location where = corio::source_location::current());

    /// Called with every task create_task schedules (asyncio's set_task_factory, except that
    /// a C++ task is its coroutine frame, so the factory decorates the task - names, stats,
    /// instrumentation - instead of constructing it). Empty: none.
    using task_factory = std::function<void(event_loop&, detail::task_base&)>;
    void set_task_factory(task_factory factory) { task_factory_ = std::move(factory); }
    const task_factory& get_task_factory() const noexcept { return task_factory_; }

    // -- Running and stopping ------------------------------------------------------------

    /// Runs iterations until stop(). stop() called before run_forever() makes it run exactly
    /// one iteration. Throws std::runtime_error if the loop is closed, already running, or
    /// another loop is running in this thread.
    void run_forever();

    /// Runs until `f` is done and returns its result (or throws its exception). Throws
    /// std::runtime_error("Event loop stopped before Future completed.") if stop() ends
    /// the run first.
    template <class T>
    T run_until_complete(future<T> f);
    /// The same for a task (runners.hpp); an unscheduled coroutine is scheduled first.
    template <class T>
    T run_until_complete(task<T> t);

    /// Asks run_forever() to return: the callbacks of the current iteration all run; what
    /// they schedule waits for the next run. Not thread-safe (use call_soon_threadsafe).
    void stop() noexcept { stopping_ = true; }

    /// Drops every pending callback and timer and releases the backend. Idempotent. Throws
    /// std::runtime_error("Cannot close a running event loop") while running.
    void close();

    bool is_running() const noexcept { return running_.load(std::memory_order_relaxed); }
    bool is_closed() const noexcept { return closed_.load(std::memory_order_relaxed); }

    // -- Errors --------------------------------------------------------------------------

    /// An empty handler restores the default one.
    void set_exception_handler(exception_handler handler) { handler_ = std::move(handler); }
    const exception_handler& get_exception_handler() const noexcept { return handler_; }
    /// Calls the handler (or the default); an exception thrown by the handler is logged.
    void call_exception_handler(const exception_context& context) noexcept;
    /// Logs the context at error level through corio::log.
    void default_exception_handler(const exception_context& context) noexcept;

    // -- Debug mode ----------------------------------------------------------------------

    /// Debug mode, as asyncio's: non-thread-safe methods called from another thread than
    /// the running loop's throw, and callbacks slower than slow_callback_duration log a
    /// warning. It is also the stall detector: a callback or task step over that duration is
    /// logged by name (the task's name and where it was created), and so is an iteration
    /// whose callbacks together took longer, with its slowest one.
    void set_debug(bool enabled) noexcept { debug_ = enabled; }
    bool get_debug() const noexcept { return debug_; }
    void set_slow_callback_duration(double seconds) noexcept { slow_callback_s_ = seconds; }
    double slow_callback_duration() const noexcept { return slow_callback_s_; }

    // -- Introspection -------------------------------------------------------------------

    /// A snapshot of the loop's counters; race-free from any thread (stats.hpp).
    loop_stats stats() const noexcept;
    std::string_view backend_name() const noexcept { return backend_->name(); }

private:
    friend class handle;
    friend struct detail::loop_access;

    void run_once();
    void drain_inbox(detail::drain_point at);
    std::chrono::nanoseconds compute_timeout();
    void poll_backend(std::chrono::nanoseconds timeout);
    void fire_due_timers();
    void run_ready();
    void run_ready_debug(std::size_t count);
    std::string describe_step(detail::task_base* t, std::uint32_t ids_before) const;
    void run_callable(detail::ready_callable& fn) noexcept;
    void run_entry(detail::ready_entry entry) noexcept;
    void run_callback(detail::callback_record* rec) noexcept;
    void report_callback_error(std::exception_ptr error) noexcept;
    // Inline: a foreign thread's post is this, the inbox's post and the enqueue; each call
    // layer's register saves queue in the producer's store buffer behind the enqueue's stores.
    // The message is built in place, in a cell (detail/inbox_cell.hpp), and relocated once,
    // into the queue.
    template <class F>
    void post_threadsafe(F&& message) {  // hot: no alloc
        // A relaxed read: a close() that this misses is caught by the inbox, which reports
        // the message instead of running it.
        if (!inbox_ || closed_.load(std::memory_order_relaxed)) [[unlikely]]
            refuse_threadsafe();
        inbox_->post(std::forward<F>(message));
    }
    [[noreturn]] void refuse_threadsafe() const;
    void report_dropped_callback() noexcept;

    void check_usable(const char* what) const {
        if (closed_or_debug()) [[unlikely]]
            check_usable_slow(what);
    }
    // One branch on the hot paths that check usability: both conditions are rare.
    bool closed_or_debug() const noexcept {
        return closed_.load(std::memory_order_relaxed) | debug_;
    }
    void check_usable_slow(const char* what) const;
    void check_can_run() const;
    void cancel_record(detail::callback_record* rec) noexcept;
    void drop_cancelled_timers() noexcept;

    template <class F>
    timer_handle schedule_timer(std::int64_t deadline_ns, F&& fn, const char* what);
    template <class T, class Future>
    T run_until_done(Future& f);
    static std::int64_t seconds_to_ns(double seconds, const char* what);

    // What other threads read on every call_soon_threadsafe (inbox_, closed_) and the rest that
    // changes only at run, stop and close: a cache line of its own, so that a producer's
    // post does not miss on a line the loop writes with every callback (that false sharing
    // was a third of BM_threadsafe_flood).
    // backend_ before inbox_: the inbox (destroyed first) waits for producers still waking
    // the backend's waker.
    alignas(detail::cache_line_size) std::unique_ptr<detail::backend> backend_;
    std::unique_ptr<detail::inbox_hook> inbox_;
    clock_source* clock_;
    bool debug_ = false;
    double slow_callback_s_ = 0.1;
    // Atomic only so that other threads may ask (is_closed, debug checks) without a race;
    // relaxed because no other data is published through them.
    std::atomic<bool> running_{false};
    std::atomic<bool> closed_{false};
    std::atomic<std::thread::id> owner_{};

    // The loop thread's working state.
    alignas(detail::cache_line_size) detail::callback_pool pool_;
    detail::ready_queue ready_;
    detail::timer_heap timers_;
    std::size_t cancelled_timers_ = 0;  // cancelled records still in timers_
    std::uint64_t timer_sequence_ = 0;
    bool stopping_ = false;

    exception_handler handler_;
    loop_stats stats_;

    // Tasks (tasks.hpp): the running one, and every live scheduled one.
    detail::task_base* current_task_ = nullptr;
    detail::task_base* last_task_step_ = nullptr;  // the last task that ran a step
    std::string last_task_ended_;  // debug mode: that task's description, if it has ended
    detail::task_registry tasks_;  // every live scheduled task
    task_factory task_factory_;
    std::uint32_t task_ids_ = 0;
    void close_pending_tasks() noexcept;

    std::unique_ptr<detail::loop_extension> io_extension_;  // loop_access::io_extension
};

// -- The thread's current loop (asyncio's get_running_loop & co.) -------------------------

namespace detail {
// The loop run_forever is running in this thread. constinit and trivially destructible, so
// reading it from any translation unit is one TLS-relative load (create_task asks each time).
extern constinit thread_local event_loop* this_thread_running_loop;
[[noreturn]] void throw_no_running_loop();
}  // namespace detail

/// The loop running in this thread. Throws std::runtime_error("no running event loop").
inline event_loop& get_running_loop() {
    event_loop* loop = detail::this_thread_running_loop;
    if (loop == nullptr) [[unlikely]]
        detail::throw_no_running_loop();
    return *loop;
}
/// The running loop, or else the one set_event_loop() set for this thread. Throws
/// std::runtime_error if there is neither (asyncio 3.14 behaviour: no implicit creation).
event_loop& get_event_loop();
/// Sets (or, with nullptr, clears) this thread's current loop. Does not take ownership.
void set_event_loop(event_loop* loop) noexcept;
/// A new loop from the default policy (corio::io).
std::unique_ptr<event_loop> new_event_loop(const loop_options& options = {});

namespace detail {

// The doors other parts of corio (tasks, io, sync) use into a loop; not API.
struct loop_access {
    static void push_ready(event_loop& loop, ready_entry e) { loop.ready_.push(e); }
    template <class F>
    static void push_callback(event_loop& loop, F&& fn) {
        loop.ready_.push_callback(std::forward<F>(fn));
    }
    static void reserve_ready(event_loop& loop, std::size_t n) { loop.ready_.reserve(n); }
    static bool has_ready(const event_loop& loop) noexcept {
        return !loop.ready_.empty() || loop.stopping_;
    }
    static detail::backend& backend(event_loop& loop) noexcept { return *loop.backend_; }
    static loop_stats& stats(event_loop& loop) noexcept { return loop.stats_; }
    static inbox_hook* inbox(event_loop& loop) noexcept { return loop.inbox_.get(); }
    static void report_dropped_callback(event_loop& loop) noexcept {
        loop.report_dropped_callback();
    }
    static void report_callback_error(event_loop& loop, std::exception_ptr e) noexcept {
        loop.report_callback_error(std::move(e));
    }
    static void check_usable(const event_loop& loop, const char* what) { loop.check_usable(what); }
    // create_task needs none of check_usable's slow path nor a task factory.
    static bool plain_task_start(const event_loop& loop) noexcept {
        return !loop.closed_or_debug() && !loop.task_factory_;
    }
    static void set_current_task(event_loop& loop, task_base* t) noexcept {
        loop.current_task_ = t;
        if (t != nullptr)
            loop.last_task_step_ = t;  // for debug mode's stall reports
    }
    // A task's step begins or resumes: set_current_task(t) for a t known to be non-null,
    // without the test.
    static void resume_task(event_loop& loop, task_base* t) noexcept {
        loop.current_task_ = t;
        loop.last_task_step_ = t;
    }
    static task_base* current_task(event_loop& loop) noexcept { return loop.current_task_; }
    // A timer kept as (record, generation): 12 bytes instead of a timer_handle's 40, for
    // awaiters that live in every sleeping coroutine frame.
    static std::pair<callback_record*, std::uint32_t> timer_of(const timer_handle& h) noexcept {
        return {h.rec_, static_cast<std::uint32_t>(h.key_)};
    }
    static void cancel_timer(event_loop& loop, callback_record* rec, std::uint32_t gen) noexcept {
        if (rec != nullptr && rec->generation == gen)
            loop.cancel_record(rec);
    }
    static std::vector<task_base*> tasks(event_loop& loop);  // the live ones, in no order
    static std::uint32_t next_task_id(event_loop& loop) noexcept { return ++loop.task_ids_; }
    // Inline, defined in detail/task_base.hpp (they need task_base): every task links and
    // unlinks once, and a call each way cost more than the work.
    static inline void link_task(event_loop& loop, task_base* t);
    static inline void unlink_task(event_loop& loop, task_base* t) noexcept;
    static void note_task_ended(event_loop& loop, task_base* t);
    // corio::io's per-loop state; created by io on first use, told when the loop closes.
    static std::unique_ptr<loop_extension>& io_extension(event_loop& loop) noexcept {
        return loop.io_extension_;
    }
};

// Inline: channels and cross-thread sends ask on every call (one TLS-relative load).
inline event_loop* running_loop() noexcept {
    return this_thread_running_loop;
}
void set_running_loop(event_loop* loop) noexcept;

}  // namespace detail

// -- Template definitions -------------------------------------------------------------------

template <class F>
handle event_loop::call_soon(F&& fn) {  // hot: no alloc in steady state
    check_usable("call_soon");
    return handle(this, ready_.push_callback(std::forward<F>(fn)));
}

template <class F>
void event_loop::call_soon_threadsafe(F&& fn) {  // hot: no alloc for a callable <= 32 bytes
    post_threadsafe([this, fn = std::forward<F>(fn)](detail::message_fate fate) mutable {
        if (fate == detail::message_fate::run) {
            fn();
        } else {
            report_dropped_callback();
        }
    });
}

template <class F>
threadsafe_handle event_loop::call_soon_threadsafe(with_handle_t, F&& fn) {
    auto* state = new detail::remote_cancel_state;
    threadsafe_handle h(state);  // the handle's reference
    struct message_ref {         // the message's reference, released however it ends
        detail::remote_cancel_state* s;
        explicit message_ref(detail::remote_cancel_state* p) noexcept : s(p) {}
        message_ref(message_ref&& o) noexcept : s(std::exchange(o.s, nullptr)) {}
        ~message_ref() {
            if (s)
                s->release();
        }
    };
    post_threadsafe([this, ref = message_ref(state),
                     fn = std::forward<F>(fn)](detail::message_fate fate) mutable {
        if (!ref.s->claim())
            return;  // cancelled through its handle
        if (fate == detail::message_fate::run) {
            fn();
        } else {
            report_dropped_callback();
        }
    });
    return h;
}

template <class F>
timer_handle event_loop::schedule_timer(std::int64_t deadline_ns, F&& fn, const char* what) {
    check_usable(what);
    detail::callback_record* rec = pool_.acquire(std::forward<F>(fn), detail::record_state::timer);
    try {
        timers_.push({deadline_ns, timer_sequence_++, rec});
    } catch (...) {
        pool_.release(rec);
        throw;
    }
    ++stats_.timers_scheduled;
    return timer_handle(this, rec, deadline_ns);
}

template <class F>
timer_handle event_loop::call_later(double delay, F&& fn) {
    std::int64_t delta = seconds_to_ns(delay, "delay");
    return schedule_timer(clock_->now_ns() + delta, std::forward<F>(fn), "call_later");
}

template <class Rep, class Period, class F>
timer_handle event_loop::call_later(std::chrono::duration<Rep, Period> delay, F&& fn) {
    using namespace std::chrono;
    // Saturate instead of overflowing: a delay of centuries is "never" for a loop.
    constexpr auto limit = duration<double, std::nano>(static_cast<double>(INT64_MAX / 4));
    auto ns = duration_cast<duration<double, std::nano>>(delay);
    if (ns > limit)
        ns = limit;
    if (ns < -limit)
        ns = -limit;
    return schedule_timer(clock_->now_ns() + duration_cast<nanoseconds>(ns).count(),
                          std::forward<F>(fn), "call_later");
}

template <class F>
timer_handle event_loop::call_at(double when, F&& fn) {
    return schedule_timer(seconds_to_ns(when, "when"), std::forward<F>(fn), "call_at");
}

template <class F>
timer_handle event_loop::call_at(std::chrono::nanoseconds when, F&& fn) {
    return schedule_timer(when.count(), std::forward<F>(fn), "call_at");
}

}  // namespace corio
