// A remote_message as it travels into a loop's inbox: built by the posting thread, relocated
// into the inbox's queue (moodycamel::ConcurrentQueue), moved out by the loop. Not API.
//
// Why a cell, and not the message itself: every move of a cell reads its source and leaves it
// stale instead of writing to it, and a cell's destructor does nothing.
// - On the loop's side, moodycamel moves each element out of its block and then destroys it
//   in place. For a remote_message both steps write the slot (the moved-from table pointer is
//   cleared), so every line the loop drains would become modified in the loop's cache, and the
//   producer, which reuses those blocks, would pay for taking each line back. Measured on the
//   raw baseline alone, that write made BM_raw_queue_flood 2-3x slower.
// - On the producer's side, a post is a few stores into lines the loop reads, and every other
//   store the post makes (a register saved, a field cleared) waits behind them in the store
//   buffer, which then holds fewer posts in flight. Measured with the raw queue under a flood
//   from a 2 us-lagged consumer (as the inbox's coalescing drains): 24 extra stack stores per
//   message took it from 20 to 40 ns per message, and from 60 to 113 ns when lines move
//   slowly. So the message is built once, in the cell on the poster's stack (construct in
//   place), and relocated once, into the block (moodycamel's single-element enqueue, inline
//   in inbox::post): no copy of it on the way, no store to clear the source.
//
// The cost of the trick: a cell that is neither relocated nor taken must be dropped (drop())
// or its message is never destroyed; and a cell still in the queue when the queue is destroyed
// is not destroyed. The inbox never lets either happen: post() consumes its cell whether it
// returns or throws, close() sweeps the queue after the last producer has left (inbox.hpp),
// and every message is called exactly once.
#pragma once

#include <new>
#include <utility>

#include <corio/detail/prefetch.hpp>
#include <corio/detail/remote_message.hpp>

namespace corio::detail {

class inbox_cell {
public:
    // Builds the message in place from a callable (what a poster does), or moves in a
    // remote_message.
    template <class F>
    explicit inbox_cell(std::in_place_t, F&& f) {
        ::new (&m_) remote_message(std::forward<F>(f));
    }

    // Relocation into a queue slot, leaving `o` stale; it also fetches the block's line two
    // ahead for writing (prefetch.hpp).
    inbox_cell(inbox_cell&& o) noexcept {
        prefetch_queue_slot_ahead(this);
        ::new (&m_) remote_message(remote_message::relocate_tag{}, o.m_);
    }
    inbox_cell& operator=(inbox_cell&&) = delete;
    inbox_cell(const inbox_cell&) = delete;
    inbox_cell& operator=(const inbox_cell&) = delete;
    // Deliberately empty: a live cell's message is taken (take) or dropped (drop) first; a
    // stale one owns nothing.
    ~inbox_cell() {}

    /// Moves the message into `dst` (empty), leaving this cell stale. Reads only.
    void take(remote_message& dst) noexcept { m_.move_out_leaving_stale(dst); }
    /// Destroys the message uncalled (a post that failed), leaving this cell stale.
    void drop() noexcept { m_.~remote_message(); }

private:
    union {
        remote_message m_;
    };
};

}  // namespace corio::detail
