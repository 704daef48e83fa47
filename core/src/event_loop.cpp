// The event loop's iteration and lifecycle (asyncio's base_events.py).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <corio/detail/task_base.hpp>
#include <corio/events.hpp>
#include <corio/log.hpp>

namespace corio {

// One iteration, asyncio's _run_once, and the only place where callbacks are called.
//
// Contract: the callbacks that run in step 5 are exactly those that were ready when step 5
// began: earlier call_soon calls, I/O completions from step 3, timers due in step 4 and
// messages drained in step 1 (or, by a loop that found none there and then blocked or
// idle-polled in step 3, right after that poll). Whatever they schedule runs in the next iteration,
// after the backend has been polled again, so a callback that keeps rescheduling itself cannot
// starve I/O, timers or other threads' messages.
void event_loop::run_once() {
    ++stats_.iterations;
    // 1. Remote submissions join the ready queue in bulk.
    drain_inbox(detail::drain_point::iteration_start);
    // 2. Zero if anything is ready, else until the earliest live timer, else no limit.
    std::chrono::nanoseconds timeout = compute_timeout();
    // 3. Completions and readiness become ready entries (no coroutine resumes in here).
    poll_backend(timeout);
    // 4. Due timers join the ready queue in (deadline, sequence) order.
    fire_due_timers();
    // 5. Run the snapshot.
    run_ready();
}

void event_loop::drain_inbox(detail::drain_point at) {
    if (inbox_)
        inbox_->drain(*this, at);
}

std::chrono::nanoseconds event_loop::compute_timeout() {
    using std::chrono::nanoseconds;
    if (!ready_.empty() || stopping_)
        return nanoseconds(0);
    drop_cancelled_timers();
    if (timers_.empty())
        return nanoseconds(-1);
    std::int64_t wait = timers_.top().deadline - clock_->now_ns();
    return nanoseconds(wait > 0 ? wait : 0);
}

void event_loop::poll_backend(std::chrono::nanoseconds timeout) {
    detail::completion_sink sink(ready_, stats_);
    if (timeout.count() != 0) {
        // The handshake with producers (sync/detail/wakeup.hpp): announce, then block only
        // if nothing slipped into the inbox meanwhile.
        if (inbox_ && !inbox_->prepare_to_block(timeout))
            timeout = std::chrono::nanoseconds(0);
        if (timeout.count() == 0) {
            backend_->poll(timeout, sink);
        } else {
            // Two clock reads per blocking poll, which is a syscall anyway: busy vs. asleep.
            ++stats_.blocking_polls;
            const std::int64_t start = clock_->now_ns();
            stats_.asleep_since_ns = static_cast<std::uint64_t>(start);
            backend_->poll(timeout, sink);
            // Cleared first: a snapshot in between undercounts for an instant, never twice.
            stats_.asleep_since_ns = 0;
            stats_.sleep_ns += static_cast<std::uint64_t>(clock_->now_ns() - start);
        }
        if (inbox_) {
            inbox_->finish_block();
            // Step 1 found nothing, so whatever is there now cut the poll short or woke it:
            // into this iteration's snapshot, not the next one's (a round trip from another
            // thread would otherwise pay a whole idle iteration).
            drain_inbox(detail::drain_point::after_poll);
        }
        return;
    }
    backend_->poll(timeout, sink);
}

void event_loop::fire_due_timers() {
    if (timers_.empty())
        return;
    if (cancelled_timers_ > 64 && cancelled_timers_ * 2 > timers_.size()) {
        // Lazy cancellation keeps cancel O(1); compaction keeps a cancel-heavy workload
        // from growing the heap without bound (asyncio's 50% rule).
        timers_.compact(pool_);
        cancelled_timers_ = 0;
        ++stats_.timer_compactions;
    }
    const std::int64_t now = clock_->now_ns();
    while (!timers_.empty() && timers_.top().deadline <= now) {
        detail::callback_record* rec = timers_.top().rec;
        timers_.pop();
        if (rec->state == detail::record_state::cancelled) {
            --cancelled_timers_;
            pool_.release(rec);
            continue;
        }
        rec->state = detail::record_state::ready;
        ready_.push(detail::ready_entry::of(rec));
        ++stats_.timers_fired;
    }
}

namespace {

// How many entries ahead run_ready fetches: each takes tens of nanoseconds to run, a miss to
// L3 or memory about a hundred.
constexpr std::size_t prefetch_distance = 4;

// The first three lines of what an entry points at: a coroutine frame (resume pointer, then a
// task's 112-byte state, then gcc's resume index at +136 and the awaiters: a resumption reads
// all three), a timer record, an I/O operation. Without the third line BM_task_spawn spent a
// quarter of its coroutine's time on the resume index's miss. Nothing for a callable: it is
// inline in the callable ring, which is read in order anyway.
inline void prefetch_object(detail::ready_entry e) noexcept {
    if (e.bits == 0)
        return;
    const char* p = static_cast<const char*>(e.pointer());
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
}

}  // namespace

void event_loop::run_ready() {
    std::size_t count = ready_.size();  // asyncio's ntodo
    if (debug_) [[unlikely]] {
        run_ready_debug(count);
        return;
    }
    // Task steps are counted here and published once: the counter is read by other threads,
    // so each ++ would be a load and a store to memory.
    std::uint64_t steps = 0;
    while (count-- > 0) {
        // Thousands of ready tasks' frames do not fit in L2: fetch a later entry's object
        // while this one runs, instead of missing on each in turn (BM_task_spawn).
        if (count >= prefetch_distance)
            prefetch_object(ready_.peek(prefetch_distance));
        const detail::ready_entry entry = ready_.pop();
        if (entry.kind() == detail::entry_kind::coroutine) {  // a task step: the commonest
            ++steps;
            std::coroutine_handle<>::from_address(entry.pointer()).resume();
            continue;
        }
        run_entry(entry);
    }
    stats_.coroutines_resumed += steps;
}

// ---------------------------------------------------------------------------------------

void event_loop::run_callable(detail::ready_callable& fn) noexcept {  // hot: no alloc
    if (!fn) {  // cancelled through its handle
        ++stats_.callbacks_cancelled;
        return;
    }
    ++stats_.callbacks_run;
    try {
        fn.call_once();  // moves the callable out first: its slot may be reused meanwhile
    } catch (...) {
        report_callback_error(std::current_exception());
    }
}

void event_loop::run_entry(detail::ready_entry entry) noexcept {  // hot: no alloc
    if (entry.bits == 0) {
        run_callable(ready_.pop_callable());
        return;
    }
    switch (entry.kind()) {
        case detail::entry_kind::record:
            run_callback(static_cast<detail::callback_record*>(entry.pointer()));
            return;
        case detail::entry_kind::coroutine:
            ++stats_.coroutines_resumed;
            // A coroutine's promise catches what its body throws; resume() does not throw.
            std::coroutine_handle<>::from_address(entry.pointer()).resume();
            return;
        case detail::entry_kind::io:
            static_cast<detail::io_op*>(entry.pointer())->complete();
            return;
    }
}

void event_loop::run_callback(detail::callback_record* rec) noexcept {  // hot: no alloc
    if (rec->state == detail::record_state::cancelled) {
        ++stats_.callbacks_cancelled;
        pool_.release(rec);
        return;
    }
    rec->state = detail::record_state::running;
    ++stats_.callbacks_run;
    try {
        rec->fn.call_once();
    } catch (...) {
        report_callback_error(std::current_exception());
    }
    pool_.release(rec);
}

// Debug mode's stall detector: times each callback and the iteration's whole step 5, and
// names what was slow. A task step is named by its task, looked up among the live tasks only
// when a report is due (a task that ended in that step may already be freed, and a task
// created in the step may have reused its address: its id is newer than the step).
void event_loop::run_ready_debug(std::size_t count) {
    const std::size_t ran = count;
    const std::int64_t iteration_start = clock_->now_ns();
    double slowest = 0;
    std::string slowest_what;
    while (count-- > 0) {
        last_task_step_ = nullptr;
        last_task_ended_.clear();
        const std::uint32_t ids_before = task_ids_;
        const std::int64_t start = clock_->now_ns();
        run_entry(ready_.pop());
        const double took = static_cast<double>(clock_->now_ns() - start) * 1e-9;
        if (took < slow_callback_s_ && took <= slowest)
            continue;
        std::string what = describe_step(last_task_step_, ids_before);
        if (took >= slow_callback_s_) {
            ++stats_.slow_callbacks;
            char text[64];
            std::snprintf(text, sizeof text, " took %.3f seconds", took);
            log(log_level::warning, "Executing " + what + text);
        }
        if (took > slowest) {
            slowest = took;
            slowest_what = std::move(what);
        }
    }
    const double total = static_cast<double>(clock_->now_ns() - iteration_start) * 1e-9;
    if (total >= slow_callback_s_ && slowest < slow_callback_s_) {
        ++stats_.slow_iterations;
        char text[160];
        std::snprintf(
            text, sizeof text,
            "Loop iteration ran %zu callbacks for %.3f seconds; the slowest (%.3f s) was ", ran,
            total, slowest);
        log(log_level::warning, text + slowest_what);
    }
}

std::string event_loop::describe_step(detail::task_base* t, std::uint32_t ids_before) const {
    if (t == nullptr)
        return "a callback";
    bool live = false;
    tasks_.for_each([t, &live](detail::task_base* each) { live = live || each == t; });
    if (live && t->id() <= ids_before)
        return "a step of " + t->describe();
    return "the last step of " + last_task_ended_;
}

void event_loop::report_callback_error(std::exception_ptr error) noexcept {
    ++stats_.callback_errors;
    call_exception_handler({"Exception in callback", std::move(error), "callback"});
}

// -- Lifecycle ----------------------------------------------------------------------------

namespace {

// Before close() destroys any frame, every op in flight must be given back by the kernel
// (io_op.hpp): cancel them all, then poll into a scratch queue whose entries are dropped, not
// run (their frames are about to be destroyed), for at most about two seconds. False if some
// op is still pending then.
// A finished op that close() drops rather than runs; any other entry needs nothing.
void discard_op(detail::ready_entry e) noexcept {
    if (e.kind() == detail::entry_kind::io)
        static_cast<detail::io_op*>(e.pointer())->discarded();
}

bool drain_in_flight_ops(detail::backend& backend, loop_stats& stats) noexcept {
    if (backend.pending_ops() == 0)
        return true;
    using clock = std::chrono::steady_clock;
    const clock::time_point give_up = clock::now() + std::chrono::seconds(2);
    backend.cancel_all();
    try {
        detail::ready_queue scratch;
        detail::completion_sink sink(scratch, stats);
        while (backend.pending_ops() > 0 && clock::now() < give_up) {
            backend.poll(std::chrono::milliseconds(10), sink);
            scratch.clear(discard_op);
        }
    } catch (...) {
        return false;  // the backend cannot be polled: assume the kernel keeps the ops
    }
    return backend.pending_ops() == 0;
}

}  // namespace

event_loop::event_loop(std::unique_ptr<detail::backend> backend, clock_source& clock,
                       std::unique_ptr<detail::inbox_hook> inbox)
    : backend_(std::move(backend)), inbox_(std::move(inbox)), clock_(&clock) {
    if (!backend_)
        throw std::invalid_argument("event_loop needs a backend");
    if (inbox_)
        inbox_->attach(*this);
}

event_loop::~event_loop() {
    if (is_running())
        std::terminate();  // destroying a running loop: a bug, not a state
    close();
    // A producer that raced with close() may have enqueued after its sweep: sweep again, on
    // this thread, while the handler and the stats still exist.
    if (inbox_)
        inbox_->close(*this);
}

loop_stats event_loop::stats() const noexcept {
    loop_stats snapshot = stats_;
    if (inbox_)
        snapshot.inbox_depth = inbox_->depth();
    const std::uint64_t running = snapshot.running_since_ns, asleep = snapshot.asleep_since_ns;
    if (running != 0 || asleep != 0) {
        const auto now = static_cast<std::uint64_t>(clock_->now_ns());
        if (running != 0 && now > running)
            snapshot.run_ns += now - running;
        if (asleep != 0 && now > asleep)
            snapshot.sleep_ns += now - asleep;
    }
    return snapshot;
}

void event_loop::check_can_run() const {
    if (is_closed())
        throw std::runtime_error("Event loop is closed");
    if (is_running())
        throw std::runtime_error("This event loop is already running");
    if (detail::running_loop() != nullptr) {
        throw std::runtime_error("Cannot run the event loop while another loop is running");
    }
}

void event_loop::run_forever() {
    check_can_run();
    struct running_scope {
        event_loop& loop;
        explicit running_scope(event_loop& l) : loop(l) {
            loop.owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
            loop.running_.store(true, std::memory_order_relaxed);
            detail::set_running_loop(&loop);
            loop.stats_.running_since_ns = static_cast<std::uint64_t>(loop.clock_->now_ns());
        }
        ~running_scope() {
            const auto since = static_cast<std::int64_t>(loop.stats_.running_since_ns.load());
            loop.stats_.running_since_ns = 0;
            loop.stats_.run_ns += static_cast<std::uint64_t>(loop.clock_->now_ns() - since);
            detail::set_running_loop(nullptr);
            loop.stopping_ = false;
            loop.running_.store(false, std::memory_order_relaxed);
            loop.owner_.store(std::thread::id(), std::memory_order_relaxed);
        }
    } scope(*this);
    for (;;) {
        run_once();
        if (stopping_)
            break;
    }
}

void event_loop::close() {
    if (is_running())
        throw std::runtime_error("Cannot close a running event loop");
    if (closed_.load(std::memory_order_relaxed))
        return;
    if (!drain_in_flight_ops(*backend_, stats_)) {
        // The kernel may still write into these frames: leak them rather than free them.
        log(log_level::error,
            "Event loop closed with I/O operations the kernel did not give "
            "back; their tasks' frames are leaked, not destroyed");
        while (detail::task_base* t = tasks_.last())
            detail::loop_access::unlink_task(*this, t);
    }
    if (io_extension_)
        io_extension_->on_close(*this);  // io's signal handlers, child watchers
    // asyncio clears _ready and _scheduled: callbacks not yet run are dropped. Once before the
    // tasks go, because a finished op in the queue may live in a task's frame, and once after,
    // for what their destruction scheduled.
    auto drop_ready = [this](detail::ready_entry e) {
        if (e.kind() == detail::entry_kind::record) {
            pool_.release(static_cast<detail::callback_record*>(e.pointer()));
        } else {
            discard_op(e);
        }
    };
    ready_.clear(drop_ready);
    close_pending_tasks();  // while the loop still accepts the handler's calls
    closed_.store(true, std::memory_order_relaxed);
    // Remote messages not yet drained are dropped, each telling its submitter.
    if (inbox_)
        inbox_->close(*this);
    ready_.clear(drop_ready);
    timers_.clear(pool_);
    cancelled_timers_ = 0;
}

// -- From other threads -------------------------------------------------------------------

void event_loop::refuse_threadsafe() const {
    if (!inbox_)
        throw std::runtime_error("This event loop has no inbox for cross-thread calls");
    throw std::runtime_error("Event loop is closed");
}

void event_loop::report_dropped_callback() noexcept {
    ++stats_.inbox_dropped;
    call_exception_handler(
        {"A call_soon_threadsafe callback was dropped: the event loop closed "
         "before it could run",
         std::make_exception_ptr(std::runtime_error("Event loop is closed")),
         "call_soon_threadsafe"});
}

void event_loop::shutdown_default_executor() {
    if (inbox_)
        inbox_->shutdown_default_executor();
}

// -- Handles ------------------------------------------------------------------------------

void event_loop::cancel_record(detail::callback_record* rec) noexcept {
    switch (rec->state) {
        case detail::record_state::ready:  // a fired timer waiting in the ready queue
            rec->fn.reset();
            rec->state = detail::record_state::cancelled;
            return;
        case detail::record_state::timer:
            rec->fn.reset();
            rec->state = detail::record_state::cancelled;
            ++cancelled_timers_;
            ++stats_.timers_cancelled;
            return;
        default:  // running, already cancelled, or free
            return;
    }
}

void event_loop::drop_cancelled_timers() noexcept {
    while (!timers_.empty() && timers_.top().rec->state == detail::record_state::cancelled) {
        detail::callback_record* rec = timers_.top().rec;
        timers_.pop();
        --cancelled_timers_;
        pool_.release(rec);
    }
}

void handle::cancel() {
    if (cancelled_)
        return;
    // After close() every record was released, so there is nothing to check or cancel.
    if (loop_ == nullptr || loop_->is_closed()) {
        cancelled_ = true;
        return;
    }
    detail::loop_access::check_usable(*loop_, "handle.cancel");
    cancelled_ = true;
    if (rec_ != nullptr) {
        if (rec_->generation == key_)
            loop_->cancel_record(rec_);
    } else if (detail::ready_callable* fn = loop_->ready_.pending_callback(key_)) {
        fn->reset();
    }
}

// -- Errors and checks --------------------------------------------------------------------

void event_loop::call_exception_handler(const exception_context& context) noexcept {
    if (!handler_) {
        default_exception_handler(context);
        return;
    }
    try {
        handler_(*this, context);
    } catch (...) {
        // asyncio: "Unhandled error in exception handler", then the default handler.
        default_exception_handler({"Unhandled error in exception handler", std::current_exception(),
                                   "exception handler"});
        default_exception_handler(context);
    }
}

namespace {

std::string describe(const std::exception_ptr& error) {
    if (!error)
        return {};
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (const cancelled_error& e) {
        return std::string("cancelled_error: ") + e.what();
    } catch (...) {
        return "unknown exception";
    }
}

}  // namespace

void event_loop::default_exception_handler(const exception_context& context) noexcept {
    try {
        std::string line =
            context.message.empty() ? "Unhandled exception in event loop" : context.message;
        if (!context.source.empty())
            line += " (" + context.source + ")";
        if (context.exception)
            line += ": " + describe(context.exception);
        log(log_level::error, line);
    } catch (...) {
        // Out of memory while formatting: nothing more useful can be done.
    }
}

void event_loop::check_usable_slow(const char* what) const {
    if (is_closed())
        throw std::runtime_error("Event loop is closed");
    if (debug_ && is_running() &&
        owner_.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
        throw std::runtime_error(std::string("Non-thread-safe operation invoked on an event loop "
                                             "other than the current one: ") +
                                 what);
    }
}

std::int64_t event_loop::seconds_to_ns(double seconds, const char* what) {
    if (!std::isfinite(seconds)) {
        throw std::invalid_argument(std::string(what) + " must be a finite number of seconds");
    }
    // Saturate: a deadline centuries away is "never" for a loop, and must not overflow.
    constexpr double limit = static_cast<double>(INT64_MAX / 4);
    double ns = seconds * 1e9;
    if (ns > limit)
        ns = limit;
    if (ns < -limit)
        ns = -limit;
    return static_cast<std::int64_t>(std::llround(ns));
}

}  // namespace corio
