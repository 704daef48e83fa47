// The thread's running loop and current loop (asyncio's events.py module functions).
#include <stdexcept>

#include <corio/events.hpp>

namespace corio {
namespace {

thread_local event_loop* current = nullptr;  // set_event_loop's, not owned

}  // namespace

namespace detail {

constinit thread_local event_loop* this_thread_running_loop = nullptr;  // set by run_forever

void set_running_loop(event_loop* loop) noexcept {
    this_thread_running_loop = loop;
}
void throw_no_running_loop() {
    throw std::runtime_error("no running event loop");
}

}  // namespace detail

event_loop& get_event_loop() {
    if (event_loop* running = detail::this_thread_running_loop)
        return *running;
    if (current != nullptr)
        return *current;
    throw std::runtime_error("There is no current event loop in this thread");
}

void set_event_loop(event_loop* loop) noexcept {
    current = loop;
}

std::unique_ptr<event_loop> new_event_loop(const loop_options& options) {
    return std::make_unique<event_loop>(options);
}

}  // namespace corio
