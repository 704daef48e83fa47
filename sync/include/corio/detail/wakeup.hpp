// The sleep/wake handshake between a loop and the threads that post to its inbox, written once
// (STYLE B4). No asyncio counterpart: asyncio always writes its self-pipe; this writes the
// backend's waker (an eventfd) only when the loop is announced asleep.
//
// The problem is store->load on two variables: the loop stores "asleep" then loads the queue;
// a producer stores into the queue then loads "asleep". Unless each side orders its store
// before its load, a message can sit in the inbox while the loop sleeps. Both sides therefore
// read-modify-write the same flag, `sleeping_`, with acq_rel:
//
//   loop (announce_sleep / retract / finish_sleep)   producer (notify)
//   1. sleeping_.exchange(true)                      a. enqueue the message (release stores)
//   2. re-check the queue                            b. if (sleeping_.exchange(false)) wake()
//   3. non-empty: sleeping_.exchange(false), poll
//      with timeout 0 (retract); empty: block in
//      backend::poll, then sleeping_.exchange(false)
//
// Proof. Every write to sleeping_ is an acq_rel RMW, so each reads the value written by the
// RMW just before it in sleeping_'s modification order, and synchronises with it (and with
// every earlier RMW of that release sequence). Take a producer's b and the loop's 1:
//  - b before 1: the loop's 1 synchronises with b, so the producer's a happens-before the
//    loop's re-check 2, which therefore sees the message (write-read coherence on the
//    queue's tail index) and retracts instead of blocking.
//  - 1 before b: b reads `true` (nothing but the loop writes true, and the loop's own later
//    RMWs come after b or b would read their false, in which case see the next point), so the
//    producer calls wake(): the poll returns, or the next one does at once.
//  - the loop retracted or finished (3) between 1 and b: that RMW comes before b, b reads
//    false and does not wake; but the loop's next announce 1' comes after b in the order, so
//    it synchronises with b and its re-check 2' sees the message. Before 1' the loop drains
//    anyway (step 1 of the iteration).
// So a message is never left behind a sleeping loop. A racing producer costs at most one
// spurious wake-up (counted as redundant): its eventfd write makes the next blocking poll
// return at once. A plain `store(false, relaxed)` anywhere on the loop side would break the
// chain: a later producer's b could read it without synchronising with the loop.
//
// The trap: a filter `if (sleeping_.load(acquire))` after the enqueue is *not* enough.
// moodycamel publishes with release stores, and a load after a release store may be satisfied
// before the store is visible to the loop (the x86 store buffer: store->load is the one
// reordering TSO allows), so both sides can read the other's old value and the loop sleeps on
// a message. cppcoro gets away with a load filter only because its queue publication is
// itself seq_cst (lib/static_thread_pool.cpp); Seastar because the sleeper runs a system-wide
// barrier (membarrier) before re-checking (smp_pollfn::try_enter_interrupt_mode). Either is a
// possible later optimisation, to adopt only with BM_threadsafe_flood numbers that ask for it.
//
// No std::atomic_thread_fence: ThreadSanitizer does not model fences (gcc 12 -Wtsan), while it
// sees these RMWs, so the proof above is also what TSan checks. No data travels through the
// eventfd either: TSan cannot see happens-before made by a syscall; the data's happens-before
// comes from the queue's atomics and from this flag.
//
// The word. sleeping_ is one bit of a 64-bit word that also holds a "closed" bit and the number
// of producers inside post() (libuv's uv_async_send keeps a similar pending flag, which
// uv__async_spin waits on). A producer's post() is enter (fetch_add one producer), enqueue,
// leave (the handshake RMW: clear the sleeping bit if set, else drop the count; a CAS loop,
// since it must do one or the other atomically), then, only if it cleared the bit, wake() and
// drop the count. So every write to the word is an RMW and the proof above holds unchanged
// (read "sleeping_.exchange(false)" as leave). Why the count: the loop can see a message, run it
// and be destroyed while its producer is still inside post() (after the enqueue, before or in
// wake()); close() and ~event_loop therefore wait for the count to reach zero (an acquire load
// that pairs with the producers' release decrement) before sweeping and freeing. enter also
// returns the closed bit, which close_barrier() sets with an RMW of the same word: a producer
// entering after it learns that the loop is closed (its message will be swept).
//
// Cost: two RMWs per message on one line. While the loop is busy that line stays with the
// producers (the loop writes it only when it goes to sleep), so they are cheap for one
// producer; with many, the line moves between them - measure with BM_threadsafe_flood and
// corio-stress, and if it shows, enter/leave once per bulk enqueue rather than per message.
// The word sits alone on its cache line (cache_line_size: 128, the adjacent-line prefetcher
// pairs 64-byte lines on x86; gcc 12 warns about hardware_destructive_interference_size, so a
// named constant it is).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include <corio/detail/backend.hpp>

namespace corio::detail {

inline constexpr std::size_t cache_line_size = 128;

/// The handshake: loop-side calls on the loop's thread only; producer calls from any thread.
class wakeup {
public:
    void bind(waker& w) noexcept { waker_ = &w; }

    // -- producer side (thread-safe) ------------------------------------------------------

    /// Before the enqueue. Returns false if the loop is closed (the caller still enqueues and
    /// leaves; the sweep drops the message). hot: no alloc
    bool enter() noexcept {
        // Relaxed: the count publishes nothing by itself (leave's release decrement does), and
        // an RMW reads the latest value in the word's modification order anyway, closed bit
        // included.
        return (state_.fetch_add(one_producer, std::memory_order_relaxed) & closed_bit) == 0;
    }

    /// After the enqueue: the handshake's RMW; wakes the loop if it is announced asleep, then
    /// leaves. After this returns, the producer touches neither the inbox nor the backend.
    void leave() noexcept {
        std::uint64_t s = state_.load(std::memory_order_relaxed);  // a guess for the CAS
        for (;;) {
            if ((s & sleeping_bit) == 0) {
                // acq_rel: release publishes the enqueue to the loop's next RMW (and, being the
                // last access, lets a waiting closer free the inbox); acquire keeps the word's
                // RMWs one chain.
                if (state_.compare_exchange_weak(s, s - one_producer, std::memory_order_acq_rel,
                                                 std::memory_order_relaxed)) {
                    return;
                }
                continue;
            }
            // Asleep: clear the bit (as sleeping_.exchange(false) in the proof), keep counting
            // ourselves in until the wake-up is sent, so the loop cannot be freed under wake().
            if (state_.compare_exchange_weak(s, s & ~sleeping_bit, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
                // Relaxed: a statistic, read by the loop only for loop_stats.
                sent_.fetch_add(1, std::memory_order_relaxed);
                waker_->wake();
                // Release: our last access to the inbox and backend, for a waiting closer.
                state_.fetch_sub(one_producer, std::memory_order_release);
                return;
            }
        }
    }

    // -- loop side -------------------------------------------------------------------------

    /// Announces sleep, re-checks with `has_work`, and retracts if it found work. True: the
    /// caller may block (and must call finish_sleep() after the poll).
    template <class HasWork>
    bool announce_sleep(HasWork&& has_work) noexcept {
        // acq_rel: the acquire half makes every producer leave() before this one visible to
        // the re-check below; the release half keeps every write one release sequence.
        state_.fetch_or(sleeping_bit, std::memory_order_acq_rel);
        if (!has_work())
            return true;
        // Retract. A producer that already cleared the bit has sent a wake-up we do not need.
        if ((state_.fetch_and(~sleeping_bit, std::memory_order_acq_rel) & sleeping_bit) == 0) {
            ++redundant_;
        }
        return false;
    }

    /// After the blocking poll: awake again. An RMW, never a plain store (header comment).
    void finish_sleep() noexcept { state_.fetch_and(~sleeping_bit, std::memory_order_acq_rel); }

    /// close(): producers entering from now on are told the loop is closed.
    void close_barrier() noexcept { state_.fetch_or(closed_bit, std::memory_order_acq_rel); }
    bool closed() const noexcept {
        return (state_.load(std::memory_order_relaxed) & closed_bit) != 0;
    }

    /// Waits until no producer is inside post(): then everything enqueued so far is visible
    /// and no producer will touch the inbox or the backend again (until a new post).
    void wait_for_producers() const noexcept {
        // Acquire: pairs with each producer's release decrement (its enqueue and wake-up
        // happen-before our sweep and our destructor).
        while (state_.load(std::memory_order_acquire) >= one_producer)
            std::this_thread::yield();
    }

    // Counters. sent(): relaxed, a statistic (exact once producers have stopped).
    std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_relaxed); }
    std::uint64_t redundant() const noexcept { return redundant_; }

private:
    static constexpr std::uint64_t sleeping_bit = 1;
    static constexpr std::uint64_t closed_bit = 2;
    static constexpr std::uint64_t one_producer = 4;  // the rest of the word counts producers

    alignas(cache_line_size) std::atomic<std::uint64_t> state_{0};
    waker* waker_ = nullptr;  // set before the loop runs (attach), then read-only
    // Touched only when a wake-up is sent: off the state_ line.
    alignas(cache_line_size) std::atomic<std::uint64_t> sent_{0};
    std::uint64_t redundant_ = 0;  // loop thread only
};

}  // namespace corio::detail
