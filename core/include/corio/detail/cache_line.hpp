// The alignment that keeps data written by one thread off the cache lines another thread reads.
#pragma once

#include <cstddef>

namespace corio::detail {

// 128, not 64: on x86 the adjacent-line prefetcher fetches 64-byte lines in pairs, so two
// threads writing neighbouring 64-byte lines still contend. A named constant because gcc 12
// warns about std::hardware_destructive_interference_size (its value may change between
// compiler versions, an ABI hazard in a header).
inline constexpr std::size_t cache_line_size = 128;

}  // namespace corio::detail
