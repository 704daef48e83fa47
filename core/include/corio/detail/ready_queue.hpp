// The ready queue: the only list of work the loop runs, kept in two rings.
// - The order ring: one 8-byte entry per item, in run order. A tagged pointer (a timer's
//   callback record, a coroutine to resume, or a finished I/O operation; the kind lives in
//   the pointer's two low bits, all three being at least 8-byte aligned), or zero for "the
//   next call_soon callable".
// - The callable ring: those callables inline (no heap for a typical lambda), in the same
//   order, so the zero entries and the callables are consumed together.
// Why two: most entries are coroutine steps, and eight to a cache line they cost a task a
// fraction of the cache misses that one 64-byte slot per entry did (BM_task_spawn, whose 4096
// tasks' entries overflowed L1 twice per task).
//
// Callables are addressed by their absolute position (a 64-bit count of callable pushes,
// never reused), and a callable's index is position & mask also after its ring grows, so a
// handle that keeps a position can cancel it in O(1): cancelling empties the callable, and an
// empty one is skipped when reached.
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

using ready_callable = inline_function<void()>;

class ready_queue {
public:
    ready_queue()
        : entries_(std::make_unique<ready_entry[]>(initial_capacity)),
          callables_(std::make_unique<ready_callable[]>(initial_capacity)) {}
    ~ready_queue() { clear(); }
    ready_queue(const ready_queue&) = delete;
    ready_queue& operator=(const ready_queue&) = delete;

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return static_cast<std::size_t>(tail_ - head_); }

    // Returns the callable's position. Hot: allocates only to grow past the largest burst seen.
    template <class F>
    std::uint64_t push_callback(F&& fn) {
        make_room_for_callable();
        callables_[callable_tail_ & callable_mask_].emplace(std::forward<F>(fn));  // may throw
        entries_[tail_++ & mask_] = {0};
        return callable_tail_++;
    }

    // Makes room for `n` more entries of any kind, so that the next n pushes cannot allocate
    // (or throw).
    void reserve(std::size_t n) {
        while (size() + n > mask_ + 1)
            grow_entries();
        while (callables() + n > callable_mask_ + 1)
            grow_callables();
    }

    void push(ready_entry e) {
        if (size() == mask_ + 1) [[unlikely]]
            grow_entries();
        entries_[tail_++ & mask_] = e;
    }

    // Precondition: !empty(). A zero entry is a callable: take it with pop_callable().
    ready_entry pop() noexcept { return entries_[head_++ & mask_]; }
    // The entry `ahead` places after the next one to pop. Precondition: ahead < size().
    ready_entry peek(std::size_t ahead) const noexcept { return entries_[(head_ + ahead) & mask_]; }
    // The next callable, after pop() returned a zero entry. Valid until the next push.
    ready_callable& pop_callable() noexcept {
        return callables_[callable_head_++ & callable_mask_];
    }

    // The callable at `position` if it has not been popped yet, else null.
    ready_callable* pending_callback(std::uint64_t position) noexcept {
        if (position < callable_head_ || position >= callable_tail_)
            return nullptr;
        return &callables_[position & callable_mask_];
    }

    // Destroys every callable; tagged entries are handed to `drop` (close()).
    template <class Drop>
    void clear(Drop&& drop) noexcept {
        while (!empty()) {
            const ready_entry e = pop();
            if (e.bits == 0) {
                pop_callable().reset();
            } else {
                drop(e);
            }
        }
    }
    void clear() noexcept {
        clear([](ready_entry) {});
    }

private:
    static constexpr std::size_t initial_capacity = 1024;

    std::size_t callables() const noexcept {
        return static_cast<std::size_t>(callable_tail_ - callable_head_);
    }
    void make_room_for_callable() {
        if (size() == mask_ + 1) [[unlikely]]
            grow_entries();
        if (callables() == callable_mask_ + 1) [[unlikely]]
            grow_callables();
    }

    // Out of line: push() stays a few instructions where it is inlined.
    [[gnu::noinline]] void grow_entries() {
        const std::size_t new_mask = mask_ * 2 + 1;
        auto bigger = std::make_unique<ready_entry[]>(new_mask + 1);
        for (std::uint64_t p = head_; p != tail_; ++p)
            bigger[p & new_mask] = entries_[p & mask_];
        entries_ = std::move(bigger);
        mask_ = new_mask;
    }
    [[gnu::noinline]] void grow_callables() {
        const std::size_t new_mask = callable_mask_ * 2 + 1;
        auto bigger = std::make_unique<ready_callable[]>(new_mask + 1);
        for (std::uint64_t p = callable_head_; p != callable_tail_; ++p)       // position & mask
            bigger[p & new_mask] = std::move(callables_[p & callable_mask_]);  // stays the index
        callables_ = std::move(bigger);
        callable_mask_ = new_mask;
    }

    std::unique_ptr<ready_entry[]> entries_;
    std::size_t mask_ = initial_capacity - 1;
    std::uint64_t head_ = 0;  // position of the next entry to run
    std::uint64_t tail_ = 0;  // position the next push takes
    std::unique_ptr<ready_callable[]> callables_;
    std::size_t callable_mask_ = initial_capacity - 1;
    std::uint64_t callable_head_ = 0;
    std::uint64_t callable_tail_ = 0;
};

}  // namespace corio::detail
