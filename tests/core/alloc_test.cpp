// The hot paths allocate nothing in steady state: call_soon and its run, a timer schedule and
// cancel, and a loop iteration. Counted with the binary's replaced operator new. And frames
// that cross threads return through the frame depot.
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <corio/detail/frame_allocator.hpp>
#include <corio/futures.hpp>

#include "../support/alloc_counter.hpp"
#include "../support/manual_clock_loop.hpp"

namespace corio {
namespace {

using test::allocation_scope;
using test::manual_clock_loop;

TEST(allocations, call_soon_and_run_once_allocate_nothing_in_steady_state) {
    manual_clock_loop t;
    t.backend->record_timeouts = false;
    int runs = 0;
    void* p1 = &runs;
    auto schedule = [&] {
        for (int i = 0; i < 1000; ++i)
            t.loop.call_soon([&runs, p1, i] { runs += (p1 != nullptr) + i * 0; });
    };
    schedule();  // warm-up: slabs and the ready ring grow to the burst size once
    t.run_once();
    allocation_scope scope;
    for (int round = 0; round < 10; ++round) {
        schedule();
        t.run_once();
    }
    EXPECT_EQ(scope.allocations(), 0u);
    EXPECT_EQ(runs, 11000);
}

TEST(allocations, timer_schedule_and_cancel_allocate_nothing_in_steady_state) {
    manual_clock_loop t;
    t.backend->record_timeouts = false;
    t.backend->auto_advance = false;
    int fired = 0;
    std::vector<timer_handle> handles(1000);
    auto round = [&] {
        for (std::size_t i = 0; i < handles.size(); ++i) {
            handles[i] = t.loop.call_later(0.001 * static_cast<double>(i % 17), [&] { ++fired; });
        }
        for (std::size_t i = 0; i < handles.size(); i += 2)
            handles[i].cancel();
        t.advance(1.0);
        t.run_once();
    };
    round();  // warm-up
    allocation_scope scope;
    for (int i = 0; i < 10; ++i)
        round();
    EXPECT_EQ(scope.allocations(), 0u);
    EXPECT_EQ(fired, 11 * 500);
}

TEST(allocations, an_idle_iteration_allocates_nothing) {
    manual_clock_loop t;
    t.backend->record_timeouts = false;
    t.run_once();
    allocation_scope scope;
    for (int i = 0; i < 100; ++i)
        t.run_once();
    EXPECT_EQ(scope.allocations(), 0u);
}

TEST(allocations, a_future_with_one_callback_reuses_its_state_once_warm) {
    manual_clock_loop t;
    t.backend->record_timeouts = false;
    int seen = 0;
    {  // warm-up
        future<int> f(t.loop);
        f.add_done_callback([&](future<int>& d) { seen = d.result(); });
        f.set_result(1);
        t.run_once();
    }
    allocation_scope scope;
    future<int> f(t.loop);
    f.add_done_callback([&](future<int>& d) { seen = d.result(); });
    f.set_result(2);
    t.run_once();
    // The shared state comes back from the frame cache, and the callback lives inline in it.
    // Sanitizer builds bypass the cache: there the state is the one allocation.
    EXPECT_EQ(scope.allocations(), detail::frame_cache::enabled ? 0u : 1u);
    EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

// Frames made on one thread and finished on another come back through the depot
// (core/src/frame_allocator.cpp): once the freeing thread's cache is full it hands batches on,
// and the allocating thread takes them instead of calling operator new.
TEST(frame_cache, frames_freed_on_another_thread_flow_back_through_the_depot) {
    if (!detail::frame_cache::enabled)
        GTEST_SKIP() << "sanitizer build: frames go straight to operator new";
    // The largest cached class, which no task of the test suite is near.
    constexpr std::size_t size = detail::frame_cache::class_count * detail::frame_cache::class_size;
    constexpr std::size_t spilled = 4 * 64;  // four batches beyond a full cache
    std::vector<void*> frames;
    for (std::size_t i = 0; i < detail::frame_cache::max_cached + spilled; ++i)
        frames.push_back(detail::allocate_frame(size));
    std::thread([&frames] {
        for (void* p : frames)
            detail::deallocate_frame(p, size);
    }).join();  // its cache keeps max_cached; the rest went to the depot, not to the heap
    frames.clear();
    const std::uint64_t misses_before = detail::frame_stats().misses;
    for (std::size_t i = 0; i < spilled; ++i)
        frames.push_back(detail::allocate_frame(size));
    EXPECT_EQ(detail::frame_stats().misses, misses_before);  // every one from the depot
    for (void* p : frames)
        detail::deallocate_frame(p, size);
}

}  // namespace
}  // namespace corio
