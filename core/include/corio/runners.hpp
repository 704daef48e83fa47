// run(): asyncio.run (runners.py). The usual entry point of a program:
//
//     corio::task<int> main_task() { co_await corio::sleep(0.1); co_return 0; }
//     int main() { return corio::run(main_task()); }
#pragma once

#include <optional>
#include <stdexcept>

#include <corio/events.hpp>
#include <corio/tasks.hpp>

namespace corio {

namespace detail {
// asyncio.runners._cancel_all_tasks: cancels every task still pending on `loop`, runs the loop
// until they are all done, and reports those that ended with an exception.
void cancel_all_tasks(event_loop& loop);
}  // namespace detail

/// asyncio.run: creates a new loop (debug mode if `debug`, else CORIO_DEBUG), runs `main` to
/// completion as a task, then cancels every remaining task and waits for them, shuts down the
/// default executor, and closes the loop. Returns main's result or throws its exception. Throws
/// std::runtime_error if a loop is already running in this thread.
template <class T>
T run(task<T> main, std::optional<bool> debug = std::nullopt) {
    if (detail::running_loop() != nullptr) {
        throw std::runtime_error("run() cannot be called from a running event loop");
    }
    loop_options options;
    options.debug = debug;
    event_loop loop(options);
    struct shutdown {
        event_loop& loop;
        ~shutdown() {
            try {
                detail::cancel_all_tasks(loop);
            } catch (...) {
                loop.call_exception_handler(
                    {"error while cancelling tasks in run()", std::current_exception(), "run"});
            }
            try {
                loop.shutdown_default_executor();  // asyncio.run: after the tasks, before close
            } catch (...) {
                loop.call_exception_handler({"error while shutting down the default executor",
                                             std::current_exception(), "run"});
            }
            loop.close();
            set_event_loop(nullptr);
        }
    } on_exit{loop};
    set_event_loop(&loop);
    return loop.run_until_complete(loop.create_task(std::move(main)));
}

}  // namespace corio
