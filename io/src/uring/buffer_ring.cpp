// The loop's provided buffer ring (buffer_ring.hpp).
#include "buffer_ring.hpp"

#include <sys/mman.h>

#include <cerrno>

namespace corio::detail::uring {
namespace {

constexpr std::size_t entries_bytes = sizeof(io_uring_buf) * buffer_ring::count;
constexpr std::size_t buffers_bytes = std::size_t{buffer_ring::count} * buffer_ring::size;

void* map(std::size_t bytes) noexcept {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

int buffer_ring::setup(io_uring& r) noexcept {
    // The entries must be page aligned (the kernel pins them): a mapping of their own.
    void* entries = map(entries_bytes);
    if (entries == nullptr)
        return -errno;
    void* buffers = map(buffers_bytes);
    if (buffers == nullptr) {
        const int err = errno;
        ::munmap(entries, entries_bytes);
        return -err;
    }
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(entries);
    reg.ring_entries = count;
    reg.bgid = group;
    if (int rc = io_uring_register_buf_ring(&r, &reg, 0); rc < 0) {
        ::munmap(buffers, buffers_bytes);
        ::munmap(entries, entries_bytes);
        return rc;
    }
    entries_ = static_cast<io_uring_buf_ring*>(entries);
    buffers_ = static_cast<char*>(buffers);
    io_uring_buf_ring_init(entries_);
    const int mask = io_uring_buf_ring_mask(count);
    for (unsigned id = 0; id < count; ++id)
        io_uring_buf_ring_add(entries_, buffers_ + std::size_t{id} * size, size,
                              static_cast<unsigned short>(id), mask, static_cast<int>(id));
    io_uring_buf_ring_advance(entries_, count);
    return 0;
}

buffer_ring::~buffer_ring() {
    if (entries_ == nullptr)
        return;
    ::munmap(buffers_, buffers_bytes);
    ::munmap(entries_, entries_bytes);
}

void buffer_ring::recycle(unsigned id) noexcept {
    io_uring_buf_ring_add(entries_, buffers_ + std::size_t{id} * size, size,
                          static_cast<unsigned short>(id), io_uring_buf_ring_mask(count), 0);
    io_uring_buf_ring_advance(entries_, 1);
}

}  // namespace corio::detail::uring
