// Multishot ops that may outlive their owner (owned_multishot_op.hpp).
#include "owned_multishot_op.hpp"

#include <cerrno>

namespace corio::detail {

attempt owned_multishot_op::try_now() noexcept {
    result = -EOPNOTSUPP;
    return attempt::done;
}

bool owned_multishot_op::end_if_orphaned() noexcept {
    in_flight = false;
    if (!orphaned_)
        return false;
    orphan_ended(result);
    delete this;
    return true;
}

void owned_multishot_op::complete() noexcept {
    if (!end_if_orphaned())
        ended(result);  // may destroy the owner, and with it this op: nothing after
}

void owned_multishot_op::discarded() noexcept {
    if (!end_if_orphaned())
        dropped(result);
}

void owned_multishot_op::orphan(event_loop& loop) noexcept {
    orphaned_ = true;
    if (state == op_state::submitted)
        loop_access::backend(loop).cancel(*this);
}

}  // namespace corio::detail
