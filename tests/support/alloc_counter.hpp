// Counts every global operator new in the test binary that links alloc_counter.cpp, so that a
// test can prove a hot path allocates nothing: take a count, run, compare.
#pragma once

#include <cstdint>

namespace corio::test {

// Allocations made by the calling thread since it started, and their requested bytes.
std::uint64_t allocation_count() noexcept;
std::uint64_t allocated_bytes() noexcept;

class allocation_scope {
public:
    allocation_scope() noexcept : start_(allocation_count()) {}
    std::uint64_t allocations() const noexcept { return allocation_count() - start_; }

private:
    std::uint64_t start_;
};

}  // namespace corio::test
