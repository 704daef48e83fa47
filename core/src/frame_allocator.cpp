// The per-thread coroutine frame cache (detail/frame_allocator.hpp): its miss paths and its
// thread-exit cleanup.
#include <atomic>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

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
        this_thread_frames.free_limit = 0;
        for (frame_cache::free_block*& head : this_thread_frames.heads) {
            while (head != nullptr)
                ::operator delete(std::exchange(head, head->next), block_alignment);
        }
    }
};

thread_local frame_cache_cleanup cleanup;

// The depot: a process-wide reserve of full batches per class, between the thread caches and
// operator new. Frames often die on another thread than the one that made them: every
// run_coroutine_threadsafe call makes its coroutine on the caller's thread and finishes it on
// the loop's. Without the depot the freeing thread's class fills up and every further frame
// goes to operator delete, into the allocating thread's malloc arena, while that thread's
// operator new takes the same arena lock: measured, about 0.8 futex calls per
// BM_threadsafe_roundtrip and most of its time. With it, a full class hands a batch to the
// depot and an empty one takes a batch before asking operator new: one mutex acquisition per
// batch_size frames, and memory flows back to where it is allocated (tcmalloc's transfer
// cache, in miniature).
constexpr std::uint32_t batch_size = 64;
constexpr std::size_t max_batches = 16;  // per class: <= 1 MiB at 1 KiB frames

struct depot {
    std::mutex mutex;
    // Each entry is the first block of a chain of batch_size blocks (linked through `next`).
    std::vector<frame_cache::free_block*> batches[frame_cache::class_count];
    // batches[c].size(), written under the mutex and read without it: a miss on a class the
    // depot has nothing of (a thread whose frames all die elsewhere, before any cache filled)
    // goes to operator new without taking the lock.
    std::atomic<std::size_t> available[frame_cache::class_count] = {};
    depot() {
        for (auto& b : batches)
            b.reserve(max_batches);  // pushes under the mutex never allocate
    }
};

// Never destroyed: threads exiting after static destruction began still give batches back.
depot& the_depot() {
    static depot* d = new depot;
    return *d;
}

// Detaches the first batch_size blocks of class c (the most recently freed: still warm).
frame_cache::free_block* take_batch_from(frame_cache& cache, std::size_t c) noexcept {
    frame_cache::free_block* first = cache.heads[c];
    frame_cache::free_block* last = first;
    for (std::uint32_t i = 1; i < batch_size; ++i)
        last = last->next;
    cache.heads[c] = last->next;
    last->next = nullptr;
    cache.counts[c] -= batch_size;
    return first;
}

void delete_chain(frame_cache::free_block* b) noexcept {
    while (b != nullptr)
        ::operator delete(std::exchange(b, b->next), block_alignment);
}

// The cache is about to hold a block: from now on the cleanup frees what it holds, and frees
// may take the inline path.
void arm(frame_cache& cache) noexcept {
    cleanup.armed = true;
    cache.free_limit = frame_cache::max_cached;
}

}  // namespace

void* allocate_frame_slow(std::size_t size) {
    frame_cache& cache = this_thread_frames;
    const std::size_t c = frame_cache::class_of(size);
    if (!cacheable(c)) {
        cache.stats.misses++;
        cache.stats.miss_bytes += size;
        return ::operator new(size);
    }
    if (!cache.closed && cache.heads[c] == nullptr) {
        frame_cache::free_block* batch = nullptr;
        depot& d = the_depot();
        // Relaxed: a filter; a batch it misses is found by a later miss.
        if (d.available[c].load(std::memory_order_relaxed) != 0) {
            std::lock_guard lock(d.mutex);
            if (!d.batches[c].empty()) {
                batch = d.batches[c].back();
                d.batches[c].pop_back();
                d.available[c].store(d.batches[c].size(), std::memory_order_relaxed);
            }
        }
        if (batch != nullptr) {
            arm(cache);
            cache.heads[c] = batch->next;
            cache.counts[c] = batch_size - 1;
            return batch;
        }
    }
    const std::size_t bytes = (c + 1) * frame_cache::class_size;
    cache.stats.misses++;
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
    if (cache.closed) {
        ::operator delete(p, block_alignment);
        return;
    }
    if (cache.counts[c] >= frame_cache::max_cached) {
        // Full: the oldest-freed blocks stay, a batch of the newest goes to the depot (or to
        // operator delete, if the depot holds enough of this class already).
        frame_cache::free_block* batch = take_batch_from(cache, c);
        bool kept = false;
        {
            depot& d = the_depot();
            std::lock_guard lock(d.mutex);
            if (d.batches[c].size() < max_batches) {
                d.batches[c].push_back(batch);
                d.available[c].store(d.batches[c].size(), std::memory_order_relaxed);
                kept = true;
            }
        }
        if (!kept)
            delete_chain(batch);
    }
    arm(cache);
    auto* b = static_cast<frame_cache::free_block*>(p);
    b->next = cache.heads[c];
    cache.heads[c] = b;
    ++cache.counts[c];
}

}  // namespace corio::detail
