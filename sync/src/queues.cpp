// The type-independent half of asyncio's queues.py (<corio/queues.hpp>).
#include <stdexcept>

#include <corio/queues.hpp>

namespace corio::detail {

void queue_base::task_done() {
    if (unfinished_ == 0)
        throw std::invalid_argument("task_done() called too many times");
    if (--unfinished_ == 0)
        finished_.set();
}

void queue_base::item_added() {
    ++unfinished_;
    finished_.clear();
    wakeup_next(getters_);
}

void queue_base::item_removed() {
    wakeup_next(putters_);
}

// Unlike the locks, a woken queue waiter leaves the FIFO at once: it is owed nothing, it
// only re-checks the queue when it runs.
void queue_base::wakeup_next(waiter_list& waiters) {
    while (waiter* w = waiters.pop_front()) {
        if (!w->fut.done()) {
            w->fut.set_result();
            return;
        }
    }
}

void queue_base::abandon(waiter& w, waiter_list& waiters, bool still_available) {
    w.fut.cancel();  // if the wait ended by another error than its own cancellation
    w.unlink();      // if not already taken out by a wake-up
    if (still_available && !w.fut.cancelled())
        wakeup_next(waiters);
}

void queue_base::finish_shutdown(bool immediate, std::size_t drained) {
    if (immediate) {
        // Each dropped item counts as done, so that join() does not wait for it.
        unfinished_ -= std::min(drained, unfinished_);
        if (unfinished_ == 0)
            finished_.set();
    }
    // Every waiter re-checks, and throws queue_shutdown unless it can still go on.
    for (waiter_list* waiters : {&getters_, &putters_}) {
        while (waiter* w = waiters->pop_front()) {
            if (!w->fut.done())
                w->fut.set_result();
        }
    }
}

}  // namespace corio::detail
