// The default policy: how a plain `event_loop` is put together (asyncio's
// DefaultEventLoopPolicy, which lives in the platform module for the same reason). core
// declares the constructor; this translation unit, which may see io's backends and sync's
// inbox, defines it.
#include <cstdlib>
#include <cstring>

#include <corio/detail/backends.hpp>
#include <corio/detail/inbox.hpp>
#include <corio/events.hpp>

// Referenced by `-Wl,--undefined=corio_io_default_policy` in corio::io's link interface, so
// that a static link pulls this object in whatever the order of the libraries (core's
// run() and new_event_loop() need it, but come after io on the link line).
extern "C" {
int corio_io_default_policy = 0;
}

namespace corio {
namespace {

bool debug_from_environment() {
    const char* value = std::getenv("CORIO_DEBUG");
    return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace

event_loop::event_loop(const loop_options& options)
    : event_loop(detail::make_backend(options.backend),
                 options.clock != nullptr ? *options.clock : steady_clock_source::instance(),
                 // The inbox learns the backend's waker when the loop attaches it.
                 detail::make_inbox(options.idle_poll, options.inbox_coalesce)) {
    set_debug(options.debug.value_or(debug_from_environment()));
}

}  // namespace corio
