// Backend selection: CORIO_BACKEND=io_uring|epoll|auto, or the loop constructor's option.
#include <corio/detail/backends.hpp>

#include "epoll/epoll_backend.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace corio::detail {
namespace {

backend_kind kind_from_environment() {
    const char* value = std::getenv("CORIO_BACKEND");
    if (value == nullptr || *value == '\0') return backend_kind::automatic;
    std::string_view v(value);
    if (v == "auto") return backend_kind::automatic;
    if (v == "epoll") return backend_kind::epoll;
    if (v == "io_uring") return backend_kind::io_uring;
    throw std::invalid_argument("CORIO_BACKEND must be io_uring, epoll or auto, not '" +
                                std::string(v) + "'");
}

}  // namespace

std::unique_ptr<backend> make_epoll_backend() { return std::make_unique<epoll_backend>(); }

std::unique_ptr<backend> make_backend(backend_kind kind) {
    if (kind == backend_kind::automatic) kind = kind_from_environment();
    switch (kind) {
        case backend_kind::io_uring:
            throw std::runtime_error("the io_uring backend is not part of this build yet");
        case backend_kind::automatic:  // until io_uring lands, epoll is the only backend
        case backend_kind::epoll:
            return make_epoll_backend();
    }
    return make_epoll_backend();
}

}  // namespace corio::detail
