// Replaces the global operator new/delete of the test binary with counting versions.
#include "alloc_counter.hpp"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

// Per thread, so that counting costs two plain adds instead of two locked RMWs (which the
// benchmarks in the same binary would pay on every allocation): a test or benchmark measures
// the allocations of the thread it runs on.
thread_local std::uint64_t count = 0;
thread_local std::uint64_t bytes = 0;

void* counted_alloc(std::size_t size, std::size_t align) {
    ++count;
    bytes += size;
    if (size == 0)
        size = 1;
    void* p = align <= alignof(std::max_align_t)
                  ? std::malloc(size)
                  : std::aligned_alloc(align, (size + align - 1) / align * align);
    if (p == nullptr)
        throw std::bad_alloc();
    return p;
}

}  // namespace

namespace corio::test {
std::uint64_t allocation_count() noexcept {
    return count;
}
std::uint64_t allocated_bytes() noexcept {
    return bytes;
}
}  // namespace corio::test

void* operator new(std::size_t size) {
    return counted_alloc(size, alignof(std::max_align_t));
}
void* operator new[](std::size_t size) {
    return counted_alloc(size, alignof(std::max_align_t));
}
void* operator new(std::size_t size, std::align_val_t align) {
    return counted_alloc(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
    return counted_alloc(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
