// The loop binding of the loop-side primitives: asyncio's mixins._LoopBoundMixin.
#include <stdexcept>
#include <string>

#include <corio/detail/waiters.hpp>

namespace corio::detail {

event_loop& loop_bound::get_loop(const char* type_name) {
    event_loop& running = get_running_loop();  // "no running event loop"
    event_loop* expected = nullptr;
    // Relaxed: see the member's comment. A failed exchange loads the bound loop into expected.
    if (loop_.compare_exchange_strong(expected, &running, std::memory_order_relaxed) ||
        expected == &running) {
        return running;
    }
    different_loop(type_name);
}

void loop_bound::check_caller(const char* type_name) const {
    event_loop* running = running_loop();
    if (running != nullptr && running != loop_.load(std::memory_order_relaxed)) {
        different_loop(type_name);
    }
}

void loop_bound::different_loop(const char* type_name) {
    throw std::runtime_error(std::string(type_name) + " is bound to a different event loop");
}

}  // namespace corio::detail
