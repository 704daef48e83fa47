// Coroutine frames come from a per-thread cache of size classes in front of operator new:
// spawning and finishing a task is the hottest allocate/free pair in the runtime, and a free
// list pop/push is a fraction of malloc + free. (Concurrent futures' states use it too: they
// make the same trip between threads as the frames of run_coroutine_threadsafe.) A frame freed
// on another thread than the one that allocated it goes to the freeing thread's cache (memory
// migrates, nothing breaks); each class keeps at most a bounded number of blocks, so an idle
// thread holds little.
//
// The hit paths are inline: the cache is a constinit, trivially destructible thread_local, so
// reaching it from another translation unit is one TLS-relative access with no init wrapper.
// The first block the cache is to hold goes through the out-of-line path, which arms the
// thread-exit cleanup (a thread_local with a destructor, reached through its init wrapper)
// and then lets frees in; after that cleanup the cache is closed and frames go straight to
// operator delete.
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

struct frame_cache {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    static constexpr bool enabled = false;
#else
    static constexpr bool enabled = true;
#endif
    static constexpr std::size_t class_size = 64;      // frames are rounded up to a multiple
    static constexpr std::size_t class_count = 16;     // cached up to 1 KiB; larger: new directly
    static constexpr std::uint32_t max_cached = 4096;  // blocks per class: <= 4 MiB at 1 KiB

    struct free_block {
        free_block* next;
    };

    static std::size_t class_of(std::size_t size) noexcept {
        return (size + class_size - 1) / class_size - 1;
    }

    free_block* heads[class_count] = {};
    std::uint32_t counts[class_count] = {};
    // How many blocks a class may hold before a free takes the slow path: max_cached once the
    // thread-exit cleanup is armed, 0 before (and again after it ran). One compare on the hot
    // path: keying it on an empty class instead sent every free of a block that cycles alone
    // (a future made and dropped per hand-off) to the slow path.
    std::uint32_t free_limit = 0;
    frame_cache_stats stats;
    bool closed = false;  // the thread is exiting and has freed the lists: cache nothing more
};

extern constinit thread_local frame_cache this_thread_frames;

void* allocate_frame_slow(std::size_t size);
void deallocate_frame_slow(void* p, std::size_t size) noexcept;

inline void* allocate_frame(std::size_t size) {  // hot: no alloc on a cache hit
    frame_cache& cache = this_thread_frames;
    cache.stats.allocations++;
    cache.stats.bytes += size;
    const std::size_t c = frame_cache::class_of(size);
    if (frame_cache::enabled && c < frame_cache::class_count) {
        if (frame_cache::free_block* b = cache.heads[c]) {
            cache.heads[c] = b->next;
            --cache.counts[c];
            // The next frame of this class, for writing: a loop that spawns many tasks
            // otherwise waits on each block's first line (its `next`) and then on each line
            // its promise writes. Its first lines only: a task's state is in them.
            if (const auto* next = reinterpret_cast<const char*>(b->next)) {
                __builtin_prefetch(next, 1);
                __builtin_prefetch(next + 64, 1);
            }
            return b;
        }
    }
    return allocate_frame_slow(size);
}

inline void deallocate_frame(void* p, std::size_t size) noexcept {
    frame_cache& cache = this_thread_frames;
    const std::size_t c = frame_cache::class_of(size);
    if (frame_cache::enabled && c < frame_cache::class_count &&
        cache.counts[c] < cache.free_limit) {
        auto* b = static_cast<frame_cache::free_block*>(p);
        b->next = cache.heads[c];
        cache.heads[c] = b;
        ++cache.counts[c];
        return;
    }
    deallocate_frame_slow(p, size);
}

// This thread's counters.
inline const frame_cache_stats& frame_stats() noexcept {
    return this_thread_frames.stats;
}

}  // namespace corio::detail
