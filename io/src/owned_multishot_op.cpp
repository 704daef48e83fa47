// Multishot ops that may outlive their owner (owned_multishot_op.hpp).
#include "owned_multishot_op.hpp"

#include <cerrno>

namespace corio::detail {

attempt owned_multishot_op::try_now() noexcept {
    result = -EOPNOTSUPP;
    return attempt::done;
}

void owned_multishot_op::complete() noexcept {
    in_flight = false;
    if (orphaned_) {
        orphan_ended(result);
        delete this;
        return;
    }
    ended(result);  // may destroy the owner, and with it this op: nothing after
}

void owned_multishot_op::discarded() noexcept {
    in_flight = false;
    if (orphaned_) {
        orphan_ended(result);
        delete this;
        return;
    }
    dropped(result);
}

void owned_multishot_op::orphan(event_loop& loop) noexcept {
    orphaned_ = true;
    if (state == op_state::submitted)
        loop_access::backend(loop).cancel(*this);
}

}  // namespace corio::detail
