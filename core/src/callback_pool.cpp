// Slab growth for the callback pool (detail/callback_pool.hpp).
#include <corio/detail/callback_pool.hpp>

namespace corio::detail {

void callback_pool::grow() {
    slabs_.push_back(std::make_unique<callback_record[]>(slab_records));
    callback_record* slab = slabs_.back().get();
    // Linked front to back, so that acquire() hands out a fresh slab in address order.
    for (std::size_t i = slab_records; i-- > 0;) {
        slab[i].next_free = free_;
        free_ = &slab[i];
    }
    free_count_ += slab_records;
}

}  // namespace corio::detail
