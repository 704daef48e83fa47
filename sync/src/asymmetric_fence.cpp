// membarrier(2) detection and registration for the asymmetric fences.
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include <corio/detail/asymmetric_fence.hpp>
#include <corio/log.hpp>

namespace corio::detail {
namespace fence_detail {
constinit std::atomic<bool> use_membarrier{false};
}  // namespace fence_detail

namespace {

long membarrier(int command) noexcept {
    return ::syscall(__NR_membarrier, command, 0, 0);
}

bool register_membarrier() noexcept {
    // CORIO_NO_MEMBARRIER=1 forces the full-fence fallback (tests cover both paths with it).
    const char* off = std::getenv("CORIO_NO_MEMBARRIER");
    if (off != nullptr && *off != '\0' && *off != '0')
        return false;
    const long supported = membarrier(MEMBARRIER_CMD_QUERY);
    if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return false;
    // Registration is per process and permanent; without it the command fails with EPERM.
    return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

}  // namespace

void init_asymmetric_fences() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        const bool usable = register_membarrier();
        // Relaxed: whoever posts to an inbox learned of it through some synchronisation with
        // its constructor, which ran this first.
        fence_detail::use_membarrier.store(usable, std::memory_order_relaxed);
        if (!usable) {
            log(log_level::info,
                "corio: membarrier(2) unavailable; cross-thread posts use full fences");
        }
    });
}

bool asymmetric_fences_use_membarrier() noexcept {
    return fence_detail::use_membarrier.load(std::memory_order_relaxed);
}

void full_fence() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

void heavy_fence() noexcept {
    if (fence_detail::use_membarrier.load(std::memory_order_relaxed)) {
        // Cannot fail once registered (EINVAL/EPERM are the only errors, both ruled out). The
        // kernel runs a full barrier on this thread too, at the call's entry and exit.
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    } else {
        full_fence();
    }
}

}  // namespace corio::detail
