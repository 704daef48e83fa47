// The thread's running loop and current loop (asyncio's events.py module functions).
#include <corio/events.hpp>

#include <stdexcept>

namespace corio {
namespace {

thread_local event_loop* running = nullptr;  // set by run_forever for its duration
thread_local event_loop* current = nullptr;  // set_event_loop's, not owned

}  // namespace

namespace detail {

event_loop* running_loop() noexcept { return running; }
void set_running_loop(event_loop* loop) noexcept { running = loop; }

}  // namespace detail

event_loop& get_running_loop() {
    if (running == nullptr) throw std::runtime_error("no running event loop");
    return *running;
}

event_loop& get_event_loop() {
    if (running != nullptr) return *running;
    if (current != nullptr) return *current;
    throw std::runtime_error("There is no current event loop in this thread");
}

void set_event_loop(event_loop* loop) noexcept { current = loop; }

std::unique_ptr<event_loop> new_event_loop(const loop_options& options) {
    return std::make_unique<event_loop>(options);
}

}  // namespace corio
