// What corio::io keeps per event loop beyond the backend: the loop's signal handlers and its
// child watchers. core holds it as a loop_extension and calls on_close() from loop.close()
// (events.hpp), which is how closing a loop removes its signal handlers (asyncio's unix loop
// does the same in its close()). Used only on the loop's thread.
#pragma once

#include <memory>

#include <corio/events.hpp>

namespace corio::detail {

struct io_loop_state final : loop_extension {
    std::unique_ptr<loop_extension> signals;   // signals.cpp
    std::unique_ptr<loop_extension> children;  // subprocess.cpp

    void on_close(event_loop& loop) noexcept override {
        if (signals)
            signals->on_close(loop);
        if (children)
            children->on_close(loop);
    }
};

inline io_loop_state& io_state(event_loop& loop) {
    std::unique_ptr<loop_extension>& slot = loop_access::io_extension(loop);
    if (!slot)
        slot = std::make_unique<io_loop_state>();
    return static_cast<io_loop_state&>(*slot);
}

}  // namespace corio::detail
