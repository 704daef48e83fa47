// Asymmetric fences: a store->load barrier whose cost is put on one side of a handshake.
//
// A Dekker-style handshake (each side stores its flag, then loads the other's) needs a full
// barrier between the store and the load on both sides: x86 lets a load pass an earlier store
// (the store buffer). A locked instruction or mfence is that barrier, but it also makes the
// thread wait until every earlier store, including the queue writes just made to lines another
// core is reading, has left the store buffer: measured on BM_threadsafe_flood, about 110 ns of
// a producer's 150 ns per message.
//
// membarrier(2) with MEMBARRIER_CMD_PRIVATE_EXPEDITED moves that cost to the rare side: the
// caller's kernel entry makes every other running thread of the process execute a full barrier
// (an IPI; a thread that is not running passed through one when it was switched out). So the
// frequent side (a producer's post) needs only a compiler barrier, and the rare side (a loop
// about to sleep, a close) pays a system call: about 0.2 us here, or 2.7 us when another thread
// of the process is running. The man page's own example is this pattern; Seastar
// (systemwide_memory_barrier) and folly (asymmetricHeavyBarrier) use it for the same purpose.
//
// Where the kernel refuses (before 4.14, or a seccomp filter), both sides use a full fence:
// correct, and as slow as the plain scheme. The choice is made once per process, before the
// first inbox exists, and never changes, so both sides of a handshake always agree.
//
// ThreadSanitizer models neither side, so no happens-before may rest on these fences: data
// travels through the queue's own release/acquire atomics, and a closer learns that a producer
// has left through a release store it reads with acquire. The fences only decide whether a
// flag is seen, which is what a lost wake-up would be (tests/sync/wakeup_test.cpp hammers it).
#pragma once

#include <atomic>

namespace corio::detail {

/// Decides, once per process, whether membarrier(2) is usable (and registers for it). Called by
/// every inbox and channel constructor, before any thread can run either side of a handshake.
void init_asymmetric_fences() noexcept;

/// True once init_asymmetric_fences() found membarrier usable.
bool asymmetric_fences_use_membarrier() noexcept;

namespace fence_detail {
// Written once by init_asymmetric_fences(), before any handshake on an inbox or channel runs
// (they call it in their constructors; posting needs the object, so it happens after).
extern std::atomic<bool> use_membarrier;
}  // namespace fence_detail

/// std::atomic_thread_fence(seq_cst), out of line: under -fsanitize=thread gcc warns at each
/// use (-Wtsan), and the fallback should not make every includer warn.
void full_fence() noexcept;

/// The frequent side: orders this thread's earlier stores before its later loads, as seen by a
/// thread that runs heavy_fence() between its own store and load. hot: no alloc, no syscall
inline void light_fence() noexcept {
    if (fence_detail::use_membarrier.load(std::memory_order_relaxed)) [[likely]] {
        std::atomic_signal_fence(std::memory_order_seq_cst);  // the compiler's reordering only
    } else {
        full_fence();
    }
}

/// The rare side: a full barrier on this thread and on every thread that ran light_fence().
void heavy_fence() noexcept;

}  // namespace corio::detail
