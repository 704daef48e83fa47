// Backend selection: CORIO_BACKEND=io_uring|epoll|auto, or the loop constructor's option. An
// ordered, probed list as Seastar's reactor_backend_selector: io_uring first, epoll last.
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <corio/detail/backends.hpp>
#include <corio/log.hpp>

#include "epoll/epoll_backend.hpp"

namespace corio::detail {
namespace {

backend_kind kind_from_environment() {
    const char* value = std::getenv("CORIO_BACKEND");
    if (value == nullptr || *value == '\0')
        return backend_kind::automatic;
    std::string_view v(value);
    if (v == "auto")
        return backend_kind::automatic;
    if (v == "epoll")
        return backend_kind::epoll;
    if (v == "io_uring")
        return backend_kind::io_uring;
    throw std::invalid_argument("CORIO_BACKEND must be io_uring, epoll or auto, not '" +
                                std::string(v) + "'");
}

// Whether io_uring works in this process, learnt from the first automatic selection, which
// sets up a real ring (the ring it keeps if it works) rather than a throwaway one. Thread-safe:
// runtime loops are built on their own threads at the same time.
struct uring_probe {
    std::mutex mutex;
    std::optional<std::string> failure;  // guarded by mutex; unset: not probed yet
};

uring_probe& probe() {
    static uring_probe p;
    return p;
}

// The first caller probes while holding the lock, so that concurrent first callers wait for
// its answer instead of probing (and logging) too. Once the probe has succeeded, a later ring
// that cannot be set up (memory, RLIMIT_MEMLOCK) throws, rather than giving one loop of a
// runtime a different backend from its siblings.
std::unique_ptr<backend> make_automatic_backend() {
    uring_probe& p = probe();
    std::unique_lock lock(p.mutex);
    if (p.failure.has_value()) {
        const bool works = p.failure->empty();
        lock.unlock();
        return works ? make_uring_backend() : make_epoll_backend();
    }
    try {
        auto b = make_uring_backend();
        p.failure.emplace();
        return b;
    } catch (const uring_setup_error& e) {
        p.failure = e.what();
    }
    std::string message = "io_uring unavailable (" + *p.failure + "); using epoll";
    lock.unlock();
    // Once per probe, outside the lock: a log sink may do anything, even build a loop.
    log(log_level::warning, message);
    return make_epoll_backend();
}

}  // namespace

std::unique_ptr<backend> make_epoll_backend() {
    return std::make_unique<epoll_backend>();
}

std::unique_ptr<backend> make_backend(backend_kind kind) {
    if (kind == backend_kind::automatic)
        kind = kind_from_environment();
    switch (kind) {
        case backend_kind::io_uring:
            return make_uring_backend();
        case backend_kind::epoll:
            return make_epoll_backend();
        case backend_kind::automatic:
            break;
    }
    return make_automatic_backend();
}

void reset_backend_probe_for_tests() {
    uring_probe& p = probe();
    std::lock_guard lock(p.mutex);
    p.failure.reset();
}

}  // namespace corio::detail
