// Callback records: where call_soon and call_later keep their callables while they wait.
// Records live in slabs that never move, so a handle can point at one and cancel it in O(1);
// released records go to a free list, so a steady state allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <corio/detail/inline_function.hpp>

namespace corio::detail {

enum class record_state : std::uint8_t {
    free,       // on the pool's free list
    ready,      // in the ready queue
    timer,      // in the timer heap
    cancelled,  // in the ready queue or timer heap, to be skipped and released when reached
    running,    // its callable is executing
};

// One cache line. `generation` grows every time the record is released, so a handle that
// remembers it can tell "still mine" from "reused" without owning the record. While free, the
// record's storage holds the free-list link instead of a callable (an intrusive free list
// touches no memory but the records themselves).
struct alignas(64) callback_record {
    union {
        inline_function<void()> fn;  // alive unless state == free
        callback_record* next_free;  // alive while state == free
    };
    std::uint32_t generation = 0;
    record_state state = record_state::free;

    callback_record() noexcept : next_free(nullptr) {}
    ~callback_record() {}  // the pool ends fn's lifetime in release()
};
static_assert(sizeof(callback_record) == 64);

class callback_pool {
public:
    callback_pool() = default;
    callback_pool(const callback_pool&) = delete;
    callback_pool& operator=(const callback_pool&) = delete;

    template <class F>
    callback_record* acquire(F&& fn, record_state state) {  // hot: no alloc in steady state
        if (free_ == nullptr)
            grow();
        callback_record* rec = free_;
        callback_record* next = rec->next_free;
        try {
            ::new (static_cast<void*>(&rec->fn)) inline_function<void()>(std::forward<F>(fn));
        } catch (...) {
            rec->next_free = next;  // boxing failed: the record stays free
            throw;
        }
        free_ = next;
        --free_count_;
        rec->state = state;
        return rec;
    }

    void release(callback_record* rec) noexcept {  // hot: no alloc
        rec->fn.~inline_function();
        rec->next_free = free_;
        free_ = rec;
        ++free_count_;
        ++rec->generation;
        rec->state = record_state::free;
    }

    std::size_t capacity() const noexcept { return slabs_.size() * slab_records; }
    std::size_t in_use() const noexcept { return capacity() - free_count_; }

private:
    static constexpr std::size_t slab_records = 256;  // 16 KiB a slab

    void grow();

    std::vector<std::unique_ptr<callback_record[]>> slabs_;
    callback_record* free_ = nullptr;  // LIFO: the most recently released record is cache-hot
    std::size_t free_count_ = 0;
};

}  // namespace corio::detail
