// Per-thread producer slots for a multi-producer queue (the inbox, a channel): each thread that
// sends to one gets a slot of its own there (a moodycamel producer token, and whatever else the
// owner keeps per producer), found again through a thread-local cache.
//
// Why: moodycamel's token-less enqueue finds the thread's implicit producer through a hash of
// the thread id on every call, about 85 ns per message on BM_threadsafe_flood; with a token it
// goes straight to the thread's own sub-queue. Why per thread and kept: moodycamel orders items
// within one producer only, so a thread that switched slots could overtake its own messages.
//
// Lifetime: an owner's slots live as long as the owner. The cache is keyed by the owner's
// serial number (never reused), so a dead owner's entry is never matched. When a thread exits,
// its slots go back to their owners, if still alive, for the next new thread: threads that
// come and go reuse a few slots instead of adding one each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace corio::detail {

// The hot half of a thread's slot cache: direct-mapped by owner serial (a thread sends to
// fewer than 64 owners in the common case; serials are consecutive). Trivially destructible
// and constant-initialised, so that a lookup is a plain thread-local load, with neither a
// call nor an initialisation guard (the cache's destructor, which gives slots back, lives in
// another thread_local, touched only when an entry is added: producer_slots.cpp).
struct producer_slot_cache_entry {
    std::uint64_t serial = 0;
    void* slot = nullptr;
};
inline constexpr std::size_t producer_slot_cache_size = 64;
extern constinit thread_local producer_slot_cache_entry
    producer_slot_cache[producer_slot_cache_size];

class producer_slot_owner {
public:
    producer_slot_owner(const producer_slot_owner&) = delete;
    producer_slot_owner& operator=(const producer_slot_owner&) = delete;

    /// A thread that used `slot` here is exiting: the slot may serve another thread. Called
    /// with the owner alive (retire() has not returned), from the exiting thread.
    virtual void give_back(void* slot) noexcept = 0;

protected:
    producer_slot_owner();
    ~producer_slot_owner() = default;

    /// The calling thread's slot here, or null if it has none yet. hot: no alloc
    void* slot_of_this_thread() const noexcept {
        const producer_slot_cache_entry& e =
            producer_slot_cache[serial_ % producer_slot_cache_size];
        if (e.serial == serial_) [[likely]]
            return e.slot;
        return slot_in_overflow();
    }
    /// Records `slot` as the calling thread's slot here (once, after making or reusing it).
    void remember_slot_of_this_thread(void* slot);
    /// The derived destructor's first step (before its slots die): after it, no exiting
    /// thread calls give_back.
    void retire() noexcept;

private:
    void* slot_in_overflow() const noexcept;

    const std::uint64_t serial_;
};

/// The slots of one queue: made on a thread's first send, reused after a thread exits. Declare
/// it after the queue its slots point into (it is destroyed first, and stops the give-backs
/// before it frees them).
template <class Slot>
class producer_slots final : public producer_slot_owner {
public:
    producer_slots() = default;
    ~producer_slots() { retire(); }

    /// The calling thread's slot; `make()` returns a std::unique_ptr<Slot> for a new one. hot
    template <class Make>
    Slot& of_this_thread(Make&& make) {
        if (void* s = slot_of_this_thread()) [[likely]]
            return *static_cast<Slot*>(s);
        return first_use(make);
    }

    /// Calls f(slot) for every slot made so far, under the lock (a thread's first send waits).
    template <class F>
    void for_each(F&& f) const {
        std::lock_guard lock(mutex_);
        for (const auto& slot : slots_)
            f(*slot);
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return slots_.size();
    }

    void give_back(void* slot) noexcept override {
        std::lock_guard lock(mutex_);
        free_.push_back(static_cast<Slot*>(slot));  // within the capacity reserved above
    }

private:
    // Out of line, so that the hot lookup above inlines into a send without the lock's
    // register saves (under a flood each of their stores queues behind the block's).
    template <class Make>
    [[gnu::noinline]] Slot& first_use(Make& make) {
        Slot* slot;
        {
            std::lock_guard lock(mutex_);
            if (!free_.empty()) {
                slot = free_.back();
                free_.pop_back();
            } else {
                slots_.push_back(make());
                slot = slots_.back().get();
                free_.reserve(slots_.size());  // give_back never allocates
            }
        }
        remember_slot_of_this_thread(slot);
        return *slot;
    }

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::vector<Slot*> free_;  // of threads that have exited
};

}  // namespace corio::detail
