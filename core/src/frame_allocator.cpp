// The per-thread coroutine frame cache (detail/frame_allocator.hpp).
#include <corio/detail/frame_allocator.hpp>

#include <new>
#include <utility>

namespace corio::detail {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool cache_enabled = false;
#else
constexpr bool cache_enabled = true;
#endif

constexpr std::size_t class_size = 64;    // frames are rounded up to a multiple of this
constexpr std::size_t class_count = 16;   // cached up to 1 KiB; larger frames use new directly
constexpr std::size_t max_cached = 4096;  // blocks per class: at most 4 MiB for 1 KiB frames

struct free_block {
    free_block* next;
};

struct frame_cache {
    free_block* heads[class_count] = {};
    std::size_t counts[class_count] = {};
    frame_cache_stats stats;

    ~frame_cache() {
        for (free_block*& head : heads) {
            while (head != nullptr) ::operator delete(std::exchange(head, head->next));
        }
    }
};

thread_local frame_cache cache;

std::size_t class_of(std::size_t size) noexcept { return (size + class_size - 1) / class_size - 1; }

}  // namespace

void* allocate_frame(std::size_t size) {
    cache.stats.allocations++;
    cache.stats.bytes += size;
    const std::size_t c = class_of(size);
    if (cache_enabled && c < class_count) {
        if (free_block* b = cache.heads[c]) {
            cache.heads[c] = b->next;
            --cache.counts[c];
            return b;
        }
        cache.stats.misses++;
        cache.stats.miss_bytes += (c + 1) * class_size;
        return ::operator new((c + 1) * class_size);
    }
    cache.stats.misses++;
    cache.stats.miss_bytes += size;
    return ::operator new(size);
}

void deallocate_frame(void* p, std::size_t size) noexcept {
    const std::size_t c = class_of(size);
    if (cache_enabled && c < class_count && cache.counts[c] < max_cached) {
        auto* b = static_cast<free_block*>(p);
        b->next = cache.heads[c];
        cache.heads[c] = b;
        ++cache.counts[c];
        return;
    }
    ::operator delete(p);
}

const frame_cache_stats& frame_stats() noexcept { return cache.stats; }

}  // namespace corio::detail
