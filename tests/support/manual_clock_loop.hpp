// A loop on a manual clock and a fake backend: deterministic, instant loop tests (asyncio's
// test_utils.TestLoop). run_once() runs exactly one iteration, as asyncio's test_utils.run_once.
#pragma once

#include <memory>

#include <corio/events.hpp>

#include "fake_backend.hpp"

namespace corio::test {

struct manual_clock_loop {
    manual_clock clock{1'000'000'000};  // start at t = 1 s, so that negative delays stay positive
    fake_backend* backend;              // owned by loop
    event_loop loop;

    manual_clock_loop() : manual_clock_loop(std::make_unique<fake_backend>(clock)) {}

    // One iteration: stop() before run_forever() runs exactly one.
    void run_once() {
        loop.stop();
        loop.run_forever();
    }

    // Seconds as loop.time() reads them.
    void advance(double seconds) { clock.advance(static_cast<std::int64_t>(seconds * 1e9)); }

private:
    explicit manual_clock_loop(std::unique_ptr<fake_backend> b)
        : backend(b.get()), loop(std::move(b), clock) {}
};

}  // namespace corio::test
