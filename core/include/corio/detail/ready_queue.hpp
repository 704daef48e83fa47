// The ready queue: a growable ring of tagged pointers, the only list of work the loop runs.
// An entry is a callback record, a coroutine to resume, or a finished I/O operation; the
// kind lives in the two low bits (all three are at least 8-byte aligned).
#pragma once

#include <corio/detail/callback_pool.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace corio::detail {

class io_op;

enum class entry_kind : std::uintptr_t { callback = 0, coroutine = 1, io = 2 };

struct ready_entry {
    std::uintptr_t bits;

    static ready_entry of(callback_record* r) noexcept {
        return {reinterpret_cast<std::uintptr_t>(r)};
    }
    static ready_entry of(std::coroutine_handle<> h) noexcept {
        return {reinterpret_cast<std::uintptr_t>(h.address()) | 1u};
    }
    static ready_entry of(io_op* op) noexcept {
        return {reinterpret_cast<std::uintptr_t>(op) | 2u};
    }

    entry_kind kind() const noexcept { return static_cast<entry_kind>(bits & 3u); }
    void* pointer() const noexcept { return reinterpret_cast<void*>(bits & ~std::uintptr_t{3}); }
};

class ready_queue {
public:
    ready_queue() : buf_(std::make_unique<ready_entry[]>(initial_capacity)) {}

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }

    void push(ready_entry e) {  // hot: allocates only to grow past the largest burst seen
        if (size() == mask_ + 1) grow();
        buf_[tail_++ & mask_] = e;
    }

    // Precondition: !empty().
    ready_entry pop() noexcept { return buf_[head_++ & mask_]; }

private:
    static constexpr std::size_t initial_capacity = 1024;

    void grow() {
        std::size_t cap = mask_ + 1;
        auto bigger = std::make_unique<ready_entry[]>(cap * 2);
        for (std::size_t i = 0; i < cap; ++i) bigger[i] = buf_[(head_ + i) & mask_];
        buf_ = std::move(bigger);
        head_ = 0;
        tail_ = cap;
        mask_ = cap * 2 - 1;
    }

    std::unique_ptr<ready_entry[]> buf_;
    std::size_t mask_ = initial_capacity - 1;
    std::size_t head_ = 0;  // monotonically increasing; wraps through mask_
    std::size_t tail_ = 0;
};

}  // namespace corio::detail
