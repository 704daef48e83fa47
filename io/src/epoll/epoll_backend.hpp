// The epoll backend: readiness-based, as asyncio's selector loop. An op first tries its
// non-blocking syscall; only if that would block does the backend register interest, and on
// readiness it tries again. Level-triggered, one op per direction per descriptor.
//
// Registrations of descriptors whose owner calls forget(fd) before closing them
// (io_op::forget_on_close: the stream transport) persist, as libuv's and tokio's do: interest
// is added when an op must wait and is not registered yet, and dropped lazily, only when
// epoll reports readiness that no op waits for. Other descriptors are registered while an op
// waits and deleted when none does, since nobody would tell us that they were closed. A
// connection that reads, answers and reads again makes no epoll_ctl call per request.
// forget(fd) deletes the registration, so that a descriptor number reused later starts
// clean; an op without forget_on_close on a descriptor kept that way also starts clean (its
// number may have been closed and reused without forget()).
#pragma once

#include <sys/epoll.h>

#include <vector>

#include <corio/detail/backend.hpp>

namespace corio::detail {

class epoll_backend final : public backend, private waker {
public:
    epoll_backend();  // throws std::system_error
    ~epoll_backend() override;

    std::string_view name() const noexcept override { return "epoll"; }
    backend_caps caps() const noexcept override { return {}; }
    void poll(std::chrono::nanoseconds timeout, completion_sink& done) override;
    void start(io_op& op) override;
    void cancel(io_op& op) noexcept override;
    void cancel_all() noexcept override;
    void forget(int fd) noexcept override;
    std::size_t pending_ops() const noexcept override { return waiting_ + finished_.size(); }
    waker& get_waker() noexcept override { return *this; }

private:
    struct fd_ops {
        io_op* reader = nullptr;
        io_op* writer = nullptr;
        std::uint32_t registered = 0;  // the events epoll currently has for this fd
        bool sticky = false;           // an op with forget_on_close used it: keep the registration
    };

    void wake() noexcept override;
    int wait(std::chrono::nanoseconds timeout) noexcept;
    void dispatch(const epoll_event& ev, completion_sink& done);
    void try_slot(io_op*& slot, completion_sink& done);
    void cancel_slot(io_op*& slot) noexcept;
    bool awaits_readiness_first(const io_op& op) const noexcept;
    static std::uint32_t wanted(const fd_ops& ops) noexcept;
    int set_interest(int fd, std::uint32_t want) noexcept;  // 0 or errno
    void drain_wakeups(completion_sink& done) noexcept;

    int epoll_fd_ = -1;
    int event_fd_ = -1;  // the waker: written by any thread, read here
    bool have_pwait2_ = true;
    std::size_t waiting_ = 0;       // ops registered for readiness
    std::vector<io_op*> finished_;  // completed by start() or cancel(), delivered by poll()
    std::vector<fd_ops> fds_;       // indexed by descriptor, as libuv's watchers
    std::vector<epoll_event> events_;
};

}  // namespace corio::detail
