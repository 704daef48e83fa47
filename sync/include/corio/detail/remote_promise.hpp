// Completing a loop's future from another thread: the result travels through the owner
// loop's inbox (asyncio's _chain_future / call_soon_threadsafe(_set_state)). Not API.
#pragma once

#include <exception>
#include <stdexcept>
#include <thread>
#include <utility>

#include <corio/detail/inbox_hook.hpp>
#include <corio/events.hpp>
#include <corio/futures.hpp>
#include <corio/tasks.hpp>

namespace corio::detail {

// Made on the owner loop's thread from a future of that loop; may then move to any thread.
// Exactly one of set_value / set_exception / cancel sends the outcome home; the future itself
// is only copied, completed or destroyed on its loop's thread: the message carries it there
// (moving a future does not touch its non-atomic reference count). Destroyed unsent on
// another thread, it fails the future ("abandoned"); on the creating thread, it just drops it.
template <class T>
class remote_promise {
public:
    explicit remote_promise(future<T> f) noexcept
        : f_(std::move(f)), creator_(std::this_thread::get_id()) {}
    remote_promise(remote_promise&& o) noexcept : f_(std::move(o.f_)), creator_(o.creator_) {}
    remote_promise& operator=(remote_promise&&) = delete;
    ~remote_promise() {
        if (!f_.valid() || std::this_thread::get_id() == creator_)
            return;
        try {
            set_exception(std::make_exception_ptr(
                std::runtime_error("the remote work was abandoned before it completed")));
        } catch (...) {
            // Out of memory while posting: leak the reference rather than release it here.
            new future<T>(std::move(f_));
        }
    }

    template <class... V>
    void set_value(V&&... v) {
        send([... v = std::forward<V>(v)](future<T>& f) mutable { f.set_result(std::move(v)...); });
    }
    void set_exception(std::exception_ptr e) {
        send([e = std::move(e)](future<T>& f) mutable { f.set_exception(std::move(e)); });
    }
    void cancel() {
        send([](future<T>& f) { f.cancel(); });
    }

private:
    template <class Apply>
    void send(Apply&& apply) {
        if (!f_.valid())
            return;                        // already sent
        event_loop& loop = f_.get_loop();  // immutable since the future was made: no race
        inbox_hook* inbox = loop_access::inbox(loop);
        if (inbox == nullptr)
            throw std::runtime_error("This event loop has no inbox");
        // Dropped (the owner closed): the future is released on the closing thread.
        inbox->post(remote_message(
            [f = std::move(f_), apply = std::forward<Apply>(apply)](message_fate fate) mutable {
                if (fate == message_fate::run && !f.done())
                    apply(f);
            }));
    }

    future<T> f_;
    std::thread::id creator_;
};

// A done callback for a task that sends the task's outcome through a remote_promise.
template <class T>
struct task_to_remote {
    remote_promise<T> p;

    void operator()(future_state_base& s) {
        auto& state = static_cast<future_state<T, task_base>&>(s);
        if (state.cancelled()) {
            p.cancel();
        } else if (std::exception_ptr e = state.exception()) {
            p.set_exception(std::move(e));
        } else if constexpr (std::is_void_v<T>) {
            p.set_value();
        } else {
            p.set_value(std::move(state.result()));
        }
    }
};

}  // namespace corio::detail
