// The pause instruction of a spin-wait (idle polling, concurrent_future::result, channel
// senders): it tells the core a spin is in progress, which saves power and, on a hyperthread,
// gives the sibling the pipeline.
#pragma once

namespace corio::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

}  // namespace corio::detail
