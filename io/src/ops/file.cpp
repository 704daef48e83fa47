// File ops (detail/file_ops.hpp), the io_uring lowering: IORING_OP_OPENAT / READ / WRITE /
// FSYNC / CLOSE. The executor lowering is in files.cpp (this file is the one that sees
// liburing, whose headers clash with moodycamel's).
#include <fcntl.h>
#include <liburing.h>

#include <cerrno>

#include <corio/detail/file_ops.hpp>

namespace corio::detail {

void file_op::prep(io_uring_sqe& sqe) noexcept {
    // An offset of -1 (all ones as __u64) reads or writes at the file position and advances
    // it (IORING_FEAT_RW_CUR_POS, 5.6).
    const auto at = static_cast<__u64>(offset_);
    switch (kind_) {
        case kind::open:
            io_uring_prep_openat(&sqe, AT_FDCWD, path_, flags_, mode_);
            return;
        case kind::read:
            io_uring_prep_read(&sqe, file_fd_, buf_, static_cast<unsigned>(len_), at);
            return;
        case kind::write:
            io_uring_prep_write(&sqe, file_fd_, buf_, static_cast<unsigned>(len_), at);
            return;
        case kind::fsync:
            io_uring_prep_fsync(&sqe, file_fd_, 0);
            return;
        case kind::fdatasync:
            io_uring_prep_fsync(&sqe, file_fd_, IORING_FSYNC_DATASYNC);
            return;
        case kind::close:
            io_uring_prep_close(&sqe, file_fd_);
            return;
    }
}

attempt file_op::try_now() noexcept {
    result = -EOPNOTSUPP;
    return attempt::done;
}

}  // namespace corio::detail
