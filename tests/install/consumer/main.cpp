// The smallest corio program: one loop, one callback that stops it. Built against an installed
// corio (find_package and pkg-config) to prove the install is usable; exits 0 if the callback ran.
#include <corio/corio.hpp>

int main() {
    corio::event_loop loop;
    bool ran = false;
    loop.call_soon([&] {
        ran = true;
        loop.stop();
    });
    loop.run_forever();
    return ran ? 0 : 1;
}
