// corio: asyncio's event-loop model for C++20, one loop per core.
//
// Everything a program needs comes from this one header:
//
//     #include <corio/corio.hpp>
//
//     int main() {
//         corio::event_loop loop;                      // io_uring or epoll, see BUILD.md
//         auto answer = loop.create_future<int>();
//         loop.call_later(0.01, [&] { answer.set_result(42); });
//         loop.call_soon([] { std::puts("runs first"); });
//         return loop.run_until_complete(answer) == 42 ? 0 : 1;
//     }
//
// The names are asyncio's (call_soon, call_later, run_until_complete, create_future, ...)
// in the standard library's case; BUILD.md has the full asyncio <-> corio table.
#pragma once

#include <corio/clock.hpp>
#include <corio/events.hpp>
#include <corio/exceptions.hpp>
#include <corio/futures.hpp>
#include <corio/log.hpp>
#include <corio/runners.hpp>
#include <corio/stats.hpp>
#include <corio/taskgroups.hpp>
#include <corio/tasks.hpp>
#include <corio/timeouts.hpp>
