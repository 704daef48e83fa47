// BM_raw_dispatch: the floor for running callbacks. N small callables are placed in a
// fixed ring of inline slots (a function pointer and the captures, no heap) and then run in
// order; no loop, no handles, no timers. Every corio callback benchmark divides by this.
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include <benchmark/benchmark.h>

namespace {

struct raw_slot {
    void (*run)(void*);
    alignas(void*) unsigned char storage[48];
};

template <std::size_t Capacity>
class raw_ring {
public:
    template <class F>
    void push(F f) {
        raw_slot& s = slots_[tail_++ % Capacity];
        ::new (s.storage) F(std::move(f));
        s.run = [](void* p) {
            F& fn = *static_cast<F*>(p);
            fn();
            fn.~F();
        };
    }
    bool run_one() {
        if (head_ == tail_) {
            head_ = tail_ = 0;  // reuse the same slots: a loop's ready ring stays cache-hot too
            return false;
        }
        raw_slot& s = slots_[head_++ % Capacity];
        s.run(s.storage);
        return true;
    }

private:
    raw_slot slots_[Capacity];
    std::size_t head_ = 0, tail_ = 0;
};

void BM_raw_dispatch(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    static raw_ring<1 << 16> ring;
    std::uint64_t sum = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; ++i)
            ring.push([&sum, i] { sum += i; });
        while (ring.run_one()) {
        }
    }
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_raw_dispatch)->Arg(4096);

}  // namespace
