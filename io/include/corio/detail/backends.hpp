// Constructors of the concrete backends, for the default policy and for tests that want one
// backend in particular. Not API.
#pragma once

#include <corio/events.hpp>
#include <corio/detail/backend.hpp>

#include <memory>

namespace corio::detail {

std::unique_ptr<backend> make_epoll_backend();

// The backend `kind` names; automatic reads CORIO_BACKEND (io_uring | epoll | auto).
// Throws std::invalid_argument for an unknown CORIO_BACKEND value.
std::unique_ptr<backend> make_backend(backend_kind kind);

}  // namespace corio::detail
