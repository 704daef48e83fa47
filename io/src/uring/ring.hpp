// One io_uring instance set up with the best flags this kernel accepts, falling back flag by
// flag (Seastar's probed backend list, applied to the ring's setup flags). Owned by one
// uring_backend, used only on its loop's thread.
#pragma once

#include <liburing.h>

#include <cstddef>

#include <corio/detail/backend.hpp>

namespace corio::detail::uring {

// Threads and IORING_SETUP_SINGLE_ISSUER (6.0): the kernel lets exactly one task submit to or
// wait on the ring, and fails any other with -EEXIST. Since 6.1 that task is the one that
// *creates* the ring, unless the ring is created with IORING_SETUP_R_DISABLED (5.10): then it
// is the one that enables it (io_uring_setup(2); 6.0 took the first task to submit). A loop
// may be built on one thread and run on another (tests build and run theirs on the main
// thread, a runtime builds each loop on its own thread), so merely not submitting from the
// constructor would not do: the ring is created disabled, and enable() runs from the first
// submission, which happens in poll() or start(), on the loop's thread.
//
// The constraint that remains, for every loop on this backend: all submitting and polling
// happens on one thread for the loop's whole life, the thread that first polls or starts an
// op. Another thread that tries afterwards gets std::system_error(EEXIST). Closing the ring
// (the destructor) is allowed from any thread.
class ring {
public:
    // Throws uring_setup_error (<corio/detail/backends.hpp>) with io_uring_setup's errno when
    // no flag combination works, and always when CORIO_URING_FORCE_FAIL is set to anything
    // but "" or "0" (read here, at every setup: the tests' way to force the epoll fallback).
    // Never submits anything.
    explicit ring(unsigned entries);
    ~ring();
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;

    io_uring& get() noexcept { return ring_; }
    const io_uring& get() const noexcept { return ring_; }
    unsigned setup_flags() const noexcept { return ring_.flags; }

    // Makes the calling thread the ring's only submitter, once. 0 or -errno.
    int enable() noexcept { return enabled_ ? 0 : enable_slow(); }

    // True when the kernel may hold completions that only entering it will post: with
    // TASKRUN_FLAG it says so in the SQ ring's flags (IORING_SQ_TASKRUN, 5.19), so an idle
    // ring costs no syscall even with ops in flight; without it, any op in flight may.
    bool kernel_has_completions(std::size_t ops_in_flight) const noexcept;

    // What this kernel offers beyond the basics, from IORING_REGISTER_PROBE (5.6).
    backend_caps probe_caps() noexcept;

private:
    int enable_slow() noexcept;

    io_uring ring_{};
    bool enabled_ = false;
};

}  // namespace corio::detail::uring
