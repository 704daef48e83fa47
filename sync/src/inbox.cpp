// The inbox: bulk drain into the ready queue, idle polling, producer tokens, close sweep.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <corio/detail/cpu_relax.hpp>
#include <corio/detail/inbox.hpp>
#include <corio/executor.hpp>

namespace corio::detail {
namespace {

// A drained message as a ready-queue callable: 48 bytes, no captures of its own, so it fits
// a slot inline. If the ready queue drops it uncalled (close() clears it), its destructor
// tells the message it was dropped, so nothing accepted is lost silently.
struct remote_entry {
    remote_message m;

    explicit remote_entry(remote_message&& msg) noexcept : m(std::move(msg)) {}
    remote_entry(remote_entry&&) noexcept = default;
    remote_entry& operator=(remote_entry&&) = delete;
    ~remote_entry() {
        if (m)
            m.call_once(message_fate::dropped);
    }
    void operator()() { m.call_once(message_fate::run); }  // empties m first
};
static_assert(sizeof(remote_entry) <= inline_function_capacity);

// moodycamel's bulk dequeue writes through an output iterator: this one constructs each
// message's ready-queue entry in its slot, so a drained message is moved once, from the queue's
// block into the slot it runs from. The caller reserves the room first, so no push allocates
// (or throws) while moodycamel is mid-dequeue.
struct into_ready_queue {
    event_loop* loop;
    into_ready_queue& operator*() noexcept { return *this; }
    into_ready_queue& operator++() noexcept { return *this; }
    into_ready_queue operator++(int) noexcept { return *this; }
    into_ready_queue& operator=(remote_message&& m) noexcept {
        loop_access::emplace_callback<remote_entry>(*loop, std::move(m));
        return *this;
    }
};

constexpr std::size_t batch_size = 64;
// An iteration takes at most this many messages, so that a flood cannot keep one iteration
// from reaching its poll and timers; the rest waits one iteration.
constexpr std::size_t max_per_drain = 4096;

std::chrono::nanoseconds idle_poll_from_environment() {
    const char* value = std::getenv("CORIO_IDLE_POLL_US");
    if (value == nullptr || *value == '\0')
        return inbox::default_idle_poll;
    char* end = nullptr;
    long long us = std::strtoll(value, &end, 10);
    if (end == value || us < 0)
        return inbox::default_idle_poll;
    return std::chrono::microseconds(us);
}

}  // namespace

// Its own line: the owning thread writes `posting` twice per message, and the closer reads it.
struct alignas(cache_line_size) inbox::producer_slot {
    explicit producer_slot(moodycamel::ConcurrentQueue<remote_message>& q) : token(q) {}
    moodycamel::ProducerToken token;
    std::atomic<bool> posting{false};  // inside post() (wakeup.hpp, "Closing")
};

inbox::inbox(std::optional<std::chrono::nanoseconds> idle_poll)
    : consumer_(queue_), idle_poll_(idle_poll.value_or(idle_poll_from_environment())) {}

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

bool inbox::post(remote_message&& m) {  // hot: no alloc in steady state
    producer_slot& slot = slot_for_this_thread();
    const bool open = wake_.enter(slot.posting);
    struct leave_on_exit {  // also when the enqueue throws
        wakeup& w;
        std::atomic<bool>& posting;
        ~leave_on_exit() { w.leave(posting); }
    } guard{wake_, slot.posting};
    if (!queue_.enqueue(slot.token, std::move(m)))
        throw std::bad_alloc();
    return open;
}

std::size_t inbox::drain(event_loop& loop) {  // hot: no alloc in steady state
    // A filter only, to keep an empty inbox from costing a bulk dequeue (and a batch of 64
    // callables built and destroyed) every iteration: size_approx reads each producer's
    // indices with relaxed loads. A message it misses is drained next iteration, and a loop
    // about to block re-checks through the handshake (prepare_to_block), not through this.
    if (queue_.size_approx() == 0)
        return 0;
    std::size_t total = 0;
    while (total < max_per_drain) {
        loop_access::reserve_ready(loop, batch_size);
        const std::size_t n =
            queue_.try_dequeue_bulk(consumer_, into_ready_queue{&loop}, batch_size);
        total += n;
        if (n < batch_size)
            break;
    }
    stats_->inbox_messages += total;
    if (total != 0)
        blocks_since_message_ = 0;
    return total;
}

bool inbox::idle_poll_for(std::chrono::nanoseconds window) noexcept {
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
    remote_message batch[batch_size];
    for (;;) {
        const std::size_t n = queue_.try_dequeue_bulk(consumer_, batch, batch_size);
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

inbox& inbox_of(event_loop& loop) {
    auto* in = dynamic_cast<inbox*>(loop_access::inbox(loop));
    if (in == nullptr)
        throw std::runtime_error("This event loop has no inbox for cross-thread calls");
    return *in;
}

std::unique_ptr<inbox_hook> make_inbox(std::optional<std::chrono::nanoseconds> idle_poll) {
    return std::make_unique<inbox>(idle_poll);
}

}  // namespace corio::detail
