// Slab growth for the callback pool (detail/callback_pool.hpp).
#include <corio/detail/callback_pool.hpp>

namespace corio::detail {

void callback_pool::grow() {
    free_.reserve(capacity() + slab_records);  // release() relies on this never reallocating
    slabs_.push_back(std::make_unique<callback_record[]>(slab_records));
    callback_record* slab = slabs_.back().get();
    // Pushed in reverse so that acquire() hands out a fresh slab front to back.
    for (std::size_t i = slab_records; i-- > 0;) free_.push_back(&slab[i]);
}

}  // namespace corio::detail
