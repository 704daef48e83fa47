// The epoll backend: readiness-based, as asyncio's selector loop. An op first tries its
// non-blocking syscall; only if that would block does the backend register interest, and on
// readiness it tries again. Level-triggered, one op per direction per descriptor, interest
// updated with EPOLL_CTL_ADD/MOD/DEL as ops come and go.
#pragma once

#include <corio/detail/backend.hpp>

#include <sys/epoll.h>

#include <vector>

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
    std::size_t pending_ops() const noexcept override { return waiting_ + finished_.size(); }
    waker& get_waker() noexcept override { return *this; }

private:
    struct fd_ops {
        io_op* reader = nullptr;
        io_op* writer = nullptr;
        std::uint32_t registered = 0;  // the events epoll currently has for this fd
    };

    void wake() noexcept override;
    int wait(std::chrono::nanoseconds timeout) noexcept;
    void dispatch(const epoll_event& ev, completion_sink& done);
    void try_slot(io_op*& slot, completion_sink& done);
    int update_interest(int fd) noexcept;  // 0 or errno
    void drain_wakeups(completion_sink& done) noexcept;

    int epoll_fd_ = -1;
    int event_fd_ = -1;  // the waker: written by any thread, read here
    bool have_pwait2_ = true;
    std::size_t waiting_ = 0;         // ops registered for readiness
    std::vector<io_op*> finished_;    // completed by start() or cancel(), delivered by poll()
    std::vector<fd_ops> fds_;         // indexed by descriptor, as libuv's watchers
    std::vector<epoll_event> events_;
};

}  // namespace corio::detail
