// runtime: loops pinned where the plan says, loop-to-loop calls, oversubscription, and an
// orderly stop that runs or refuses every submission.
#include <sched.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <corio/runtime.hpp>
#include <corio/tasks.hpp>

namespace corio {
namespace {

std::vector<unsigned> my_affinity() {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    sched_getaffinity(0, sizeof mask, &mask);
    std::vector<unsigned> out;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &mask))
            out.push_back(c);
    return out;
}

runtime::options two_loops_unpinned() {
    runtime::options o;
    o.loops = 2;
    o.pin = false;
    return o;
}

TEST(runtime, each_loop_runs_pinned_to_its_planned_cpu) {
    runtime rt;
    ASSERT_EQ(rt.size(), rt.plan().cpus.size());
    for (std::size_t i = 0; i < rt.size(); ++i) {
        auto seen = rt.submit_to_threadsafe(i, [] {
                          return std::make_pair(my_affinity(), runtime::this_loop_index());
                      }).result(10.0);
        EXPECT_EQ(seen.first, std::vector<unsigned>{rt.plan().cpus[i]});
        EXPECT_EQ(seen.second, std::optional<std::size_t>(i));
    }
    EXPECT_EQ(runtime::this_loop_index(), std::nullopt);
}

task<int> sum_over_loops(runtime& rt) {
    int total = 0;
    for (std::size_t i = 0; i < rt.size(); ++i) {
        total +=
            co_await rt.submit_to(i, [] { return static_cast<int>(*runtime::this_loop_index()); });
    }
    int reduced = co_await rt.map_reduce([] { return 1; }, 0, [](int a, int b) { return a + b; });
    co_return total * 100 + reduced;
}

TEST(runtime, four_loops_on_two_cpus_call_each_other) {
    runtime::options o;
    o.loops = 4;
    runtime rt(o);
    EXPECT_EQ(rt.size(), 4u);
    EXPECT_EQ(rt.plan().oversubscribed, topology::detect().cpus().size() < 4);
    EXPECT_EQ(rt.run(sum_over_loops(rt)), (0 + 1 + 2 + 3) * 100 + 4);
}

TEST(runtime, a_bad_index_or_a_disallowed_cpu_is_an_error) {
    runtime::options o;
    o.loops = 1;
    runtime rt(o);
    EXPECT_THROW(rt.loop(5), std::out_of_range);
    EXPECT_THROW(rt.submit_to_threadsafe(5, [] {}), std::out_of_range);
    runtime::options bad;
    unsigned cpu = 0;
    topology t = topology::detect();
    while (t.allowed(cpu))
        ++cpu;
    bad.cpus = {cpu};
    EXPECT_THROW(runtime{bad}, std::invalid_argument);
}

TEST(runtime, stop_runs_or_refuses_every_submission_and_is_idempotent) {
    runtime::options o;
    o.loops = 2;
    auto rt = std::make_unique<runtime>(o);
    std::atomic<int> ran{0};
    std::vector<concurrent_future<void>> futures;
    for (int i = 0; i < 1000; ++i) {
        futures.push_back(
            rt->submit_to_threadsafe(static_cast<std::size_t>(i % 2), [&ran] { ++ran; }));
    }
    rt->stop();
    rt->stop();
    EXPECT_THROW(rt->submit_to_threadsafe(0, [] {}), std::runtime_error);
    int ok = 0, refused = 0;
    for (auto& f : futures) {
        try {
            f.result(10.0);
            ++ok;
        } catch (const std::runtime_error&) {
            ++refused;
        }
    }
    EXPECT_EQ(ok + refused, 1000);
    EXPECT_EQ(ok, ran.load());
    rt.reset();  // destroying a stopped runtime is fine
}

task<void> send_to_loop_1(runtime& rt, int n) {
    for (int i = 0; i < n; ++i)
        co_await rt.submit_to(1, [] {});
}

TEST(runtime, stats_count_each_pair_and_sample_its_latency_readable_from_any_thread) {
    runtime rt(two_loops_unpinned());
    rt.run(send_to_loop_1(rt, 100));
    for (int i = 0; i < 50; ++i)
        rt.submit_to_threadsafe(0, [] {}).result(10.0);
    // Read while the loops run (TSan checks that this is race-free).
    runtime_stats s = rt.stats();
    ASSERT_EQ(s.loops.size(), 2u);
    EXPECT_GT(s.loops[0].iterations, 0u);
    EXPECT_GT(s.loops[1].callbacks_run + s.loops[1].coroutines_resumed, 0u);
    const loop_pair_stats* zero_to_one = nullptr;
    const loop_pair_stats* foreign_to_zero = nullptr;
    for (const loop_pair_stats& p : s.pairs) {
        if (p.from == 0 && p.to == 1)
            zero_to_one = &p;
        if (p.from == loop_pair_stats::foreign && p.to == 0)
            foreign_to_zero = &p;
    }
    ASSERT_NE(zero_to_one, nullptr);
    ASSERT_NE(foreign_to_zero, nullptr);
    EXPECT_EQ(zero_to_one->sent, 100u);
    EXPECT_EQ(zero_to_one->received, 100u);
    // One message in 16 is timestamped: the 1st, 17th, ... 97th.
    EXPECT_EQ(zero_to_one->latency.samples, 7u);
    EXPECT_GT(zero_to_one->latency.quantile_ns(0.99), 0u);
    EXPECT_EQ(foreign_to_zero->sent, 50u);
    EXPECT_EQ(foreign_to_zero->received, 50u);
    const std::string table = s.table();
    EXPECT_NE(table.find("iterations"), std::string::npos) << table;
    EXPECT_NE(table.find("foreign"), std::string::npos) << table;
}

TEST(latency_histogram, quantiles_are_bucket_upper_bounds) {
    latency_histogram h;
    EXPECT_EQ(h.quantile_ns(0.5), 0u);
    h.count[3] = 90;   // [8, 16) ns
    h.count[10] = 10;  // [1024, 2048) ns
    h.samples = 100;
    EXPECT_EQ(h.quantile_ns(0.5), 16u);
    EXPECT_EQ(h.quantile_ns(0.9), 16u);
    EXPECT_EQ(h.quantile_ns(0.99), 2048u);
}

// Threads named by the runtime ("corio-loop-N"); other threads (a sanitizer's own) may come
// and go, so they are not counted.
std::size_t loop_thread_count() {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(e.path() / "comm");
        std::string name;
        std::getline(comm, name);
        if (name.rfind("corio-loop-", 0) == 0)
            ++n;
    }
    return n;
}

TEST(runtime, destroying_a_running_runtime_stops_and_joins_its_loops) {
    runtime::options o;
    o.loops = 2;
    EXPECT_EQ(loop_thread_count(), 0u);
    {
        runtime rt(o);
        EXPECT_EQ(loop_thread_count(), 2u);
    }
    EXPECT_EQ(loop_thread_count(), 0u);
}

}  // namespace
}  // namespace corio
