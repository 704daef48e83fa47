// The timer heap's operations; see detail/timer_heap.hpp for the invariants.
#include <algorithm>

#include <corio/detail/timer_heap.hpp>

namespace corio::detail {
namespace {

// std::*_heap builds a max-heap; "later" as the comparison puts the earliest entry on top.
bool later(const timer_entry& a, const timer_entry& b) noexcept {
    if (a.deadline != b.deadline)
        return a.deadline > b.deadline;
    return a.sequence > b.sequence;
}

}  // namespace

void timer_heap::push(const timer_entry& e) {
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), later);
}

void timer_heap::pop() noexcept {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
}

std::size_t timer_heap::compact(callback_pool& pool) noexcept {
    auto cancelled = [](const timer_entry& e) { return e.rec->state == record_state::cancelled; };
    auto keep_end = std::partition(heap_.begin(), heap_.end(),
                                   [&](const timer_entry& e) { return !cancelled(e); });
    std::size_t removed = static_cast<std::size_t>(heap_.end() - keep_end);
    for (auto it = keep_end; it != heap_.end(); ++it)
        pool.release(it->rec);
    heap_.erase(keep_end, heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), later);
    return removed;
}

void timer_heap::clear(callback_pool& pool) noexcept {
    for (const timer_entry& e : heap_)
        pool.release(e.rec);
    heap_.clear();
}

}  // namespace corio::detail
