// The io_uring backend (uring_backend.hpp).
#include "uring_backend.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <corio/detail/backends.hpp>

namespace corio::detail {
namespace {

constexpr unsigned ring_entries = 256;  // SQ size; the kernel makes the CQ twice as large

// user_data of internal requests. An io_op's address is never 1 or 2 (it is aligned, and not
// null), and liburing keeps LIBURING_UDATA_TIMEOUT (all ones) for itself.
constexpr std::uint64_t waker_tag = 1;
constexpr std::uint64_t cancel_tag = 2;
constexpr std::uint64_t cancel_all_tag = 3;  // cancel_all()'s one ASYNC_CANCEL_ANY request

// Where the waker's eventfd reads land: process-wide and never read, rather than a member,
// so that no kernel write can reach a destroyed backend. Closing a ring cancels its armed
// read, but with DEFER_TASKRUN a read whose eventfd fired just before the close is finished
// later, as task work of the loop's thread, and whether that path still copies the 8 bytes
// depends on kernel internals not worth relying on.
std::uint64_t waker_sink;

[[noreturn]] void throw_ring_error(int err, const std::string& what) {
    if (err == EEXIST) {
        throw std::system_error(err, std::system_category(),
                                what +
                                    ": this loop's io_uring ring belongs to the thread that "
                                    "first polled it or started an operation on it "
                                    "(IORING_SETUP_SINGLE_ISSUER)");
    }
    throw std::system_error(err, std::system_category(), what);
}

}  // namespace

std::unique_ptr<backend> make_uring_backend() {
    return std::make_unique<uring_backend>();
}

uring_backend::uring_backend() : ring_(ring_entries) {
    // Non-blocking, so that wake() can never block; the ring still waits for it by polling,
    // as it does for the non-blocking pipes and sockets that ops read.
    event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0)
        throw std::system_error(errno, std::system_category(), "eventfd");
    caps_ = ring_.probe_caps();
    // Without the buffer ring (too old a kernel, or no memory for it) streams read with one
    // recv per read, as on epoll.
    caps_.provided_buffers = caps_.provided_buffers && buffers_.setup(ring_.get()) == 0;
    caps_.multishot_recv = caps_.multishot_recv && caps_.provided_buffers;
}

// The loop drains its ops before it destroys the backend (io_op.hpp); the ring is closed after
// this body, when ring_ is destroyed, and the kernel cancels whatever is left in it.
uring_backend::~uring_backend() {
    ::close(event_fd_);
    if (in_flight_ > 0)
        buffers_.abandon();  // close() gave up draining: the kernel may still fill them
}

// One iteration's I/O step, in this order: queue cancels that had to wait for room, decide
// whether the kernel must be entered at all, enter it once (submit, and wait if allowed), then
// hand every CQE's op to the sink.
void uring_backend::poll(std::chrono::nanoseconds timeout, completion_sink& done) {
    if (!deferred_cancels_.empty())
        flush_deferred_cancels();
    // Completions already posted, or a cancel still unsent: deliver or send without blocking.
    const bool posted = io_uring_cq_ready(&ring_.get()) > 0;
    if (posted || !deferred_cancels_.empty()) {
        timeout = std::chrono::nanoseconds(0);
    }
    if (timeout.count() == 0 && !must_enter()) {
        // Nothing to submit and nothing the kernel holds back: whatever has finished is
        // already in the CQ ring, which is read without a syscall.
        ++done.stats().polls_skipped;
        if (!posted)
            return;  // the busy loop's common case: nothing to reap (a CQE posted since is
                     // reaped next iteration, as one posted just after the reap would be)
    } else {
        ++done.stats().polls;
        enter(timeout);
    }
    reap(done);
}

bool uring_backend::must_enter() const noexcept {
    return io_uring_sq_ready(&ring_.get()) > 0 || ring_.kernel_has_completions(in_flight_);
}

void uring_backend::enter(std::chrono::nanoseconds timeout) {
    io_uring& r = ring_.get();
    if (int rc = ring_.enable(); rc < 0)
        throw_ring_error(-rc, "io_uring_register(ENABLE_RINGS)");
    int rc;
    if (timeout.count() == 0) {
        // Submit, and (GETEVENTS) let the kernel post what DEFER_TASKRUN or COOP_TASKRUN held
        // back: without this a zero-timeout poll with ops in flight would never see them.
        rc = io_uring_submit_and_get_events(&r);
    } else {
        if (!waker_armed_)
            arm_waker();
        __kernel_timespec ts{};
        __kernel_timespec* limit = nullptr;
        if (timeout.count() > 0) {
            ts.tv_sec = timeout.count() / 1'000'000'000;
            ts.tv_nsec = timeout.count() % 1'000'000'000;
            limit = &ts;
        }
        // One io_uring_enter: submit, then wait for a CQE or the timeout (IORING_FEAT_EXT_ARG,
        // 5.11; before that liburing adds a timeout SQE of its own, LIBURING_UDATA_TIMEOUT).
        io_uring_cqe* first = nullptr;
        rc = io_uring_submit_and_wait_timeout(&r, &first, 1, limit, nullptr);
    }
    // ETIME: the wait timed out; EINTR: a signal; EBUSY, EAGAIN: the kernel is short of CQ room
    // or memory for new requests, which stay queued for the next poll.
    if (rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EBUSY || rc == -EAGAIN)
        return;
    throw_ring_error(-rc, "io_uring_enter");
}

void uring_backend::reap(completion_sink& done) {
    io_uring& r = ring_.get();
    // Consumes exactly the CQEs delivered, in one store to the CQ head, also when a push throws
    // (growing the ready queue can): the CQE that threw is delivered again next time.
    struct advance_on_exit {
        io_uring& r;
        unsigned n = 0;
        ~advance_on_exit() { io_uring_cq_advance(&r, n); }
    } seen{r};
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&r, head, cqe) {
        deliver(*cqe, done);
        ++seen.n;
    }
}

void uring_backend::deliver(const io_uring_cqe& cqe, completion_sink& done) {
    switch (cqe.user_data) {
        case waker_tag:
            waker_armed_ = false;  // re-armed before the next wait that could block
            // res is 8, or negative if the read was cancelled, which is no wake-up.
            if (cqe.res > 0)
                done.woken();
            return;
        case cancel_all_tag:
            // -EINVAL: a kernel before 5.19, which does not know IORING_ASYNC_CANCEL_ANY (nor
            // ALL): cancel op by op instead. Otherwise res counts the requests it cancelled.
            if (cqe.res == -EINVAL) {
                cancel_any_ = false;
                for (io_op* op = in_flight_list_; op != nullptr; op = op->backend_next)
                    queue_cancel(*op);
            }
            return;
        case cancel_tag:              // the op's own CQE reports the outcome
        case LIBURING_UDATA_TIMEOUT:  // liburing's timeout SQE (kernels before 5.11)
            return;
        default:
            break;
    }
    // Safe because every other user_data is the address of an op that start() accepted, and
    // an op stays valid until it is pushed to a sink, which happens here, once per op.
    io_op& op = *reinterpret_cast<io_op*>(static_cast<std::uintptr_t>(cqe.user_data));
    if (op.multishot && deliver_part(static_cast<multishot_op&>(op), cqe, done))
        return;
    op.result = cqe.res;
    unlink(op);
    done.push(op);
    release_slot(op);
    // A cancel still waiting for room must not outlive its op: the address may be reused.
    if (!deferred_cancels_.empty())
        std::erase(deferred_cancels_, &op);
    --in_flight_;
}

bool uring_backend::deliver_part(multishot_op& op, const io_uring_cqe& cqe, completion_sink& done) {
    if ((cqe.flags & IORING_CQE_F_BUFFER) != 0) {
        const unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
        // The buffer goes back only once its bytes are stored: if part() throws, this CQE
        // is delivered again (reap()), buffer and all.
        if (cqe.res > 0) {
            op.part(cqe.res, buffers_.data(id), done);
            done.part();
        }
        buffers_.recycle(id);
    } else if ((cqe.flags & IORING_CQE_F_MORE) != 0) {
        op.part(cqe.res, nullptr, done);  // an accepted descriptor
        done.part();
    }
    return (cqe.flags & IORING_CQE_F_MORE) != 0;
}

void uring_backend::arm_waker() {
    io_uring_sqe& sqe = take_sqe();
    io_uring_prep_read(&sqe, event_fd_, &waker_sink, sizeof waker_sink, 0);
    io_uring_sqe_set_data64(&sqe, waker_tag);
    waker_armed_ = true;
}

void uring_backend::wake() noexcept {
    const std::uint64_t one = 1;
    // Only EAGAIN (counter saturated, a wake-up is already pending) can fail here.
    [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
}

void uring_backend::start(io_op& op) {
    // Multishot recv picks its buffers from the ring; multishot accept needs none.
    const bool selects_buffer = op.multishot && static_cast<multishot_op&>(op).selects_buffer;
    if (op.multishot && !(selects_buffer ? caps_.multishot_recv : caps_.multishot_accept))
        throw std::logic_error("a multishot op this io_uring backend cannot run");
    io_op** slot = slot_for(op);                // throws before anything is queued
    deferred_cancels_.reserve(in_flight_ + 1);  // so that cancel() never allocates
    io_uring_sqe& sqe = take_sqe();
    op.prep(sqe);
    if (selects_buffer) {
        sqe.flags |= IOSQE_BUFFER_SELECT;
        sqe.buf_group = uring::buffer_ring::group;
    }
    io_uring_sqe_set_data(&sqe, &op);  // handed back in the op's CQE: deliver()
    if (slot != nullptr)
        *slot = &op;
    op.state = op_state::submitted;
    link(op);
    ++in_flight_;
}

void uring_backend::link(io_op& op) noexcept {
    op.backend_prev = nullptr;
    op.backend_next = in_flight_list_;
    if (in_flight_list_ != nullptr)
        in_flight_list_->backend_prev = &op;
    in_flight_list_ = &op;
}

void uring_backend::unlink(io_op& op) noexcept {
    if (op.backend_prev != nullptr) {
        op.backend_prev->backend_next = op.backend_next;
    } else {
        in_flight_list_ = op.backend_next;
    }
    if (op.backend_next != nullptr)
        op.backend_next->backend_prev = op.backend_prev;
    op.backend_prev = op.backend_next = nullptr;
}

void uring_backend::cancel_all() noexcept {
    for (io_op* op = in_flight_list_; op != nullptr; op = op->backend_next) {
        if (op->state == op_state::submitted) {
            op->state = op_state::cancelling;
            release_slot(*op);
            if (!cancel_any_)
                queue_cancel(*op);
        }
    }
    if (!cancel_any_ || in_flight_list_ == nullptr)
        return;
    // IORING_ASYNC_CANCEL_ANY | ALL (5.19): one request cancels everything in the ring
    // (the waker's read too, which the next blocking poll re-arms). A kernel that refuses the
    // flags answers -EINVAL, and deliver() falls back to one cancel per op.
    if (io_uring_sqe* sqe = try_take_sqe()) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, cancel_all_tag);
        return;
    }
    cancel_any_ = false;  // no room even for one request: per-op cancels wait for room
    for (io_op* op = in_flight_list_; op != nullptr; op = op->backend_next)
        queue_cancel(*op);
}

void uring_backend::cancel(io_op& op) noexcept {
    if (op.state != op_state::submitted)
        return;
    op.state = op_state::cancelling;
    // As on epoll, the descriptor takes a new op at once; this one keeps its buffer until its
    // CQE arrives, with -ECANCELED or with what it did before the cancel reached it.
    release_slot(op);
    queue_cancel(op);
}

void uring_backend::queue_cancel(io_op& op) noexcept {
    io_uring_sqe* sqe = try_take_sqe();
    if (sqe == nullptr) {
        deferred_cancels_.push_back(&op);  // capacity reserved by start()
        return;
    }
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
    io_uring_sqe_set_data64(sqe, cancel_tag);
}

void uring_backend::flush_deferred_cancels() noexcept {
    std::size_t kept = 0;
    for (io_op* op : deferred_cancels_) {
        if (io_uring_sqe* sqe = try_take_sqe()) {
            io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(op), 0);
            io_uring_sqe_set_data64(sqe, cancel_tag);
        } else {
            deferred_cancels_[kept++] = op;
        }
    }
    deferred_cancels_.erase(deferred_cancels_.begin() + static_cast<std::ptrdiff_t>(kept),
                            deferred_cancels_.end());
}

io_uring_sqe* uring_backend::try_take_sqe() noexcept {
    io_uring& r = ring_.get();
    io_uring_sqe* sqe = io_uring_get_sqe(&r);
    if (sqe == nullptr) {
        // The SQ is full: hand the kernel what is queued, without waiting, to make room.
        if (int rc = submit_queued(); rc < 0) {
            last_submit_error_ = -rc;
            return nullptr;
        }
        sqe = io_uring_get_sqe(&r);
        if (sqe == nullptr) {
            last_submit_error_ = EBUSY;  // the kernel took none of them
            return nullptr;
        }
    }
    // Zeroed, so that a field an op's prep() leaves alone is 0 (opcode 0 is a NOP), never a
    // value from the request that used this slot before.
    std::memset(sqe, 0, sizeof *sqe);
    return sqe;
}

io_uring_sqe& uring_backend::take_sqe() {
    if (io_uring_sqe* sqe = try_take_sqe())
        return *sqe;
    throw_ring_error(last_submit_error_, "io_uring_enter (making room in the submission queue)");
}

int uring_backend::submit_queued() noexcept {
    if (int rc = ring_.enable(); rc < 0)
        return rc;
    int rc = io_uring_submit(&ring_.get());
    return rc < 0 ? rc : 0;
}

io_op** uring_backend::slot_for(io_op& op) {
    const int fd = op.fd();
    if (fd < 0)
        return nullptr;  // not tied to a descriptor: nothing to share
    const auto index = static_cast<std::size_t>(fd);
    if (index >= fds_.size())
        fds_.resize(index + 1);
    fd_ops& ops = fds_[index];
    const bool reads = op.wants() == interest::read;
    io_op*& slot = reads ? ops.reader : ops.writer;
    if (slot != nullptr) {
        throw std::runtime_error("another operation is already waiting to " +
                                 std::string(reads ? "read" : "write") + " on fd " +
                                 std::to_string(fd));
    }
    return &slot;
}

void uring_backend::release_slot(io_op& op) noexcept {
    const int fd = op.fd();
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size())
        return;
    fd_ops& ops = fds_[static_cast<std::size_t>(fd)];
    if (ops.reader == &op) {
        ops.reader = nullptr;
    } else if (ops.writer == &op) {
        ops.writer = nullptr;
    }
}

}  // namespace corio::detail
