// A small-buffer, type-erased callable: the storage of every ready callback and done callback.
// No heap allocation for a callable of up to 48 bytes (six pointers of captures); a larger
// one, or one whose move may throw, is boxed on the heap instead.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace corio::detail {

inline constexpr std::size_t inline_function_capacity = 48;

template <class Signature, std::size_t Capacity = inline_function_capacity>
class inline_function;

template <class... Args, std::size_t Capacity>
class inline_function<void(Args...), Capacity> {
public:
    inline_function() noexcept = default;

    template <class F>
    requires(!std::is_same_v<std::decay_t<F>, inline_function> &&
             std::is_invocable_v<std::decay_t<F>&, Args...>) explicit inline_function(F&& f) {
        emplace(std::forward<F>(f));
    }

    inline_function(inline_function&& other) noexcept { take(other); }
    inline_function& operator=(inline_function&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    inline_function(const inline_function&) = delete;
    inline_function& operator=(const inline_function&) = delete;
    ~inline_function() { reset(); }

    // Precondition: empty.
    template <class F>
    void emplace(F&& f) {
        emplace_as<std::decay_t<F>>(std::forward<F>(f));
    }

    // Constructs a `Fn` from `args` in place: no temporary to relocate. Precondition: empty.
    template <class Fn, class... CtorArgs>
    void emplace_as(CtorArgs&&... args) {
        if constexpr (fits_inline<Fn>) {
            ::new (static_cast<void*>(buf_)) Fn(std::forward<CtorArgs>(args)...);
            ops_ = &inline_ops<Fn>::table;
        } else {
            ::new (static_cast<void*>(buf_)) Fn*(new Fn(std::forward<CtorArgs>(args)...));
            ops_ = &boxed_ops<Fn>::table;
        }
    }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    void operator()(Args... args) { ops_->call(buf_, std::forward<Args>(args)...); }

    // Moves the target out, leaving this empty, then calls it: one indirect call. The ready
    // queue's use: every callback runs once, and the slot it came from may be reused (or
    // moved by the ring's growth) while it runs.
    void call_once(Args... args) {
        const ops_table* ops = std::exchange(ops_, nullptr);
        ops->call_once(buf_, std::forward<Args>(args)...);
    }

    // Moves the target into `dst` (empty) without writing to this one, which is left stale:
    // its owner must neither call nor destroy it again, only end its lifetime without its
    // destructor (detail/inbox_cell.hpp). For a queue's consumer: a write to the slot it
    // reads from would take the cache line from the producer that reuses it next.
    // (A target whose move constructor writes its source, a unique_ptr, still writes it.)
    void move_out_leaving_stale(inline_function& dst) noexcept {
        if (ops_ == nullptr)
            return;
        relocate_target(buf_, dst.buf_);
        dst.ops_ = ops_;
    }
    // The same as a constructor: a new function takes `src`'s target, and `src` is left stale
    // under the same rules. One store of the table pointer and the buffer's bytes: a cross-thread
    // post makes it into a queue slot, where every store counts (detail/inbox_cell.hpp).
    struct relocate_tag {};
    inline_function(relocate_tag, inline_function& src) noexcept : ops_(src.ops_) {
        if (ops_ != nullptr)
            relocate_target(src.buf_, buf_);
    }

    void reset() noexcept {
        if (ops_ != nullptr)
            std::exchange(ops_, nullptr)->destroy(buf_);
    }

private:
    struct ops_table {
        void (*call)(void*, Args...);
        void (*call_once)(void*, Args...);
        void (*destroy)(void*) noexcept;
        // Move-construct into `to`, destroy `from`; null when a copy of the bytes does that
        // (a trivially copyable target, or a boxed one's pointer): no indirect call for the
        // commonest moves (a message into the inbox's queue and out again).
        void (*relocate)(void* from, void* to) noexcept;
    };

    void relocate_target(std::byte* from, std::byte* to) const noexcept {
        if (ops_->relocate == nullptr) [[likely]]
            std::memcpy(to, from, Capacity);
        else
            ops_->relocate(from, to);
    }

    template <class F>
    static constexpr bool fits_inline =
        sizeof(F) <= Capacity &&
        alignof(F) <= alignof(void*) && std::is_nothrow_move_constructible_v<F>;

    template <class F>
    struct inline_ops {
        static F& get(void* p) noexcept { return *std::launder(static_cast<F*>(p)); }
        static void call(void* p, Args... args) { get(p)(std::forward<Args>(args)...); }
        static void call_once(void* p, Args... args) {
            F local(std::move(get(p)));
            get(p).~F();
            local(std::forward<Args>(args)...);
        }
        static void destroy(void* p) noexcept { get(p).~F(); }
        static void relocate(void* from, void* to) noexcept {
            ::new (to) F(std::move(get(from)));
            get(from).~F();
        }
        static constexpr bool bytes_relocate =
            std::is_trivially_copyable_v<F> && std::is_trivially_destructible_v<F>;
        static constexpr ops_table table{&call, &call_once, &destroy,
                                         bytes_relocate ? nullptr : &relocate};
    };

    template <class F>
    struct boxed_ops {
        static F*& get(void* p) noexcept { return *std::launder(static_cast<F**>(p)); }
        static void call(void* p, Args... args) { (*get(p))(std::forward<Args>(args)...); }
        static void call_once(void* p, Args... args) {
            struct delete_on_exit {
                F* f;
                ~delete_on_exit() { delete f; }
            } guard{get(p)};
            (*guard.f)(std::forward<Args>(args)...);
        }
        static void destroy(void* p) noexcept { delete get(p); }
        static constexpr ops_table table{&call, &call_once, &destroy, nullptr};  // a pointer
    };

    void take(inline_function& other) noexcept {
        if (other.ops_ == nullptr)
            return;
        other.relocate_target(other.buf_, buf_);
        ops_ = std::exchange(other.ops_, nullptr);
    }

    // Aligned to a pointer, not to max_align_t, so that the buffer and the ops pointer fill 56
    // bytes and a callback_record (this plus a generation and a state) fits one cache line.
    alignas(void*) std::byte buf_[Capacity];
    const ops_table* ops_ = nullptr;
};

}  // namespace corio::detail
