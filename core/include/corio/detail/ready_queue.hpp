// The ready queue: a growable ring of 64-byte slots, the only list of work the loop runs.
// A slot holds either a call_soon callable inline (no heap for a typical lambda), or a tagged
// pointer: a timer's callback record, a coroutine to resume, or a finished I/O operation
// (the kind lives in the pointer's two low bits; all three are at least 8-byte aligned).
//
// Entries are addressed by their absolute position (a 64-bit count of pushes, never reused),
// and a slot's index is position & mask also after the ring grows, so a handle that keeps a
// position can cancel its entry in O(1): cancelling empties the callable, and an empty
// callback slot is skipped when reached.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include <corio/detail/callback_pool.hpp>
#include <corio/detail/inline_function.hpp>

namespace corio::detail {

class io_op;

enum class entry_kind : std::uintptr_t { record = 0, coroutine = 1, io = 2 };

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

struct ready_slot {
    inline_function<void()> fn;  // a call_soon callback when entry.bits == 0
    ready_entry entry{0};
};
static_assert(sizeof(ready_slot) == 64);

class ready_queue {
public:
    ready_queue() : slots_(std::make_unique<ready_slot[]>(initial_capacity)) {}
    ~ready_queue() { clear(); }
    ready_queue(const ready_queue&) = delete;
    ready_queue& operator=(const ready_queue&) = delete;

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return static_cast<std::size_t>(tail_ - head_); }

    // Returns the entry's position. Hot: allocates only to grow past the largest burst seen.
    template <class F>
    std::uint64_t push_callback(F&& fn) {
        if (size() == mask_ + 1) [[unlikely]]
            grow();
        ready_slot& s = slots_[tail_ & mask_];
        s.fn.emplace(std::forward<F>(fn));  // the slot stays unused if this throws
        s.entry = {0};
        return tail_++;
    }

    // Constructs a callable of type Fn from `args` in its slot. Hot: as push_callback.
    template <class Fn, class... CtorArgs>
    std::uint64_t emplace_callback(CtorArgs&&... args) {
        if (size() == mask_ + 1) [[unlikely]]
            grow();
        ready_slot& s = slots_[tail_ & mask_];
        s.fn.template emplace_as<Fn>(std::forward<CtorArgs>(args)...);
        s.entry = {0};
        return tail_++;
    }

    // Makes room for `n` more entries, so that the next n pushes cannot allocate (or throw).
    void reserve(std::size_t n) {
        while (size() + n > mask_ + 1)
            grow();
    }

    void push(ready_entry e) {
        if (size() == mask_ + 1) [[unlikely]]
            grow();
        slots_[tail_ & mask_].entry = e;
        ++tail_;
    }

    // Precondition: !empty(). The slot stays valid until the next push.
    ready_slot& pop() noexcept { return slots_[head_++ & mask_]; }

    // The callback slot at `position` if it has not been popped yet, else null.
    ready_slot* pending_callback(std::uint64_t position) noexcept {
        if (position < head_ || position >= tail_)
            return nullptr;
        ready_slot& s = slots_[position & mask_];
        return s.entry.bits == 0 ? &s : nullptr;
    }

    // Destroys every callable; tagged entries are handed to `drop` (close()).
    template <class Drop>
    void clear(Drop&& drop) noexcept {
        while (!empty()) {
            ready_slot& s = pop();
            if (s.entry.bits == 0) {
                s.fn.reset();
            } else {
                drop(s.entry);
            }
        }
    }
    void clear() noexcept {
        clear([](ready_entry) {});
    }

private:
    static constexpr std::size_t initial_capacity = 1024;

    // Out of line: push() stays a few instructions where it is inlined.
    [[gnu::noinline]] void grow() {
        const std::size_t cap = mask_ + 1;
        const std::size_t new_mask = cap * 2 - 1;
        auto bigger = std::make_unique<ready_slot[]>(cap * 2);
        for (std::uint64_t p = head_; p != tail_; ++p) {
            ready_slot& from = slots_[p & mask_];
            ready_slot& to = bigger[p & new_mask];  // position & mask stays the index
            to.fn = std::move(from.fn);
            to.entry = from.entry;
        }
        slots_ = std::move(bigger);
        mask_ = new_mask;
    }

    std::unique_ptr<ready_slot[]> slots_;
    std::size_t mask_ = initial_capacity - 1;
    std::uint64_t head_ = 0;  // position of the next entry to run
    std::uint64_t tail_ = 0;  // position the next push takes
};

}  // namespace corio::detail
