// Ring setup with flag-by-flag fallback, enabling, and the capability probe (ring.hpp).
#include "ring.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <corio/detail/backends.hpp>

namespace corio::detail::uring {
namespace {

// Setup flags, newest kernel first; each step drops the newest feature of the one before.
// io_uring_setup answers EINVAL for a flag it does not know, so EINVAL means "try the next
// step"; any other error (ENOSYS: no io_uring; EPERM: kernel.io_uring_disabled or a
// seccomp filter; ENOMEM: RLIMIT_MEMLOCK before 5.12) means no ring at all.
//   SINGLE_ISSUER  6.0   one submitting task; lets the kernel skip locking
//   DEFER_TASKRUN  6.1   completions are posted only when the issuer asks (GETEVENTS), not
//                        by interrupting it; requires SINGLE_ISSUER
//   COOP_TASKRUN   5.19  no IPI to post completions; they wait for the next kernel entry
//   TASKRUN_FLAG   5.19  with COOP_TASKRUN or DEFER_TASKRUN: IORING_SQ_TASKRUN tells user
//                        space that such completions are waiting (see kernel_has_completions)
//   SUBMIT_ALL     5.18  one bad SQE does not stop the rest of the batch
//   R_DISABLED     5.10  no submissions until enabled (ring.hpp: who becomes the issuer)
constexpr unsigned setup_steps[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED,  // 6.1
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
        IORING_SETUP_R_DISABLED,  // 6.1, in case TASKRUN_FLAG is refused with DEFER_TASKRUN
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED,                            // 6.0
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,  // 5.19
    IORING_SETUP_SUBMIT_ALL,                                                          // 5.18
    0,                                                                                // 5.1
};

bool forced_to_fail() {
    const char* value = std::getenv("CORIO_URING_FORCE_FAIL");
    return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace

ring::ring(unsigned entries) {
    if (forced_to_fail()) {
        throw uring_setup_error(ENOSYS, std::system_category(),
                                "io_uring_setup refused: CORIO_URING_FORCE_FAIL is set");
    }
    int rc = -EINVAL;
    for (unsigned flags : setup_steps) {
        io_uring_params params{};
        params.flags = flags;
        rc = io_uring_queue_init_params(entries, &ring_, &params);
        if (rc != -EINVAL)
            break;
    }
    if (rc < 0)
        throw uring_setup_error(-rc, std::system_category(), "io_uring_setup");
    enabled_ = (ring_.flags & IORING_SETUP_R_DISABLED) == 0;
}

ring::~ring() {
    io_uring_queue_exit(&ring_);
}

int ring::enable_slow() noexcept {
    // liburing 2.3 declares io_uring_enable_rings() but its shared library does not export it
    // (missing from liburing.map), so this is the register call it would make.
    int rc = io_uring_register(static_cast<unsigned>(ring_.ring_fd), IORING_REGISTER_ENABLE_RINGS,
                               nullptr, 0);
    if (rc < 0)
        return rc;
    enabled_ = true;
    return 0;
}

bool ring::kernel_has_completions(std::size_t ops_in_flight) const noexcept {
    // The SQ ring's flags word is shared with the kernel, which sets and clears bits in it
    // concurrently; liburing's own io_uring_cq_has_overflow() reads it the same way (relaxed:
    // a stale answer costs one syscall, or one iteration's delay, nothing more).
    const unsigned sq_flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
    if ((sq_flags & IORING_SQ_CQ_OVERFLOW) != 0)
        return true;
    if ((ring_.flags & IORING_SETUP_TASKRUN_FLAG) != 0)
        return (sq_flags & IORING_SQ_TASKRUN) != 0;
    return ops_in_flight > 0;
}

backend_caps ring::probe_caps() noexcept {
    backend_caps caps;
    caps.native_files = true;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr)
        return caps;  // before 5.6, or out of memory: claim nothing more
    caps.msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) != 0;  // 5.18
    // Multishot accept (IORING_ACCEPT_MULTISHOT) and provided buffer rings
    // (IORING_REGISTER_PBUF_RING) are flags and register codes, which the probe does not
    // list; both arrived in 5.19 together with IORING_OP_SOCKET, which it does.
    const bool since_5_19 = io_uring_opcode_supported(probe, IORING_OP_SOCKET) != 0;
    caps.multishot_accept = since_5_19;
    caps.provided_buffers = since_5_19;
    // IORING_RECV_MULTISHOT is a flag too; it came in 6.0 with IORING_OP_SEND_ZC.
    caps.multishot_recv = since_5_19 && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) != 0;
    io_uring_free_probe(probe);
    return caps;
}

}  // namespace corio::detail::uring
