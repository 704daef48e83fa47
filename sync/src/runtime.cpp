// runtime: starting, pinning and stopping the loops (runtime.hpp).
#include <pthread.h>

#include <chrono>
#include <exception>
#include <latch>

#include <corio/log.hpp>
#include <corio/runtime.hpp>

namespace corio {
namespace {

thread_local std::optional<std::size_t> current_index;
thread_local runtime* current_runtime = nullptr;  // the runtime whose loop runs on this thread

}  // namespace

std::optional<std::size_t> runtime::this_loop_index() noexcept {
    return current_index;
}

runtime::runtime(options opts)
    : opts_(std::move(opts)),
      topology_(topology::detect()),
      plan_(topology_.plan(opts_.loops, opts_.cpus)),
      pairs_(plan_.cpus.size()) {
    if (plan_.oversubscribed) {
        log(log_level::warning, "runtime: " + std::to_string(plan_.cpus.size()) + " loops on " +
                                    topology_.describe() + ": some loops share a CPU");
    }
    const std::size_t n = plan_.cpus.size();
    loops_.resize(n);
    std::vector<std::exception_ptr> errors(n);
    std::latch ready(static_cast<std::ptrdiff_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
        threads_.emplace_back([this, i, &errors, &ready] {
            try {
                // Named for top, gdb and /proc: "corio-loop-3" (at most 15 characters).
                pthread_setname_np(pthread_self(), ("corio-loop-" + std::to_string(i)).c_str());
                if (opts_.pin)
                    topology_.pin_this_thread(plan_.cpus[i]);
                // Built on its own thread: the thread that runs a loop is its ring's issuer.
                loops_[i] = std::make_unique<event_loop>(opts_.loop);
            } catch (...) {
                errors[i] = std::current_exception();
            }
            // The latch's count_down/wait pair orders loops_[i] and errors[i] before the
            // constructor reads them.
            ready.count_down();
            if (loops_[i]) {
                current_index = i;
                current_runtime = this;
                run_loop(*loops_[i]);
            }
        });
    }
    ready.wait();
    for (std::exception_ptr& e : errors) {
        if (e) {
            stop();
            std::rethrow_exception(e);
        }
    }
}

runtime::~runtime() {
    stop();
}

std::size_t runtime::sender_index() const noexcept {
    return current_runtime == this ? *current_index : size();
}

std::int64_t runtime::now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// On the receiving loop's thread, which is a loop of the runtime that sent the message
// (submit_to's target is one of its loops).
void runtime::note_arrival(std::uint32_t from, std::int64_t sent_at) noexcept {
    runtime* rt = current_runtime;
    if (rt == nullptr)
        return;
    rt->pairs_.note_received(from, *current_index, sent_at != 0 ? now_ns() - sent_at : -1);
}

runtime_stats runtime::stats() const {
    runtime_stats out;
    for (const auto& l : loops_)
        out.loops.push_back(l ? l->stats() : loop_stats{});
    out.pairs = pairs_.snapshot();
    return out;
}

event_loop& runtime::loop(std::size_t i) const {
    if (i >= loops_.size() || !loops_[i]) {
        throw std::out_of_range("runtime has no loop " + std::to_string(i) + " (it has " +
                                std::to_string(loops_.size()) + ")");
    }
    return *loops_[i];
}

void runtime::run_loop(event_loop& loop) {
    // A user's loop.stop() ends one run_forever, not the loop's life.
    while (!stopping_.load(std::memory_order_acquire))
        loop.run_forever();
    // Let what was queued before the stop run: a few more iterations, each of which drains
    // the inbox (messages from several producers are not ordered against the stop message).
    for (int i = 0; i < 3; ++i) {
        loop.stop();
        loop.run_forever();
    }
    loop.shutdown_default_executor();
    // Whatever still arrives is refused to its submitter by close() (and reported).
    loop.close();
}

void runtime::stop() {
    for (const std::thread& t : threads_) {
        if (t.get_id() == std::this_thread::get_id()) {
            throw std::logic_error("runtime::stop() called from one of its own loops");
        }
    }
    stopping_.store(true, std::memory_order_release);  // submissions are refused from here on
    if (joined_.exchange(true, std::memory_order_acq_rel))
        return;  // stopping twice: harmless
    for (auto& l : loops_) {
        if (l && !l->is_closed()) {
            try {
                l->call_soon_threadsafe([p = l.get()] { p->stop(); });
            } catch (const std::exception&) {
                // Closed meanwhile: its thread is finishing anyway.
            }
        }
    }
    for (std::thread& t : threads_) {
        if (t.joinable())
            t.join();
    }
}

}  // namespace corio
