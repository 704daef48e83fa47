// The per-thread coroutine frame cache (detail/frame_allocator.hpp): its miss paths and its
// thread-exit cleanup.
#include <new>
#include <utility>

#include <corio/detail/frame_allocator.hpp>

namespace corio::detail {

constinit thread_local frame_cache this_thread_frames;

namespace {

// Cached blocks start on a cache line: a frame of n lines then touches n lines, not n + 1,
// wherever malloc would have put it.
constexpr std::align_val_t block_alignment{64};

bool cacheable(std::size_t c) noexcept {
    return frame_cache::enabled && c < frame_cache::class_count;
}

// Frees the cached blocks when the thread exits. Armed (constructed) by the first block the
// cache keeps; a frame freed by a later thread_local destructor finds the cache closed and
// goes to operator delete, as it must once nothing will free the lists again.
struct frame_cache_cleanup {
    bool armed = false;
    ~frame_cache_cleanup() {
        this_thread_frames.closed = true;
        for (frame_cache::free_block*& head : this_thread_frames.heads) {
            while (head != nullptr)
                ::operator delete(std::exchange(head, head->next), block_alignment);
        }
    }
};

thread_local frame_cache_cleanup cleanup;

}  // namespace

void* allocate_frame_slow(std::size_t size) {
    frame_cache& cache = this_thread_frames;
    const std::size_t c = frame_cache::class_of(size);
    cache.stats.misses++;
    if (!cacheable(c)) {
        cache.stats.miss_bytes += size;
        return ::operator new(size);
    }
    const std::size_t bytes = (c + 1) * frame_cache::class_size;
    cache.stats.miss_bytes += bytes;
    return ::operator new(bytes, block_alignment);
}

void deallocate_frame_slow(void* p, std::size_t size) noexcept {
    frame_cache& cache = this_thread_frames;
    const std::size_t c = frame_cache::class_of(size);
    if (!cacheable(c)) {
        ::operator delete(p);
        return;
    }
    if (cache.counts[c] < frame_cache::max_cached && !cache.closed) {
        cleanup.armed = true;  // first use in this thread registers its destructor
        auto* b = static_cast<frame_cache::free_block*>(p);
        b->next = cache.heads[c];
        cache.heads[c] = b;
        ++cache.counts[c];
        return;
    }
    ::operator delete(p, block_alignment);
}

}  // namespace corio::detail
