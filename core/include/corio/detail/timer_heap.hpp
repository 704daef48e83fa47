// Scheduled timers: a binary min-heap keyed by (deadline, sequence), as asyncio's _scheduled.
// The sequence makes equal deadlines fire in the order they were scheduled (libuv's
// start_id). Cancellation is lazy: the record is marked and skipped when it reaches the top;
// compact() drops cancelled entries when they dominate the heap.
#pragma once

#include <cstdint>
#include <vector>

#include <corio/detail/callback_pool.hpp>

namespace corio::detail {

struct timer_entry {
    std::int64_t deadline;  // loop clock, nanoseconds
    std::uint64_t sequence;
    callback_record* rec;
};

class timer_heap {
public:
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    const timer_entry& top() const noexcept { return heap_.front(); }

    void push(const timer_entry& e);  // allocates only to grow past the largest size seen
    void pop() noexcept;

    // Removes every entry whose record is cancelled, releasing it to `pool`; O(n).
    std::size_t compact(callback_pool& pool) noexcept;

    // Releases every record (loop close).
    void clear(callback_pool& pool) noexcept;

private:
    std::vector<timer_entry> heap_;
};

}  // namespace corio::detail
