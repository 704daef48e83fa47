// A multishot op on a socket, owned by an object that may be destroyed before the kernel has
// ended the op (a stream transport's recv, a server's accept stream). The owner then orphans
// it: the op cancels itself, and once the kernel has ended it, releases what it still holds
// and frees itself. Only io_uring starts multishot ops (io_op.hpp), so there is no readiness
// lowering. Used only on its loop's thread.
#pragma once

#include <corio/detail/io_op.hpp>
#include <corio/events.hpp>

namespace corio::detail {

class owned_multishot_op : public multishot_op {
public:
    owned_multishot_op(int fd, bool selects_buffer) noexcept
        : multishot_op(selects_buffer), fd_(fd) {}

    int fd() const noexcept final { return fd_; }
    interest wants() const noexcept final { return interest::read; }
    attempt try_now() noexcept final;  // never called: -EOPNOTSUPP
    void complete() noexcept final;
    void discarded() noexcept final;

    // From start() until complete() or discarded() has run: the op may not be started again.
    bool in_flight = false;

    // The owner is going while this is in flight (call it only then): cancel; once the kernel
    // has ended the op, orphan_ended() and delete this.
    void orphan(event_loop& loop) noexcept;
    bool orphaned() const noexcept { return orphaned_; }

protected:
    virtual ~owned_multishot_op() = default;

    // The op ended, for its owner (from the ready queue). `result` as multishot_op says.
    virtual void ended(int result) noexcept = 0;
    // A closing loop dropped the op's end; the owner is still there.
    virtual void dropped(int) noexcept {}
    // The op ended after its owner went: release what only the op still holds.
    virtual void orphan_ended(int result) noexcept = 0;

    const int fd_;

private:
    // The op has ended: an orphan finishes itself and is deleted (true); an owned one is left
    // to its owner (false).
    bool end_if_orphaned() noexcept;

    bool orphaned_ = false;
};

}  // namespace corio::detail
