// topology: hwloc's view of the machine, cut down to the CPUs this process may use.
#include <hwloc.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <stdexcept>
#include <system_error>

#include <corio/topology.hpp>

namespace corio {

struct topology::hwloc_holder {
    hwloc_topology_t topo = nullptr;
    ~hwloc_holder() {
        if (topo != nullptr)
            hwloc_topology_destroy(topo);
    }
};

namespace {

unsigned ancestor_index(hwloc_topology_t topo, hwloc_obj_t pu, hwloc_obj_type_t type) {
    hwloc_obj_t obj = hwloc_get_ancestor_obj_by_type(topo, type, pu);
    return obj != nullptr ? obj->logical_index : 0;
}

unsigned numa_node_of(hwloc_topology_t topo, hwloc_obj_t pu) {
    // NUMA nodes are memory children in hwloc 2: the node whose cpuset covers this PU.
    hwloc_obj_t node = nullptr;
    while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)) != nullptr) {
        if (hwloc_bitmap_isset(node->cpuset, pu->os_index))
            return node->os_index;
    }
    return 0;
}

}  // namespace

topology topology::detect() {
    topology t;
    t.hw_ = std::make_shared<hwloc_holder>();
    if (hwloc_topology_init(&t.hw_->topo) != 0 || hwloc_topology_load(t.hw_->topo) != 0) {
        throw std::runtime_error("hwloc could not read the machine's topology");
    }
    // hwloc drops CPUs a cgroup cpuset forbids; the affinity mask (taskset, a parent's
    // sched_setaffinity) is separate, so intersect with it too.
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) {
        throw std::system_error(errno, std::system_category(), "sched_getaffinity");
    }
    hwloc_topology_t topo = t.hw_->topo;
    const int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    for (int i = 0; i < n; ++i) {
        hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
        if (pu->os_index >= CPU_SETSIZE || !CPU_ISSET(pu->os_index, &mask))
            continue;
        t.cpus_.push_back({pu->os_index, ancestor_index(topo, pu, HWLOC_OBJ_CORE),
                           numa_node_of(topo, pu), ancestor_index(topo, pu, HWLOC_OBJ_L3CACHE)});
    }
    std::sort(t.cpus_.begin(), t.cpus_.end(),
              [](const cpu_info& a, const cpu_info& b) { return a.cpu < b.cpu; });
    if (t.cpus_.empty())
        throw std::runtime_error("no CPU is allowed to this process");
    return t;
}

std::vector<unsigned> topology::one_per_core() const {
    std::vector<unsigned> out;
    std::set<unsigned> seen;
    for (const cpu_info& c : cpus_) {
        if (seen.insert(c.core).second)
            out.push_back(c.cpu);
    }
    return out;
}

std::size_t topology::physical_cores() const {
    return one_per_core().size();
}

std::size_t topology::numa_nodes() const {
    std::set<unsigned> nodes;
    for (const cpu_info& c : cpus_)
        nodes.insert(c.numa_node);
    return nodes.size();
}

const cpu_info* topology::find(unsigned cpu) const noexcept {
    for (const cpu_info& c : cpus_) {
        if (c.cpu == cpu)
            return &c;
    }
    return nullptr;
}

bool topology::allowed(unsigned cpu) const noexcept {
    return find(cpu) != nullptr;
}

loop_plan topology::plan(std::optional<std::size_t> count,
                         std::span<const unsigned> explicit_cpus) const {
    loop_plan p;
    if (!explicit_cpus.empty()) {
        for (unsigned cpu : explicit_cpus) {
            if (!allowed(cpu)) {
                throw std::invalid_argument("CPU " + std::to_string(cpu) +
                                            " is not allowed to this process (" + describe() + ")");
            }
        }
        p.cpus.assign(explicit_cpus.begin(), explicit_cpus.end());
        p.oversubscribed = std::set<unsigned>(p.cpus.begin(), p.cpus.end()).size() < p.cpus.size();
        return p;
    }
    // Preference order: one hardware thread per physical core, then the cores' siblings.
    std::vector<unsigned> order = one_per_core();
    for (const cpu_info& c : cpus_) {
        if (std::find(order.begin(), order.end(), c.cpu) == order.end())
            order.push_back(c.cpu);
    }
    const std::size_t n = count.value_or(physical_cores());
    if (n == 0)
        throw std::invalid_argument("a runtime needs at least one loop");
    for (std::size_t i = 0; i < n; ++i)
        p.cpus.push_back(order[i % order.size()]);
    p.oversubscribed = n > order.size();
    return p;
}

void topology::pin_this_thread(unsigned cpu) const {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        throw std::system_error(errno, std::system_category(),
                                "sched_setaffinity to CPU " + std::to_string(cpu));
    }
    const cpu_info* info = find(cpu);
    if (info == nullptr || numa_nodes() < 2)
        return;
    // On a NUMA machine the loop's memory should come from its own node (first-touch would
    // mostly do it; binding makes it explicit for allocations made before first touch).
    hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(hw_->topo, info->numa_node);
    if (node != nullptr) {
        hwloc_set_membind(hw_->topo, node->nodeset, HWLOC_MEMBIND_BIND,
                          HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET);
    }
}

std::string topology::describe() const {
    std::string list;
    for (std::size_t i = 0; i < cpus_.size(); ++i) {
        if (i > 0)
            list += ',';
        list += std::to_string(cpus_[i].cpu);
    }
    const std::size_t nodes = numa_nodes();
    return std::to_string(cpus_.size()) + " CPUs (" + list + "), " +
           std::to_string(physical_cores()) + " cores, " + std::to_string(nodes) +
           (nodes == 1 ? " NUMA node" : " NUMA nodes");
}

}  // namespace corio
