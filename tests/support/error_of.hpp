// error_of<E>(f): the what() of the E that f() throws, or "no exception" - so a test can
// assert an error's exact message in one EXPECT_EQ.
#pragma once

#include <string>

namespace corio::test {

template <class E, class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "no exception";
}

}  // namespace corio::test
