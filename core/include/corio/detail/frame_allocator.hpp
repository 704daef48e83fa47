// Coroutine frames come from a per-thread cache of size classes in front of operator new:
// spawning and finishing a task is the hottest allocate/free pair in the runtime, and a free
// list pop/push is a fraction of malloc + free. A frame freed on another thread than the one
// that allocated it goes to the freeing thread's cache (memory migrates, nothing breaks); each
// class keeps at most a bounded number of blocks, so an idle thread holds little.
//
// Sanitizer builds bypass the cache so that ASan still sees every use-after-free.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corio::detail {

struct frame_cache_stats {
    std::uint64_t allocations = 0;  // frames handed out (cache hits and misses)
    std::uint64_t bytes = 0;        // their requested sizes, as a counting allocator sees them
    std::uint64_t misses = 0;       // went to operator new
    std::uint64_t miss_bytes = 0;   // what those asked operator new for
};

void* allocate_frame(std::size_t size);
void deallocate_frame(void* p, std::size_t size) noexcept;
// This thread's counters.
const frame_cache_stats& frame_stats() noexcept;

}  // namespace corio::detail
