// A loop's inbox: the MPSC queue other threads post to (moodycamel::ConcurrentQueue used with
// one consumer), drained in bulk at the top of every iteration into a batch that one ready
// entry runs. Implements core's detail::inbox_hook; no asyncio counterpart (asyncio's
// call_soon_threadsafe appends to _ready under the GIL and writes the self-pipe every time).
//
// Decisions (see also BUILD.md):
// - FIFO per producer thread, no order across producers (moodycamel's guarantee).
// - Every thread posts through a producer slot of its own (detail/producer_slots.hpp): a
//   moodycamel producer token and the thread's `posting` flag for the close handshake
//   (wakeup.hpp).
// - Idle polling lives in prepare_to_block(): before announcing sleep, the loop spins on the
//   queue's approximate size for min(idle_poll, poll timeout). A message found there costs
//   neither the sleeping_ RMWs nor a wake-up syscall. Time spent is in loop_stats.
//   It is adaptive: the loop polls only if a message arrived within its last
//   idle_poll_recency blocking polls. A loop that serves sockets and never hears from another
//   thread (an echo server) would otherwise burn one window per wake-up: measured, a quarter
//   of such a server's CPU time. A loop in a cross-thread conversation keeps polling, since
//   its messages keep coming. Counted in polls, not time: no clock read on the drain path.
// - Under a flood, step 1 drains at most once per coalescing window (drain_coalescer.hpp):
//   a few messages per dequeue cost both threads a cache-line round trip each.
// - The loop's default executor (run_in_executor(nullptr, ...)) is owned here, because core
//   cannot name sync's types.
#pragma once

#include <concurrentqueue.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <corio/detail/drain_coalescer.hpp>
#include <corio/detail/inbox_cell.hpp>
#include <corio/detail/inbox_hook.hpp>
#include <corio/detail/producer_slots.hpp>
#include <corio/detail/wakeup.hpp>
#include <corio/events.hpp>
#include <corio/stats.hpp>

namespace corio {
class thread_pool_executor;
}

namespace corio::detail {

/// The inbox. post() is thread-safe; everything else runs on the loop's thread.
class inbox final : public inbox_hook {
public:
    /// Unset idle_poll: CORIO_IDLE_POLL_US, else default_idle_poll; unset coalesce:
    /// CORIO_INBOX_COALESCE_US, else default_coalesce. Zero disables either.
    static constexpr std::chrono::nanoseconds default_idle_poll = std::chrono::microseconds(100);
    static constexpr std::chrono::nanoseconds default_coalesce = std::chrono::microseconds(2);
    explicit inbox(std::optional<std::chrono::nanoseconds> idle_poll = std::nullopt,
                   std::optional<std::chrono::nanoseconds> coalesce = std::nullopt);
    ~inbox() override;

    void attach(event_loop& loop) override;
    bool post(inbox_cell&& cell) override;
    using inbox_hook::post;  // a callable or a remote_message
    std::size_t drain(event_loop& loop, drain_point at) override;
    bool prepare_to_block(std::chrono::nanoseconds timeout) noexcept override;
    void finish_block() noexcept override;
    std::size_t depth() const noexcept override { return queue_.size_approx(); }
    void close(event_loop& loop) noexcept override;
    void shutdown_default_executor() override;

    /// The loop's default executor, started on first use. Throws std::runtime_error after
    /// shutdown_default_executor(). Loop thread only.
    thread_pool_executor& default_executor();

    std::chrono::nanoseconds idle_poll() const noexcept { return idle_poll_; }
    std::int64_t coalesce_window_ns() const noexcept { return coalescer_.window_ns(); }
    void set_idle_poll(std::chrono::nanoseconds window) noexcept { idle_poll_ = window; }
    const wakeup& handshake() const noexcept { return wake_; }
    /// How many producer slots exist (one per thread that ever posted and is alive, plus
    /// the free ones of threads that exited). For tests.
    std::size_t producer_slot_count() const;

    /// A producer thread's token and posting flag (inbox.cpp). Owned by the inbox.
    struct producer_slot;

private:
    using queue_type = moodycamel::ConcurrentQueue<inbox_cell>;

    producer_slot& slot_for_this_thread();
    void wait_for_producers() const noexcept;
    bool any_producer_posting() const noexcept;
    bool idle_poll_for(std::chrono::nanoseconds window) noexcept;
    void publish_counters() noexcept;

    // The queue first: destroyed last, after the tokens that point into it.
    queue_type queue_;
    // What producers read on every post, on lines the loop does not write while it runs: the
    // slots (their owner's serial finds a thread's slot) and the handshake's flags. Next to
    // the loop's drain state, the serial cost a cache miss per message.
    alignas(cache_line_size) producer_slots<producer_slot> slots_;
    wakeup wake_;

    // The loop thread's.
    alignas(cache_line_size) moodycamel::ConsumerToken consumer_;
    loop_stats* stats_ = nullptr;
    std::chrono::nanoseconds idle_poll_;
    static constexpr unsigned idle_poll_recency = 10;
    unsigned blocks_since_message_ = idle_poll_recency;  // blocking polls since a drain found some
    drain_coalescer coalescer_;

    // Step 1's messages, run from here by one ready entry in step 5 (run_staged): each
    // costs one move out of the queue and one call, not a ready-queue slot written and read
    // back through a wrapper. Loop thread only.
    std::vector<remote_message> staged_;
    bool batch_queued_ = false;  // its entry is in the ready queue
    void run_staged(event_loop& loop, std::size_t first, std::size_t last) noexcept;

    std::unique_ptr<thread_pool_executor> executor_;
    bool executor_shut_down_ = false;
};

/// The inbox of `loop`; throws std::runtime_error if the loop has none (a test loop).
inbox& inbox_of(event_loop& loop);
[[noreturn]] void throw_no_inbox();

/// Posts a message to `loop` from any thread (never throws for a closed loop: see
/// inbox_hook::post). Returns false if the loop was closed. `message` is a callable taking a
/// message_fate, built in place in the cell that travels (inbox_cell.hpp), or a remote_message.
template <class F>
bool post(event_loop& loop, F&& message) {
    // Through the hook, not inbox_of: its dynamic_cast cost a round trip's submitter about 90
    // instructions.
    inbox_hook* in = loop_access::inbox(loop);
    if (in == nullptr) [[unlikely]]
        throw_no_inbox();
    return in->post(std::forward<F>(message));
}

/// For the default policy (corio::io).
std::unique_ptr<inbox_hook> make_inbox(std::optional<std::chrono::nanoseconds> idle_poll,
                                       std::optional<std::chrono::nanoseconds> coalesce = {});

}  // namespace corio::detail
