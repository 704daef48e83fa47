// The loop's live scheduled tasks: what all_tasks() lists, and what close() reports and
// releases (asyncio's _scheduled_tasks).
//
// Every task is added once and removed once, so those two are the hot half, and each touches
// only its own slot: a removal nulls the slot (moving the last task into it would write that
// task's index, in a frame far from the one finishing). The nulls are squeezed out when an add
// finds the array full and more than half of it is null, otherwise the array doubles; when the
// last live task is removed, the array simply starts again from the front. Each task keeps its
// slot's index (task_base::task_index), which the squeeze rewrites.
#pragma once

#include <cstdint>
#include <memory>

namespace corio::detail {

class task_base;

class task_registry {
public:
    task_registry() = default;
    task_registry(const task_registry&) = delete;
    task_registry& operator=(const task_registry&) = delete;

    // Returns the task's index, for remove().
    std::uint32_t add(task_base* t) {
        if (size_ == capacity_) [[unlikely]]
            make_room();
        slots_[size_] = t;
        return size_++;
    }
    void remove(std::uint32_t index) noexcept {
        slots_[index] = nullptr;
        if (++dead_ == size_)  // none left: start again from the front, with no pass
            size_ = dead_ = 0;
    }

    std::size_t live() const noexcept { return size_ - dead_; }
    // Each live task, in the order they were added.
    template <class F>
    void for_each(F&& f) const {
        for (std::uint32_t i = 0; i < size_; ++i) {
            if (slots_[i] != nullptr)
                f(slots_[i]);
        }
    }
    // The live task added last, or null if there is none (close() takes them from the back).
    task_base* last() noexcept {
        while (size_ > 0 && slots_[size_ - 1] == nullptr) {
            --size_;
            --dead_;
        }
        return size_ > 0 ? slots_[size_ - 1] : nullptr;
    }

private:
    // Squeezes out the nulls (rewriting the moved tasks' indexes) or doubles: core/src/task.cpp.
    void make_room();

    std::unique_ptr<task_base*[]> slots_;
    std::uint32_t size_ = 0;
    std::uint32_t capacity_ = 0;
    std::uint32_t dead_ = 0;  // null slots below size_
};

}  // namespace corio::detail
