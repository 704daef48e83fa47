// A backend that never blocks: poll() records the timeout it was given, delivers scripted
// completions, and, in auto-advance mode, moves the manual clock by the timeout instead of
// sleeping (tokio's paused clock), so timer tests run instantly with exact expectations.
#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <corio/clock.hpp>
#include <corio/detail/backend.hpp>

namespace corio::test {

class fake_backend final : public detail::backend, private detail::waker {
public:
    explicit fake_backend(manual_clock& clock) : clock_(clock) {}

    std::string_view name() const noexcept override { return "fake"; }
    detail::backend_caps caps() const noexcept override { return {}; }

    void poll(std::chrono::nanoseconds timeout, detail::completion_sink& done) override {
        if (record_timeouts)
            timeouts.push_back(timeout);
        if (during_next_poll) {
            // One-shot, as if another thread acted while the loop was in its poll.
            auto act = std::exchange(during_next_poll, nullptr);
            act(timeout);
        }
        for (detail::io_op* op : scripted_)
            done.push(*op);
        if (!scripted_.empty()) {
            scripted_.clear();
            return;
        }
        if (wakeups_ > 0) {
            wakeups_ = 0;
            done.woken();
            return;
        }
        if (timeout.count() < 0) {
            // A real backend would sleep until woken; a test that gets here would hang.
            throw std::logic_error("fake_backend: the loop would block forever");
        }
        if (auto_advance)
            clock_.advance(timeout.count());
    }

    void start(detail::io_op& op) override {
        op.state = detail::op_state::submitted;
        started.push_back(&op);
    }
    void cancel(detail::io_op& op) noexcept override {
        op.state = detail::op_state::cancelling;
        op.result = -125;  // ECANCELED
    }
    std::size_t pending_ops() const noexcept override { return started.size(); }
    // Every started op completes with -ECANCELED on the next poll.
    void cancel_all() noexcept override {
        for (detail::io_op* op : started) {
            cancel(*op);
            scripted_.push_back(op);
        }
        started.clear();
    }
    void forget(int) noexcept override {}
    detail::waker& get_waker() noexcept override { return *this; }

    // The next poll() completes `op`.
    void complete_next_poll(detail::io_op& op) { scripted_.push_back(&op); }

    // Called once, at the start of the next poll, with that poll's timeout.
    std::function<void(std::chrono::nanoseconds)> during_next_poll;
    bool auto_advance = true;
    bool record_timeouts = true;                     // off in allocation tests: the vector grows
    std::vector<std::chrono::nanoseconds> timeouts;  // one per poll(), in order
    std::vector<detail::io_op*> started;

private:
    void wake() noexcept override { ++wakeups_; }

    manual_clock& clock_;
    std::vector<detail::io_op*> scripted_;
    int wakeups_ = 0;
};

}  // namespace corio::test
