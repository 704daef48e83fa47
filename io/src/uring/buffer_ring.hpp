// A provided buffer ring (io_uring_register_buf_ring(3), 5.19): a pool of equal buffers the
// kernel picks from when a receive completes, instead of a buffer fixed when the receive was
// submitted. That is what lets one multishot recv stay armed on a socket: every completion
// names the buffer it filled (IORING_CQE_F_BUFFER, the id in the flags' upper 16 bits), the
// loop copies the bytes out while it reaps, and hands the buffer straight back.
//
// Memory: the ring's entries and the buffers are anonymous mappings, so a loop that never
// receives this way commits only the entries' page; a buffer's pages are committed when the
// kernel first writes into it. Used only on its loop's thread.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>

namespace corio::detail::uring {

class buffer_ring {
public:
    static constexpr std::uint16_t group = 0;  // the buffer group id receives select from
    static constexpr unsigned count = 128;     // a power of two, as the kernel requires
    static constexpr unsigned size = 16 * 1024;

    // Registers the ring with `r`. 0 or -errno; on failure the object holds nothing.
    int setup(io_uring& r) noexcept;
    // Unmaps the memory; the kernel forgets the ring when the io_uring is closed. Only called
    // once nothing in flight can select a buffer (uring_backend's destructor).
    ~buffer_ring();

    bool ready() const noexcept { return entries_ != nullptr; }
    const char* data(unsigned id) const noexcept { return buffers_ + std::size_t{id} * size; }
    // Makes buffer `id` available to the kernel again (a release store of the ring's tail).
    void recycle(unsigned id) noexcept;
    // Keeps the memory mapped for the rest of the process: for a ring whose receives could not
    // be drained, which the kernel may still fill.
    void abandon() noexcept { entries_ = nullptr; }

private:
    io_uring_buf_ring* entries_ = nullptr;
    char* buffers_ = nullptr;
};

}  // namespace corio::detail::uring
