// Callback records: where call_soon and call_later keep their callables while they wait.
// Records live in slabs that never move, so a handle can point at one and cancel it in O(1);
// released records go to a free list, so a steady state allocates nothing.
#pragma once

#include <corio/detail/inline_function.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace corio::detail {

enum class record_state : std::uint8_t {
    free,       // on the pool's free list
    ready,      // in the ready queue
    timer,      // in the timer heap
    cancelled,  // in the ready queue or timer heap, to be skipped and released when reached
    running,    // its callable is executing
};

// One cache line. `generation` grows every time the record is released, so a handle that
// remembers it can tell "still mine" from "reused" without owning the record.
struct alignas(64) callback_record {
    inline_function<void()> fn;
    std::uint32_t generation = 0;
    record_state state = record_state::free;
};
static_assert(sizeof(callback_record) == 64);

class callback_pool {
public:
    callback_pool() = default;
    callback_pool(const callback_pool&) = delete;
    callback_pool& operator=(const callback_pool&) = delete;

    template <class F>
    callback_record* acquire(F&& fn, record_state state) {  // hot: no alloc in steady state
        if (free_.empty()) grow();
        callback_record* rec = free_.back();
        rec->fn.emplace(std::forward<F>(fn));  // may throw (boxing); the record stays free
        free_.pop_back();
        rec->state = state;
        return rec;
    }

    void release(callback_record* rec) noexcept {  // hot: no alloc
        rec->fn.reset();
        ++rec->generation;
        rec->state = record_state::free;
        free_.push_back(rec);  // capacity reserved in grow(): never reallocates
    }

    std::size_t capacity() const noexcept { return slabs_.size() * slab_records; }
    std::size_t in_use() const noexcept { return capacity() - free_.size(); }

private:
    static constexpr std::size_t slab_records = 256;  // 16 KiB a slab

    void grow();

    std::vector<std::unique_ptr<callback_record[]>> slabs_;
    std::vector<callback_record*> free_;
};

}  // namespace corio::detail
