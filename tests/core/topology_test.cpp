// topology: the allowed CPUs, the loop plan and pinning, checked against the kernel's own
// view (sched_getaffinity).
#include <sched.h>

#include <thread>

#include <gtest/gtest.h>

#include <corio/topology.hpp>

namespace corio {
namespace {

std::vector<unsigned> affinity_of_this_thread() {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    EXPECT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
    std::vector<unsigned> out;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &mask))
            out.push_back(c);
    return out;
}

TEST(topology, lists_exactly_the_cpus_this_process_may_use) {
    topology t = topology::detect();
    std::vector<unsigned> cpus;
    for (const cpu_info& c : t.cpus())
        cpus.push_back(c.cpu);
    EXPECT_EQ(cpus, affinity_of_this_thread());
    EXPECT_GE(t.physical_cores(), 1u);
    EXPECT_LE(t.physical_cores(), t.cpus().size());
    EXPECT_GE(t.numa_nodes(), 1u);
}

TEST(topology, a_restricted_affinity_mask_restricts_the_topology) {
    std::vector<unsigned> seen;
    unsigned chosen = topology::detect().cpus().back().cpu;
    std::thread([&] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(chosen, &one);
        ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
        topology restricted = topology::detect();
        for (const cpu_info& c : restricted.cpus())
            seen.push_back(c.cpu);
    }).join();
    EXPECT_EQ(seen, std::vector<unsigned>{chosen});
}

TEST(topology, the_default_plan_is_one_loop_per_physical_core) {
    topology t = topology::detect();
    loop_plan p = t.plan();
    EXPECT_EQ(p.cpus, t.one_per_core());
    EXPECT_FALSE(p.oversubscribed);
}

TEST(topology, more_loops_than_cpus_share_cpus_and_say_so) {
    topology t = topology::detect();
    const std::size_t n = t.cpus().size() * 2;
    loop_plan p = t.plan(n);
    ASSERT_EQ(p.cpus.size(), n);
    EXPECT_TRUE(p.oversubscribed);
    for (unsigned c : p.cpus)
        EXPECT_TRUE(t.allowed(c));
}

TEST(topology, an_explicit_cpu_that_is_not_allowed_is_an_error_naming_it) {
    topology t = topology::detect();
    unsigned bad = 0;
    while (t.allowed(bad))
        ++bad;
    std::vector<unsigned> cpus{t.cpus().front().cpu, bad};
    try {
        (void)t.plan(std::nullopt, cpus);
        ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("CPU " + std::to_string(bad)), std::string::npos)
            << e.what();
    }
    EXPECT_THROW((void)t.plan(0), std::invalid_argument);
}

TEST(topology, pinning_binds_the_thread_to_one_cpu) {
    topology t = topology::detect();
    for (const cpu_info& c : t.cpus()) {
        std::vector<unsigned> after;
        std::thread([&] {
            t.pin_this_thread(c.cpu);
            after = affinity_of_this_thread();
        }).join();
        EXPECT_EQ(after, std::vector<unsigned>{c.cpu});
    }
}

}  // namespace
}  // namespace corio
