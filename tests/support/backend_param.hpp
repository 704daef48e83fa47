// Runs a test suite once per backend (monoio's test_all). A backend the kernel or the build
// refuses makes its cases GTEST_SKIP() with the reason, so a skip is visible, never silent.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include <corio/detail/backends.hpp>
#include <corio/events.hpp>

namespace corio {

// gtest prints parameters with this (found by ADL): "io_uring" rather than "4-byte object".
inline void PrintTo(backend_kind kind, std::ostream* os) {
    switch (kind) {
        case backend_kind::io_uring:
            *os << "io_uring";
            return;
        case backend_kind::epoll:
            *os << "epoll";
            return;
        case backend_kind::automatic:
            *os << "automatic";
            return;
    }
    *os << "backend_kind(" << static_cast<int>(kind) << ')';
}

}  // namespace corio

namespace corio::test {

inline std::string backend_label(const testing::TestParamInfo<backend_kind>& info) {
    return info.param == backend_kind::io_uring ? "io_uring" : "epoll";
}

class backend_test : public testing::TestWithParam<backend_kind> {
protected:
    // A backend of the parameter's kind, or a skip that says why there is none.
    std::unique_ptr<detail::backend> make_backend_or_skip() {
        try {
            return detail::make_backend(GetParam());
        } catch (const std::exception& e) {
            skip_reason_ = e.what();
            return nullptr;
        }
    }
    std::string skip_reason_;
};

#define CORIO_BACKEND_OR_SKIP(var)     \
    auto var = make_backend_or_skip(); \
    if (!var)                          \
    GTEST_SKIP() << "backend unavailable: " << skip_reason_

#define CORIO_INSTANTIATE_BACKENDS(suite)                                           \
    INSTANTIATE_TEST_SUITE_P(                                                       \
        backends, suite,                                                            \
        testing::Values(corio::backend_kind::io_uring, corio::backend_kind::epoll), \
        corio::test::backend_label)

}  // namespace corio::test
