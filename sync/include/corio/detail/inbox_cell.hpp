// The element type of a loop's inbox queue: a remote_message that the consumer moves out
// without writing to the queue's memory. Not API.
//
// Why: moodycamel moves each element out of its block and then destroys it in place. For a
// remote_message both steps write the slot (the moved-from ops pointer is cleared), so every
// cache line the loop drains becomes modified in the loop's cache, and the producer, which
// reuses those blocks, pays for taking each line back. Measured on the raw baseline alone,
// that write made BM_raw_queue_flood 2-3x slower. A cell is moved out with
// move_out_leaving_stale() and its destructor does nothing, so the loop only reads the block.
//
// The cost of the trick: a cell still in the queue when the queue is destroyed is not
// destroyed. The inbox never lets that happen: close() sweeps the queue after the last
// producer has left (inbox.hpp), and every message is called exactly once.
#pragma once

#include <cstdint>
#include <new>
#include <utility>

#include <corio/detail/inbox_hook.hpp>
#include <corio/detail/prefetch.hpp>

namespace corio::detail {

class inbox_cell {
public:
    // The producer's enqueue constructs the cell in the block straight from the message
    // (enqueue_bulk of one: moodycamel's enqueue takes only a finished element, which would
    // be one more copy of the message on the producer's stack). Every store a post makes
    // occupies the producer's store buffer behind the block's stores, which wait for lines
    // the loop is reading: under a flood, fewer stores per message is more messages in flight.
    //
    // It also asks for the line two ahead, which the post after next will write: the loop
    // read it on the queue's last lap, so the store would wait for the loop's copy to be
    // invalidated (half the producer's time under BM_threadsafe_flood). Two lines, not more:
    // near a block's end further would take the line of the block's empty flags, which the
    // loop writes.
    explicit inbox_cell(remote_message&& m) noexcept {
        prefetch_for_write(reinterpret_cast<std::uintptr_t>(this) + 2 * 64);
        ::new (&m_) remote_message(std::move(m));
    }
    inbox_cell(inbox_cell&&) = delete;
    inbox_cell& operator=(inbox_cell&&) = delete;
    inbox_cell(const inbox_cell&) = delete;
    inbox_cell& operator=(const inbox_cell&) = delete;
    // Deliberately empty: the consumer moves every live cell's message out (take) first; a
    // stale one owns nothing.
    ~inbox_cell() {}

    /// Moves the message into `dst` (empty), leaving this cell stale. Reads only.
    void take(remote_message& dst) noexcept { m_.move_out_leaving_stale(dst); }

private:
    union {
        remote_message m_;
    };
};

}  // namespace corio::detail
