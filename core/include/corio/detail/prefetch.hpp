// A prefetch that asks for a cache line in the state a store needs.
//
// Why not __builtin_prefetch(p, 1): on baseline x86-64 gcc turns it into prefetcht0, a read,
// which brings a line another core holds in the shared state; the store that follows still
// waits for every other copy to be invalidated. PREFETCHW does that invalidation ahead of the
// store. It exists on AMD since K8 and on Intel since Broadwell (CPUID 0x80000001, ECX bit 8);
// elsewhere this falls back to the read prefetch.
#pragma once

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace corio::detail {

inline bool cpu_has_prefetchw() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(0x80000001u, &a, &b, &c, &d) != 0 && (c & (1u << 8)) != 0;
#else
    return false;
#endif
}

// Read once at start-up; a use before that (another static initialiser) reads false and
// takes the fallback, which is only slower.
inline const bool has_prefetchw = cpu_has_prefetchw();

/// Fetches the line holding `addr` for writing. Only a hint: `addr` need not be valid, and
/// nothing is read or written through it.
inline void prefetch_for_write(std::uintptr_t addr) noexcept {
    const auto* p = reinterpret_cast<const char*>(addr);
#if defined(__x86_64__) || defined(__i386__)
    if (has_prefetchw) {
        asm volatile("prefetchw %0" : : "m"(*p));
        return;
    }
#endif
    __builtin_prefetch(p, 1);
}

/// For a producer constructing an element in a moodycamel queue's block at `slot`: fetches,
/// for writing, the line two ahead, which the send after next will write. The consumer read
/// that line on the queue's last lap, so a store into it would wait for the consumer's copy to
/// be invalidated, and every later store of the producer would wait behind it in the store
/// buffer (half the producer's time under BM_threadsafe_flood). Two lines, not more: near a
/// block's end, further would be the block's empty flags, which the consumer writes.
inline void prefetch_queue_slot_ahead(const void* slot) noexcept {
    prefetch_for_write(reinterpret_cast<std::uintptr_t>(slot) + 2 * 64);
}

}  // namespace corio::detail
