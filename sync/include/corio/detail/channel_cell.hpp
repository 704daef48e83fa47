// A channel's item as it travels through the channel's queue (moodycamel::ConcurrentQueue):
// channel<T>'s element type. Not API.
//
// Why a cell, and not T itself: so that the store of an item into the queue's block can ask
// for the line it will write two sends later, as the inbox's cell does
// (prefetch_queue_slot_ahead, prefetch.hpp).
//
// moodycamel's enqueue takes a finished element and move-constructs the slot from it, and it
// is the only place it constructs one. So a send hands it a pending cell, which only points
// at the item, and the slot's constructor moves the item itself: the item is moved once, from
// the sender's object into the block, with no copy on the sender's stack on the way (each
// store of a send counts, inbox_cell.hpp). A pending cell holds no T: it is made in raw
// storage and never destroyed (pending_cell below).
#pragma once

#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include <corio/detail/prefetch.hpp>

namespace corio::detail {

template <class T>
class channel_cell {
    static_assert(std::is_nothrow_move_constructible_v<T>);

public:
    // The slot's construction from a pending cell (the enqueue's): moves the item in.
    channel_cell(channel_cell&& pending) noexcept {
        prefetch_queue_slot_ahead(this);
        ::new (&value_) T(std::move(*pending.source_));
    }
    channel_cell(const channel_cell&) = delete;
    channel_cell& operator=(const channel_cell&) = delete;
    channel_cell& operator=(channel_cell&&) = delete;
    ~channel_cell() { value_.~T(); }  // a slot's: pending cells are never destroyed

    T& value() noexcept { return value_; }

private:
    template <class>
    friend class pending_cell;
    struct pending_tag {};
    channel_cell(pending_tag, T& source) noexcept : source_(&source) {}

    union {
        T value_;    // a slot's item
        T* source_;  // a pending cell's: the item to move in
    };
};

// A send's pending cell, for the enqueue: lives in raw storage, so that its destructor (which
// would destroy a T it does not hold) never runs.
template <class T>
class pending_cell {
public:
    explicit pending_cell(T& item) noexcept {
        ::new (static_cast<void*>(storage_))
            channel_cell<T>(typename channel_cell<T>::pending_tag{}, item);
    }
    pending_cell(const pending_cell&) = delete;
    pending_cell& operator=(const pending_cell&) = delete;
    channel_cell<T>&& cell() noexcept {
        return std::move(*std::launder(reinterpret_cast<channel_cell<T>*>(storage_)));
    }

private:
    alignas(channel_cell<T>) unsigned char storage_[sizeof(channel_cell<T>)];
};

// moodycamel's bulk dequeue writes through an output iterator: this one moves each item from
// its slot into the receiver's buffer (moodycamel then destroys the slot's moved-from item).
template <class T>
struct into_receive_buffer {
    std::optional<T>* at;
    into_receive_buffer& operator*() noexcept { return *this; }
    into_receive_buffer& operator++() noexcept {
        ++at;
        return *this;
    }
    into_receive_buffer operator++(int) noexcept { return {at++}; }
    into_receive_buffer& operator=(channel_cell<T>&& slot) noexcept {
        at->emplace(std::move(slot.value()));
        return *this;
    }
};

}  // namespace corio::detail
