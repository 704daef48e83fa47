// Constructors of the concrete backends, for the default policy and for tests that want one
// backend in particular. Not API.
#pragma once

#include <memory>
#include <system_error>

#include <corio/detail/backend.hpp>
#include <corio/events.hpp>

namespace corio::detail {

// The kernel would not set up an io_uring ring: io_uring_setup's errno (ENOSYS, EPERM from
// kernel.io_uring_disabled or seccomp, ENOMEM from RLIMIT_MEMLOCK before 5.12, ...), or
// ENOSYS when CORIO_URING_FORCE_FAIL is set. What automatic selection falls back on.
class uring_setup_error : public std::system_error {
public:
    using std::system_error::system_error;
};

std::unique_ptr<backend> make_epoll_backend();

// Throws uring_setup_error when the kernel refuses a ring, std::system_error for other
// resources (the waker's eventfd). Set CORIO_URING_FORCE_FAIL=1 to make every ring setup in
// the process fail, as on a kernel without io_uring.
std::unique_ptr<backend> make_uring_backend();

// The backend `kind` names; automatic reads CORIO_BACKEND (io_uring | epoll | auto), and auto
// (or unset) means io_uring if this process's first attempt to set up a ring succeeded, else
// epoll, with one warning per process through corio::log saying why. Throws
// std::invalid_argument for an unknown CORIO_BACKEND value, std::system_error when the
// backend asked for cannot be created.
std::unique_ptr<backend> make_backend(backend_kind kind);

// Forgets the cached io_uring probe (and that its fallback was logged), so that the next
// automatic selection probes again, reading CORIO_URING_FORCE_FAIL afresh. For tests.
void reset_backend_probe_for_tests();

}  // namespace corio::detail
