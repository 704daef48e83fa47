// THE backend interface: what an event_loop needs from an I/O backend, and nothing more.
// core owns it; io implements it twice (io_uring, epoll). One narrow interface both backends
// fully implement, called a handful of times per iteration (virtual dispatch at this
// boundary only, as Seastar's reactor_backend).
//
// Ownership: an event_loop owns one backend. Every member except get_waker() is called only
// on the loop's thread. A backend owns its kernel objects (ring or epoll fd, eventfd, buffer
// rings) and nothing else; ops are owned by the coroutine frames that await them.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <string_view>

#include <corio/detail/io_op.hpp>
#include <corio/detail/ready_queue.hpp>
#include <corio/stats.hpp>

namespace corio::detail {

struct backend_caps {
    bool native_files = false;  // file I/O without the executor
    bool multishot_accept = false;
    bool provided_buffers = false;
    bool multishot_recv = false;  // starts a multishot_op that selects a buffer (io_op.hpp)
    bool msg_ring = false;        // ring-to-ring wake-ups
};

// Where a backend delivers finished operations: they become ready entries of the loop, to
// run in step 5 of the iteration.
class completion_sink {
public:
    completion_sink(ready_queue& ready, loop_stats& stats) noexcept
        : ready_(ready), stats_(stats) {}

    void push(io_op& op) {
        op.state = op_state::done;
        ready_.push(ready_entry::of(&op));
        ++stats_.io_completions;
    }
    // A multishot_op's part was stored.
    void part() noexcept { ++stats_.io_parts; }
    // A coroutine to resume in step 5, for a multishot_op's part().
    void resume(std::coroutine_handle<> h) { ready_.push(ready_entry::of(h)); }
    void woken() noexcept { ++stats_.wakeups_received; }
    loop_stats& stats() noexcept { return stats_; }

private:
    ready_queue& ready_;
    loop_stats& stats_;
};

// Interrupts a poll() in progress, or makes the next one return at once. Thread-safe.
class waker {
public:
    virtual void wake() noexcept = 0;

protected:
    ~waker() = default;
};

class backend {
public:
    virtual ~backend() = default;

    virtual std::string_view name() const noexcept = 0;  // "io_uring" | "epoll" | test fakes
    virtual backend_caps caps() const noexcept = 0;

    // The only blocking call. Submits what is queued, waits up to `timeout` (zero: do not
    // wait; negative: no limit) for completions or a wake-up, and pushes every finished op to
    // `done`. With a zero timeout and nothing that could have finished, a backend returns
    // without a syscall: that is what keeps a callback-only loop free of syscalls.
    virtual void poll(std::chrono::nanoseconds timeout, completion_sink& done) = 0;

    // Starts `op`, which stays valid until it has been pushed to a completion_sink.
    virtual void start(io_op& op) = 0;
    // Requests cancellation; the op still completes (with -ECANCELED or its real result).
    virtual void cancel(io_op& op) noexcept = 0;
    // Ops started and not yet pushed to a sink.
    virtual std::size_t pending_ops() const noexcept = 0;
    // Requests cancellation of every op started and not yet pushed to a sink, as cancel()
    // on each. For event_loop::close(), which then polls until pending_ops() is 0 and
    // discards what is delivered: no op's complete() runs, and no frame is destroyed while
    // the kernel may still write into it.
    virtual void cancel_all() noexcept = 0;
    // The descriptor is about to be closed and no op is waiting on it: drop whatever the
    // backend keeps for it (an epoll registration), so a number reused later starts clean.
    virtual void forget(int fd) noexcept = 0;

    virtual waker& get_waker() noexcept = 0;
};

}  // namespace corio::detail
