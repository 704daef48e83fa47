// What the loop needs from its remote inbox (sync/ implements it), so that core calls the
// cross-thread machinery without including it. Called only on the loop's thread.
//
// The loop's side of the wake-up handshake: before a poll that may block, the loop calls
// prepare_to_block(); if it returns false, messages arrived and the loop polls with a zero
// timeout instead. After the poll, finish_block() retracts the announcement. Producers signal
// the backend's waker only while the loop is announced asleep (sync/detail/wakeup.hpp).
#pragma once

#include <cstddef>

namespace corio {
class event_loop;
}

namespace corio::detail {

class inbox_hook {
public:
    virtual ~inbox_hook() = default;  // owned by its loop
    // Moves waiting messages into the loop's ready queue; returns how many.
    virtual std::size_t drain(event_loop& loop) = 0;
    virtual bool prepare_to_block() noexcept = 0;
    virtual void finish_block() noexcept = 0;
};

}  // namespace corio::detail
