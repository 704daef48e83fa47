// One I/O operation, written once and lowered twice (monoio's OpAble): prep() fills an
// io_uring SQE; wants() + try_now() are the readiness path (register interest, then the
// non-blocking syscall). The op lives in the awaiting coroutine frame: no allocation.
//
// Lifecycle: idle -> submitted -> done, or submitted -> cancelling -> done.
// cancel() never frees anything the kernel may still touch: on io_uring it submits
// ASYNC_CANCEL and the op reaches `done` with the CQE of the original request; on epoll the
// backend unlinks the op and completes it with -ECANCELED. Either way the op is pushed to the
// loop's ready queue exactly once, and complete() runs there, never inside a backend's
// reaping loop: resuming a coroutine from inside the reaping loop would let it start new
// operations on a backend that is halfway through iterating its own state.
//
// loop.close() drains in-flight ops before it destroys any frame: backend::cancel_all(), then
// polls (discarding what completes: discarded() instead of complete()) until none is pending. If
// the kernel keeps one past a bound, close() leaks the pending task frames rather than free memory
// the kernel may write.
#pragma once

#include <cstddef>
#include <cstdint>

struct io_uring_sqe;  // liburing's; only the io_uring backend sees its definition

namespace corio::detail {

class completion_sink;

enum class op_state : std::uint8_t { idle, submitted, cancelling, done };
enum class interest : std::uint8_t { read = 1, write = 2 };
enum class attempt : std::uint8_t { done, would_block };

class io_op {
public:
    op_state state = op_state::idle;
    int result = 0;  // -errno or a count, as the kernel returns it
    // Set by an owner that calls backend::forget(fd()) before it closes the descriptor (the
    // stream transport): the backend may then keep per-descriptor state between ops (epoll
    // keeps the registration). Without it, a backend keeps nothing once the op is done.
    bool forget_on_close = false;
    // A multishot_op (below): the io_uring backend delivers its completions in parts.
    bool multishot = false;
    // The backend's, while the op is started and not yet pushed to a sink: an intrusive list
    // of the ops a backend has in flight (for cancel_all() on kernels that cannot cancel
    // "any"), so that tracking them costs no allocation.
    io_op* backend_prev = nullptr;
    io_op* backend_next = nullptr;

    // io_uring lowering.
    virtual void prep(io_uring_sqe& sqe) noexcept = 0;

    // Readiness lowering: the descriptor and direction to wait for, then one non-blocking try
    // that stores its outcome in `result` (or says it would block).
    virtual int fd() const noexcept = 0;
    virtual interest wants() const noexcept = 0;
    virtual attempt try_now() noexcept = 0;

    // Runs on the loop, from the ready queue, once the op is done.
    virtual void complete() noexcept = 0;
    // Runs instead of complete() when loop.close() drops the finished op: for an op that owns
    // something complete() would have released. The kernel is done with the op.
    virtual void discarded() noexcept {}

protected:
    ~io_op() = default;
};

// An op the io_uring backend keeps armed across many completions (6.0 and later): a multishot
// accept, whose every completion is a new connection, or a multishot recv, whose every
// completion is a part of the stream in one of the loop's provided buffers (selects_buffer). A
// socket that is read or accepted from again and again then costs no new request each time.
// Only a backend whose caps() say so (multishot_accept, multishot_recv) starts one.
//
// Each part goes to part() on the loop's thread but inside the backend's reaping loop: part()
// stores it and may schedule a resumption through `done`, and never resumes a coroutine or
// starts an op itself (the rule above). If it throws (out of memory), the part is delivered
// again by the next poll. The op completes once, as any op, when the kernel ends it, with
// `result` 0 (a recv's EOF), -errno (-ECANCELED after cancel(); for a recv -ENOBUFS when the
// buffers ran out), or positive: it stopped after a part, with no error, and may be started
// again.
class multishot_op : public io_op {
public:
    explicit multishot_op(bool selects_buffer) noexcept : selects_buffer(selects_buffer) {
        multishot = true;
    }
    // A part: `result` as the kernel returned it (a descriptor, or a byte count with `data`
    // pointing at the bytes, valid during the call only).
    virtual void part(int result, const char* data, completion_sink& done) = 0;

    const bool selects_buffer;

protected:
    ~multishot_op() = default;
};

}  // namespace corio::detail
