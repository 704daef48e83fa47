// The machine as the runtime sees it (hwloc): the CPUs this process may use, which physical
// core, NUMA node and L3 cache each belongs to, and the plan of which CPU each loop runs on.
// No asyncio analogue; Seastar's resource::allocate does the same job.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace corio {

/// One processing unit (hardware thread) that the process may run on.
struct cpu_info {
    unsigned cpu;        // OS index, as sched_setaffinity and taskset number CPUs
    unsigned core;       // index of its physical core
    unsigned numa_node;  // OS index of its NUMA node (0 on a machine without NUMA)
    unsigned l3;         // index of the last-level cache it shares (0 if none is reported)
};

/// Where each loop of a runtime runs.
struct loop_plan {
    std::vector<unsigned> cpus;   // loop i runs on cpus[i]
    bool oversubscribed = false;  // more loops than allowed CPUs: some share a CPU
};

class topology {
public:
    /// Reads the machine with hwloc, restricted to the CPUs this process is allowed (its
    /// affinity mask, as set by taskset or a cgroup cpuset). Throws std::runtime_error if
    /// hwloc fails or no CPU is allowed.
    static topology detect();

    /// The allowed CPUs in OS order.
    const std::vector<cpu_info>& cpus() const noexcept { return cpus_; }
    /// The first allowed CPU of every physical core that has one: the default plan.
    std::vector<unsigned> one_per_core() const;
    std::size_t physical_cores() const;
    std::size_t numa_nodes() const;
    bool allowed(unsigned cpu) const noexcept;
    const cpu_info* find(unsigned cpu) const noexcept;

    /// The plan for a runtime: `explicit_cpus` if given (each must be allowed, else
    /// std::invalid_argument naming it), else `count` loops (default: one per physical
    /// core), placed one per physical core first, then on the remaining hardware threads,
    /// then round-robin when there are more loops than allowed CPUs (oversubscribed).
    loop_plan plan(std::optional<std::size_t> count = std::nullopt,
                   std::span<const unsigned> explicit_cpus = {}) const;

    /// Binds the calling thread to `cpu` and, on a NUMA machine, its memory allocations to
    /// the CPU's node. Throws std::system_error if the kernel refuses.
    void pin_this_thread(unsigned cpu) const;

    /// "2 CPUs (1-2), 2 cores, 1 NUMA node" and the like.
    std::string describe() const;

private:
    struct hwloc_holder;
    std::shared_ptr<hwloc_holder> hw_;
    std::vector<cpu_info> cpus_;
};

}  // namespace corio
