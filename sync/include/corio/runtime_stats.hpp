// What a runtime's loops did, readable from any thread: each loop's loop_stats, and for each
// pair of loops (and from foreign threads to each loop) the messages sent through
// runtime::submit_to and a histogram of their submit-to-run latency. Printable as a table
// (tools/corio-echo prints it on SIGUSR1).
//
// Every counter has a single writer (the sending loop for "sent", the receiving loop for
// "received" and the latency), so counting is a plain store (stat_counter); only the row of
// foreign threads, which may be many, counts with an atomic add. One message in
// latency_sample_every is timestamped: two clock reads per message would cost about as much
// as the message itself, and a sampled histogram has the same shape.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <corio/stats.hpp>

namespace corio {

/// Latency counts in power-of-two buckets: bucket k holds [2^k, 2^(k+1)) nanoseconds (bucket 0
/// also holds 0); the last bucket holds everything from about 2 seconds up.
struct latency_histogram {
    static constexpr std::size_t buckets = 32;
    std::array<std::uint64_t, buckets> count{};
    std::uint64_t samples = 0;
    std::uint64_t sum_ns = 0;

    /// The upper bound of the bucket holding the p-th quantile (0 < p <= 1), in nanoseconds;
    /// 0 when there are no samples. An overestimate by at most a factor of two.
    std::uint64_t quantile_ns(double p) const noexcept;
    double mean_ns() const noexcept {
        return samples != 0 ? static_cast<double>(sum_ns) / static_cast<double>(samples) : 0;
    }
};

/// Messages from one loop (or from foreign threads) to one loop.
struct loop_pair_stats {
    static constexpr std::size_t foreign = static_cast<std::size_t>(-1);
    std::size_t from = 0;  // a loop index, or `foreign`
    std::size_t to = 0;
    std::uint64_t sent = 0;      // counted by the sender at submission
    std::uint64_t received = 0;  // counted by the receiver when the message runs
    latency_histogram latency;   // submit-to-run, sampled
};

/// A runtime's snapshot (runtime::stats()).
struct runtime_stats {
    std::vector<loop_stats> loops;
    std::vector<loop_pair_stats> pairs;  // only the pairs that carried a message
    /// Two tables, one row per loop and one per pair, as fixed-width text. busy% is the time
    /// a loop spent outside blocking polls; on io_uring the kernel does the sockets' work
    /// inside the wait (deferred task work), so an io_uring loop looks idler than an epoll
    /// loop doing the same work.
    std::string table() const;
};

namespace detail {

// The runtime's pair counters. Indices: `from` in [0, n] (n: foreign threads), `to` in
// [0, n). Each receiving loop's block is on its own cache lines.
class pair_counters {
public:
    static constexpr std::uint64_t latency_sample_every = 16;

    explicit pair_counters(std::size_t loops);

    // On the sending thread. Returns whether this message carries a timestamp.
    bool note_sent(std::size_t from, std::size_t to) noexcept {
        std::uint64_t n;
        if (from == loops_) {
            n = foreign_sent_[to].fetch_add(1, std::memory_order_relaxed);
        } else {
            stat_counter& c = sent_[from * loops_ + to];
            n = c.load();
            c = n + 1;
        }
        return n % latency_sample_every == 0;
    }
    // On the receiving loop's thread; latency_ns < 0: the message was not sampled.
    void note_received(std::size_t from, std::size_t to, std::int64_t latency_ns) noexcept;

    std::vector<loop_pair_stats> snapshot() const;

private:
    struct alignas(64) receiver {
        std::vector<stat_counter> received;   // by sender, [0, n]
        std::vector<stat_counter> histogram;  // by sender: buckets, samples, sum
    };
    static constexpr std::size_t row = latency_histogram::buckets + 2;

    std::size_t loops_;
    std::vector<stat_counter> sent_;                        // [from * n + to], from < n
    std::vector<std::atomic<std::uint64_t>> foreign_sent_;  // by target
    std::vector<receiver> receivers_;                       // by target
};

}  // namespace detail

}  // namespace corio
