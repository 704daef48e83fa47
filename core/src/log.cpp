// The process-wide log sink and the steady clock (both tiny, both process-wide singletons).
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <utility>

#include <corio/clock.hpp>
#include <corio/log.hpp>

namespace corio {
namespace {

std::mutex sink_mutex;
log_sink current_sink;  // guarded by sink_mutex; empty means stderr

void write_stderr(log_level level, std::string_view message) {
    std::string line = "corio ";
    line += to_string(level);
    line += ": ";
    line += message;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warning:
            return "warning";
        case log_level::error:
            return "error";
    }
    return "?";
}

log_sink set_log_sink(log_sink sink) {
    std::lock_guard lock(sink_mutex);
    return std::exchange(current_sink, std::move(sink));
}

void log(log_level level, std::string_view message) {
    log_sink sink;
    {
        // A copy, so that a sink may itself log or replace the sink without deadlocking.
        std::lock_guard lock(sink_mutex);
        sink = current_sink;
    }
    if (sink) {
        sink(level, message);
    } else {
        write_stderr(level, message);
    }
}

std::int64_t steady_clock_source::now_ns() const noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

steady_clock_source& steady_clock_source::instance() noexcept {
    static steady_clock_source clock;
    return clock;
}

}  // namespace corio
