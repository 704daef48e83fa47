// The inbox: bulk drain into a batch the ready queue runs, idle polling, producer tokens, close
// sweep.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <corio/detail/cpu_relax.hpp>
#include <corio/detail/inbox.hpp>
#include <corio/executor.hpp>

namespace corio::detail {
namespace {

// moodycamel's bulk dequeue writes through an output iterator: this one moves each message
// from the queue's block into the staging vector, reading the block only (inbox_cell.hpp).
// The caller reserves the room first, so nothing allocates (or throws) while moodycamel is
// mid-dequeue.
struct into_staging {
    std::vector<remote_message>* staged;
    into_staging& operator*() noexcept { return *this; }
    into_staging& operator++() noexcept { return *this; }
    into_staging operator++(int) noexcept { return *this; }
    into_staging& operator=(inbox_cell&& cell) noexcept {
        cell.take(staged->emplace_back());
        return *this;
    }
};

// close()'s sweep: into a local batch, called once the dequeue has returned (a dropped
// message may post again, to this closed inbox).
struct into_batch {
    remote_message* at;
    into_batch& operator*() noexcept { return *this; }
    into_batch& operator++() noexcept {
        ++at;
        return *this;
    }
    into_batch operator++(int) noexcept { return {at++}; }
    into_batch& operator=(inbox_cell&& cell) noexcept {
        cell.take(*at);
        return *this;
    }
};

constexpr std::size_t batch_size = 64;
// An iteration takes at most this many messages, so that a flood cannot keep one iteration
// from reaching its poll and timers; the rest waits one iteration.
constexpr std::size_t max_per_drain = 4096;

// A window in microseconds from the environment; `fallback` if unset or not a number >= 0.
std::chrono::nanoseconds window_from_environment(const char* name,
                                                 std::chrono::nanoseconds fallback) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0')
        return fallback;
    char* end = nullptr;
    long long us = std::strtoll(value, &end, 10);
    if (end == value || us < 0)
        return fallback;
    return std::chrono::microseconds(us);
}

}  // namespace

// Its own line: the owning thread writes `posting` twice per message, and the closer reads it.
struct alignas(cache_line_size) inbox::producer_slot {
    explicit producer_slot(moodycamel::ConcurrentQueue<inbox_cell>& q) : token(q) {}
    moodycamel::ProducerToken token;
    std::atomic<bool> posting{false};  // inside post() (wakeup.hpp, "Closing")
};

inbox::inbox(std::optional<std::chrono::nanoseconds> idle_poll,
             std::optional<std::chrono::nanoseconds> coalesce)
    : consumer_(queue_),
      idle_poll_(
          idle_poll.value_or(window_from_environment("CORIO_IDLE_POLL_US", default_idle_poll))),
      coalescer_(
          coalesce.value_or(window_from_environment("CORIO_INBOX_COALESCE_US", default_coalesce))
              .count(),
          max_per_drain) {}

inbox::~inbox() {
    if (executor_)
        executor_->shutdown(true);
    wake_.close_barrier();
    wait_for_producers();  // no producer may still be inside post() as we free
}

void inbox::attach(event_loop& loop) {
    stats_ = &loop_access::stats(loop);
    wake_.bind(loop_access::backend(loop).get_waker());
}

inbox::producer_slot& inbox::slot_for_this_thread() {
    return slots_.of_this_thread([this] { return std::make_unique<producer_slot>(queue_); });
}

std::size_t inbox::producer_slot_count() const {
    return slots_.size();
}

bool inbox::any_producer_posting() const noexcept {
    bool any = false;
    // Acquire, as wait_for_producers: a flag read clear covers that producer's whole post.
    slots_.for_each(
        [&any](const producer_slot& s) { any = any || s.posting.load(std::memory_order_acquire); });
    return any;
}

void inbox::wait_for_producers() const noexcept {
    slots_.for_each([](const producer_slot& s) { wakeup::wait_until_left(s.posting); });
}

[[gnu::flatten]] bool inbox::post(inbox_cell&& cell) {  // hot: no alloc in steady state
    producer_slot* slot;
    try {
        slot = &slot_for_this_thread();  // a thread's first post allocates its slot
    } catch (...) {
        cell.drop();
        throw;
    }
    const bool open = wake_.enter(slot->posting);
    // The single-element enqueue, inline here (flatten: as a call of its own, its register
    // saves were six more stores per post, see inbox_cell.hpp): the cell is relocated into
    // the block. It cannot throw (the cell's relocation cannot), and on failure it has
    // constructed nothing (it allocates first): the message dies uncalled, which tells its
    // submitter.
    const bool queued = queue_.enqueue(slot->token, std::move(cell));
    wake_.leave(slot->posting);
    if (!queued) [[unlikely]] {
        cell.drop();
        throw std::bad_alloc();
    }
    return open;
}

std::size_t inbox::drain(event_loop& loop, drain_point at) {  // hot: no alloc in steady state
    // No size_approx() filter first: on an empty queue the bulk dequeue reads what it reads
    // (each producer's tail index, the token's read-mostly fields), and under a flood a
    // second read of the tail's line, which the producer writes with every message, is a
    // second cache miss per iteration for the loop and an invalidation for the producer
    // (measured: 70% of drain's time, when it filtered).
    // staged_ holds messages without a batch entry only if reserve_ready threw last time.
    if (batch_queued_)
        return 0;
    const bool top = at == drain_point::iteration_start;
    std::int64_t began_ns = 0;
    if (top && coalescer_.may_wait(loop_access::has_ready(loop)))
        began_ns = coalescer_.wait_out(stats_->coalesce_waits, stats_->coalesce_ns);
    std::size_t total = 0;
    while (total < max_per_drain) {
        const std::size_t room = staged_.size() + batch_size;
        if (staged_.capacity() < room)
            staged_.reserve(std::max(room, 2 * staged_.capacity()));
        const std::size_t n =
            queue_.try_dequeue_bulk(consumer_, into_staging{&staged_}, batch_size);
        total += n;
        if (n < batch_size)
            break;
    }
    if (top)
        coalescer_.drained(total, began_ns);
    if (staged_.empty())
        return 0;
    const bool debug = loop.get_debug();
    loop_access::reserve_ready(loop, debug ? staged_.size() : 1);  // then no push throws
    if (debug) [[unlikely]] {
        // One entry per message, so that debug mode times each (run_ready_debug).
        for (std::size_t i = 0; i < staged_.size(); ++i)
            loop_access::push_callback(loop, [this, &loop, i] { run_staged(loop, i, i + 1); });
    } else {
        loop_access::push_callback(loop,
                                   [this, &loop, n = staged_.size()] { run_staged(loop, 0, n); });
    }
    batch_queued_ = true;
    stats_->inbox_messages += total;
    blocks_since_message_ = 0;
    return total;
}

void inbox::run_staged(event_loop& loop, std::size_t first, std::size_t last) noexcept {
    // By index: a message may run code that posts to this inbox, but only drain() stages.
    for (std::size_t i = first; i < last; ++i) {
        try {
            staged_[i].call_once(message_fate::run);
        } catch (...) {
            loop_access::report_callback_error(loop, std::current_exception());
        }
    }
    stats_->callbacks_run += last - first - 1;  // the loop counted this entry as one
    if (last == staged_.size()) {
        staged_.clear();
        batch_queued_ = false;
    }
}

bool inbox::idle_poll_for(std::chrono::nanoseconds window) noexcept {
    // A message that came while the loop ran its last batch (a flood) costs no clock read.
    if (queue_.size_approx() != 0) {
        ++stats_->idle_poll_hits;
        return true;
    }
    using clock = std::chrono::steady_clock;
    const clock::time_point start = clock::now();
    bool found = false;
    clock::time_point now = start;
    while (now - start < window) {
        // Check the queue after every pause (a pause is up to ~140 cycles on recent Xeons: 16
        // of them between checks cost a round trip about half a microsecond of latency), and
        // the clock only every 16 checks. Relaxed loads inside size_approx: a message missed
        // here is caught by the handshake.
        for (int i = 0; i < 16; ++i) {
            if (queue_.size_approx() != 0) {
                found = true;
                break;
            }
            cpu_relax();
        }
        if (found)
            break;
        now = clock::now();
    }
    stats_->idle_poll_ns += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count());
    if (found)
        ++stats_->idle_poll_hits;
    return found;
}

bool inbox::prepare_to_block(std::chrono::nanoseconds timeout) noexcept {
    // Counts up to idle_poll_recency and stays there until the next message.
    const bool recent = blocks_since_message_ < idle_poll_recency;
    if (recent)
        ++blocks_since_message_;
    // The same signal picks the handshake's fences (wakeup.hpp, "Quiet loops"): a loop in a
    // conversation pays membarrier per sleep, a loop that hears from nobody does not.
    if (recent) {
        wake_.stop_being_quiet();
    } else {
        wake_.try_go_quiet([this] { return any_producer_posting(); });
    }
    if (idle_poll_.count() > 0 && recent) {
        const std::chrono::nanoseconds window =
            timeout.count() < 0 ? idle_poll_ : std::min(idle_poll_, timeout);
        if (idle_poll_for(window))
            return false;
    }
    // The re-check of the handshake (wakeup.hpp): size_approx reads each producer's tail,
    // which the acquire of announce_sleep's RMW made visible for every producer RMW before it.
    const bool may_block = wake_.announce_sleep([this] { return queue_.size_approx() != 0; });
    if (!may_block)
        publish_counters();
    return may_block;
}

void inbox::finish_block() noexcept {
    wake_.finish_sleep();
    publish_counters();
}

void inbox::publish_counters() noexcept {
    stats_->wakeups_sent = wake_.sent();
    stats_->wakeups_redundant = wake_.redundant();
}

void inbox::close(event_loop&) noexcept {
    wake_.close_barrier();
    wait_for_producers();  // what they enqueued is visible now, and they are gone
    // A batch whose entries close() dropped from the ready queue: its messages first, in
    // their order (a dropped message may post again; the sweep below catches that).
    for (remote_message& m : staged_) {
        if (m)
            m.call_once(message_fate::dropped);
    }
    staged_.clear();
    batch_queued_ = false;
    remote_message batch[batch_size];
    for (;;) {
        const std::size_t n = queue_.try_dequeue_bulk(consumer_, into_batch{batch}, batch_size);
        for (std::size_t i = 0; i < n; ++i)
            batch[i].call_once(message_fate::dropped);
        if (n == 0)
            break;
    }
    if (stats_ != nullptr)
        publish_counters();
}

thread_pool_executor& inbox::default_executor() {
    if (executor_shut_down_)
        throw std::runtime_error("Executor shutdown has been called");
    if (!executor_)
        executor_ = std::make_unique<thread_pool_executor>();
    return *executor_;
}

void inbox::shutdown_default_executor() {
    executor_shut_down_ = true;
    if (executor_)
        executor_->shutdown(true);
}

void throw_no_inbox() {
    throw std::runtime_error("This event loop has no inbox for cross-thread calls");
}

inbox& inbox_of(event_loop& loop) {
    auto* in = dynamic_cast<inbox*>(loop_access::inbox(loop));
    if (in == nullptr)
        throw_no_inbox();
    return *in;
}

std::unique_ptr<inbox_hook> make_inbox(std::optional<std::chrono::nanoseconds> idle_poll,
                                       std::optional<std::chrono::nanoseconds> coalesce) {
    return std::make_unique<inbox>(idle_poll, coalesce);
}

}  // namespace corio::detail
