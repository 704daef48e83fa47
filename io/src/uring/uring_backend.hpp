// The io_uring backend: completion based, as asyncio's proactor loop. start() queues an op's
// SQE, poll() submits and waits in one io_uring_enter per iteration, and each CQE hands its
// op to the loop's ready queue. One ring per loop (ring.hpp: setup flags and threads), with one
// provided buffer ring (buffer_ring.hpp) that multishot receives select from.
#pragma once

#include <cstdint>
#include <vector>

#include <corio/detail/backend.hpp>

#include "buffer_ring.hpp"
#include "ring.hpp"

namespace corio::detail {

// Used only on its loop's thread, except wake(), which is thread-safe.
//
// Invariants:
// - in_flight_ counts ops that start() accepted and no sink has received yet, and
//   in_flight_list_ links exactly them (for cancel_all() without ASYNC_CANCEL_ANY). Each has one
//   SQE queued or submitted with user_data == the op's address, and gets exactly one CQE
//   without IORING_CQE_F_MORE, its last; a multishot_op gets any number with it first.
// - Any other user_data is internal: waker_tag (the eventfd read), cancel_tag (an
//   ASYNC_CANCEL request, whose own CQE is ignored) or liburing's LIBURING_UDATA_TIMEOUT.
// - The eventfd read is queued or in flight exactly when waker_armed_; poll() arms it before
//   any wait that could block, and never needs it otherwise (a wake() that lands while it is
//   not armed stays in the eventfd's counter and completes the next read at once).
// - A descriptor has at most one reading and one writing op not yet cancelled (fds_), the
//   epoll backend's rule, kept here too so that code written against either backend behaves
//   the same on both: a second one makes start() throw.
class uring_backend final : public backend, private waker {
public:
    uring_backend();  // throws uring_setup_error, or std::system_error for the eventfd
    ~uring_backend() override;

    std::string_view name() const noexcept override { return "io_uring"; }
    backend_caps caps() const noexcept override { return caps_; }
    void poll(std::chrono::nanoseconds timeout, completion_sink& done) override;
    void start(io_op& op) override;
    void cancel(io_op& op) noexcept override;
    void cancel_all() noexcept override;
    void forget(int) noexcept override {}  // nothing is kept per descriptor between ops
    std::size_t pending_ops() const noexcept override { return in_flight_; }
    waker& get_waker() noexcept override { return *this; }

private:
    struct fd_ops {
        io_op* reader = nullptr;
        io_op* writer = nullptr;
    };

    // Wake-ups between loops on rings could skip the eventfd: IORING_OP_MSG_RING (5.18) posts
    // a CQE straight into the target ring (caps().msg_ring). A later optimisation; foreign
    // threads, which have no ring, always need the eventfd.
    void wake() noexcept override;

    bool must_enter() const noexcept;
    void enter(std::chrono::nanoseconds timeout);
    void reap(completion_sink& done);
    void deliver(const io_uring_cqe& cqe, completion_sink& done);
    // A multishot_op's CQE: its part, if any; true unless it is the op's last.
    bool deliver_part(multishot_op& op, const io_uring_cqe& cqe, completion_sink& done);
    void arm_waker();
    void queue_cancel(io_op& op) noexcept;
    void link(io_op& op) noexcept;  // in_flight_list_
    void unlink(io_op& op) noexcept;
    void flush_deferred_cancels() noexcept;
    io_uring_sqe* try_take_sqe() noexcept;
    io_uring_sqe& take_sqe();
    int submit_queued() noexcept;  // no wait; 0 or -errno
    io_op** slot_for(io_op& op);   // null for an op without a descriptor
    void release_slot(io_op& op) noexcept;

    uring::ring ring_;
    uring::buffer_ring buffers_;  // what multishot receives select from
    int event_fd_ = -1;           // the waker: written by any thread, read through the ring
    bool waker_armed_ = false;
    int last_submit_error_ = 0;  // why try_take_sqe() last came back empty
    backend_caps caps_;
    std::size_t in_flight_ = 0;
    io_op* in_flight_list_ = nullptr;  // the same ops, through io_op::backend_prev/next
    bool cancel_any_ = true;           // until the kernel answers -EINVAL (before 5.19)
    std::vector<fd_ops> fds_;          // indexed by descriptor
    // Cancels that found the SQ full and could not submit to make room; queued by the next
    // poll() before it enters the kernel. Capacity reserved by start(): cancel() never
    // allocates.
    std::vector<io_op*> deferred_cancels_;
};

}  // namespace corio::detail
