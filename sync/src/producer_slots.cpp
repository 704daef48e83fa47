// The thread-local slot cache and the registry of live slot owners (detail/producer_slots.hpp).
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <corio/detail/producer_slots.hpp>

namespace corio::detail {
namespace {

std::uint64_t next_serial() noexcept {
    static std::atomic<std::uint64_t> serials{0};
    // Relaxed: uniqueness is all that is needed, and every RMW returns a distinct value.
    return serials.fetch_add(1, std::memory_order_relaxed) + 1;
}

// Live owners by serial, for the thread-exit hook: a slot goes back only to an owner that
// still lives. Never destroyed, so that threads exiting after static destruction began (or
// main's thread_locals, destroyed first) still find it.
struct live_owners {
    std::mutex mutex;
    std::unordered_map<std::uint64_t, producer_slot_owner*> by_serial;
};
live_owners& registry() {
    static live_owners* r = new live_owners;
    return *r;
}

// The cold half of a thread's slot cache (the hot half is producer_slot_cache): the entries
// that collided in the direct-mapped array, and the thread-exit hook. Dead owners' entries
// are pruned when a new entry is added.
struct slot_cache_overflow {
    std::vector<producer_slot_cache_entry> entries;

    void* find(std::uint64_t serial) const noexcept {
        for (const producer_slot_cache_entry& o : entries) {
            if (o.serial == serial)
                return o.slot;
        }
        return nullptr;
    }

    // With the registry locked.
    void add(std::uint64_t serial, void* slot,
             const std::unordered_map<std::uint64_t, producer_slot_owner*>& live) {
        auto dead = [&](const producer_slot_cache_entry& e) {
            return e.slot != nullptr && !live.contains(e.serial);
        };
        std::erase_if(entries, dead);
        producer_slot_cache_entry& d = producer_slot_cache[serial % producer_slot_cache_size];
        if (d.slot == nullptr || dead(d))
            d = {serial, slot};
        else
            entries.push_back({serial, slot});
    }

    // The thread exits: its slots serve other threads of the owners still alive. The direct
    // array is still this thread's storage here (it has no destructor).
    ~slot_cache_overflow() {
        live_owners& r = registry();
        std::lock_guard lock(r.mutex);
        auto give_back = [&](const producer_slot_cache_entry& e) {
            if (e.slot == nullptr)
                return;
            auto it = r.by_serial.find(e.serial);
            if (it != r.by_serial.end())
                it->second->give_back(e.slot);
        };
        for (const producer_slot_cache_entry& e : producer_slot_cache)
            give_back(e);
        for (const producer_slot_cache_entry& e : entries)
            give_back(e);
    }
};
thread_local slot_cache_overflow overflow_of_this_thread;

}  // namespace

producer_slot_owner::producer_slot_owner() : serial_(next_serial()) {
    live_owners& r = registry();
    std::lock_guard lock(r.mutex);
    r.by_serial.emplace(serial_, this);
}

void producer_slot_owner::retire() noexcept {
    live_owners& r = registry();
    std::lock_guard lock(r.mutex);
    r.by_serial.erase(serial_);
}

constinit thread_local producer_slot_cache_entry producer_slot_cache[producer_slot_cache_size];

void* producer_slot_owner::slot_in_overflow() const noexcept {
    return overflow_of_this_thread.find(serial_);
}

void producer_slot_owner::remember_slot_of_this_thread(void* slot) {
    live_owners& r = registry();
    std::lock_guard lock(r.mutex);
    overflow_of_this_thread.add(serial_, slot, r.by_serial);
}

}  // namespace corio::detail
