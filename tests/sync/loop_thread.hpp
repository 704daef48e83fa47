// A loop of a chosen backend running run_forever() on its own thread, for cross-thread tests.
// The destructor stops it through call_soon_threadsafe, joins, and closes the loop.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include <corio/events.hpp>

#include "../support/backend_param.hpp"
#include "../support/test_timeout.hpp"

namespace corio::test {

inline std::unique_ptr<event_loop> make_loop(backend_kind kind,
                                             std::optional<std::chrono::nanoseconds> idle_poll,
                                             std::string* why) {
    loop_options o;
    o.backend = kind;
    o.idle_poll = idle_poll;
    try {
        return std::make_unique<event_loop>(o);
    } catch (const std::exception& e) {
        if (why)
            *why = e.what();
        return nullptr;
    }
}

struct loop_thread {
    std::unique_ptr<event_loop> loop;
    std::thread thread;
    std::atomic<bool> started{false};

    explicit loop_thread(std::unique_ptr<event_loop> l) : loop(std::move(l)) {
        thread = std::thread([this] {
            loop->call_soon([this] { started.store(true); });
            loop->run_forever();
        });
        wait_until([this] { return started.load(); });
    }
    void stop_and_join() {
        if (!thread.joinable())
            return;
        event_loop* l = loop.get();
        l->call_soon_threadsafe([l] { l->stop(); });
        thread.join();
    }
    ~loop_thread() {
        stop_and_join();
        if (loop)
            loop->close();
    }
};

// The backend fixture: `kind()` for the parameter; `start()` builds a loop thread or skips.
class xthread_test : public testing::TestWithParam<backend_kind> {
protected:
    std::unique_ptr<event_loop> new_loop(std::optional<std::chrono::nanoseconds> idle_poll = {}) {
        return make_loop(GetParam(), idle_poll, &skip_reason_);
    }
    std::string skip_reason_;
};

#define CORIO_LOOP_OR_SKIP(var, ...)  \
    auto var = new_loop(__VA_ARGS__); \
    if (!var)                         \
    GTEST_SKIP() << "backend unavailable: " << skip_reason_

}  // namespace corio::test
