// runtime_stats: the pair counters and the tables (runtime_stats.hpp).
#include <bit>
#include <cstdio>

#include <corio/runtime_stats.hpp>

namespace corio {

std::uint64_t latency_histogram::quantile_ns(double p) const noexcept {
    if (samples == 0)
        return 0;
    const double wanted = p * static_cast<double>(samples);
    std::uint64_t seen = 0;
    for (std::size_t k = 0; k < buckets; ++k) {
        seen += count[k];
        if (static_cast<double>(seen) >= wanted)
            return std::uint64_t{2} << k;  // the bucket's upper bound, 2^(k+1)
    }
    return std::uint64_t{2} << (buckets - 1);
}

namespace detail {

pair_counters::pair_counters(std::size_t loops)
    : loops_(loops), sent_(loops * loops), foreign_sent_(loops), receivers_(loops) {
    for (receiver& r : receivers_) {
        r.received.resize(loops + 1);
        r.histogram.resize((loops + 1) * row);
    }
}

void pair_counters::note_received(std::size_t from, std::size_t to,
                                  std::int64_t latency_ns) noexcept {
    receiver& r = receivers_[to];
    ++r.received[from];
    if (latency_ns < 0)
        return;
    const auto ns = static_cast<std::uint64_t>(latency_ns);
    std::size_t k = ns == 0 ? 0 : static_cast<std::size_t>(std::bit_width(ns)) - 1;
    if (k >= latency_histogram::buckets)
        k = latency_histogram::buckets - 1;
    stat_counter* h = &r.histogram[from * row];
    ++h[k];
    ++h[latency_histogram::buckets];
    h[latency_histogram::buckets + 1] += ns;
}

std::vector<loop_pair_stats> pair_counters::snapshot() const {
    std::vector<loop_pair_stats> out;
    for (std::size_t to = 0; to < loops_; ++to) {
        const receiver& r = receivers_[to];
        for (std::size_t from = 0; from <= loops_; ++from) {
            loop_pair_stats p;
            p.from = from == loops_ ? loop_pair_stats::foreign : from;
            p.to = to;
            p.sent = from == loops_ ? foreign_sent_[to].load(std::memory_order_relaxed)
                                    : sent_[from * loops_ + to].load();
            p.received = r.received[from];
            const stat_counter* h = &r.histogram[from * row];
            for (std::size_t k = 0; k < latency_histogram::buckets; ++k)
                p.latency.count[k] = h[k];
            p.latency.samples = h[latency_histogram::buckets];
            p.latency.sum_ns = h[latency_histogram::buckets + 1];
            if (p.sent != 0 || p.received != 0)
                out.push_back(p);
        }
    }
    return out;
}

}  // namespace detail

namespace {

std::string format_line(const char* fmt, auto... args) {
    char line[256];
    std::snprintf(line, sizeof line, fmt, args...);
    return line;
}

double percent(std::uint64_t part, std::uint64_t whole) {
    return whole != 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

}  // namespace

std::string runtime_stats::table() const {
    std::string out = format_line("%-5s %12s %12s %12s %10s %9s %10s %10s %10s %6s\n", "loop",
                                  "iterations", "callbacks", "task steps", "io ops", "inbox q",
                                  "wake sent", "wake recv", "redundant", "busy%");
    for (std::size_t i = 0; i < loops.size(); ++i) {
        const loop_stats& s = loops[i];
        // Busy: the time running minus the time asleep in blocking polls.
        const std::uint64_t run = s.run_ns, sleep = s.sleep_ns;
        out += format_line("%-5zu %12llu %12llu %12llu %10llu %9llu %10llu %10llu %10llu %5.1f%%\n",
                           i, static_cast<unsigned long long>(s.iterations.load()),
                           static_cast<unsigned long long>(s.callbacks_run.load()),
                           static_cast<unsigned long long>(s.coroutines_resumed.load()),
                           static_cast<unsigned long long>(s.io_completions.load()),
                           static_cast<unsigned long long>(s.inbox_depth.load()),
                           static_cast<unsigned long long>(s.wakeups_sent.load()),
                           static_cast<unsigned long long>(s.wakeups_received.load()),
                           static_cast<unsigned long long>(s.wakeups_redundant.load()),
                           run > sleep ? percent(run - sleep, run) : 0.0);
    }
    out += format_line("\n%-9s %-4s %12s %12s %10s %10s %10s\n", "from", "to", "sent", "received",
                       "p50 us", "p99 us", "mean us");
    for (const loop_pair_stats& p : pairs) {
        const std::string from =
            p.from == loop_pair_stats::foreign ? std::string("foreign") : std::to_string(p.from);
        out += format_line(
            "%-9s %-4zu %12llu %12llu %10.1f %10.1f %10.1f\n", from.c_str(), p.to,
            static_cast<unsigned long long>(p.sent), static_cast<unsigned long long>(p.received),
            static_cast<double>(p.latency.quantile_ns(0.5)) / 1e3,
            static_cast<double>(p.latency.quantile_ns(0.99)) / 1e3, p.latency.mean_ns() / 1e3);
    }
    return out;
}

}  // namespace corio
