// The loop's time source, injectable so that tests control time exactly (Seastar's
// manual_clock, tokio's pause). Times are nanoseconds on a monotonic scale.
#pragma once

#include <atomic>
#include <cstdint>

namespace corio {

class clock_source {
public:
    virtual ~clock_source() = default;
    /// Nanoseconds since an arbitrary fixed origin; never decreases.
    virtual std::int64_t now_ns() const noexcept = 0;
};

/// CLOCK_MONOTONIC, as asyncio's time.monotonic().
class steady_clock_source final : public clock_source {
public:
    std::int64_t now_ns() const noexcept override;
    /// One process-wide instance, what loops use unless told otherwise.
    static steady_clock_source& instance() noexcept;
};

/// A clock that moves only when told to. Readable from any thread; advance() from one.
class manual_clock final : public clock_source {
public:
    explicit manual_clock(std::int64_t start_ns = 0) noexcept : now_(start_ns) {}
    std::int64_t now_ns() const noexcept override { return now_.load(std::memory_order_relaxed); }
    void advance(std::int64_t delta_ns) noexcept {
        now_.fetch_add(delta_ns, std::memory_order_relaxed);
    }
    void set(std::int64_t t_ns) noexcept { now_.store(t_ns, std::memory_order_relaxed); }

private:
    // Relaxed: the value carries no other data; a test that advances time from one thread
    // and reads it from the loop synchronises through the loop itself.
    std::atomic<std::int64_t> now_;
};

}  // namespace corio
