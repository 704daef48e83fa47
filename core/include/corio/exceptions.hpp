// corio's exception vocabulary, asyncio's exceptions.py under C++ names.
// Runtime misuse ("event loop is closed", "this event loop is already running", "no running
// event loop") is std::runtime_error with asyncio's message, as asyncio raises RuntimeError.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace corio {

/// asyncio.CancelledError. Deliberately *not* derived from std::exception, as CancelledError
/// derives from BaseException and not Exception: a `catch (const std::exception&)` written to
/// handle failures does not swallow a cancellation. Catch it by name, or with `catch (...)`.
class cancelled_error {
public:
    cancelled_error() = default;
    explicit cancelled_error(std::string message) : message_(std::move(message)) {}
    /// The message given to cancel(msg), empty if none.
    const std::string& message() const noexcept { return message_; }
    const char* what() const noexcept { return message_.empty() ? "cancelled" : message_.c_str(); }

private:
    std::string message_;
};

/// asyncio.TimeoutError (the builtin TimeoutError since Python 3.11).
class timeout_error : public std::runtime_error {
public:
    timeout_error() : std::runtime_error("timed out") {}
    using std::runtime_error::runtime_error;
};

/// asyncio.InvalidStateError: an operation not allowed in the future's current state.
class invalid_state_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// asyncio.QueueEmpty: get_nowait() on an empty queue.
class queue_empty : public std::runtime_error {
public:
    queue_empty() : std::runtime_error("queue is empty") {}
};

/// asyncio.QueueFull: put_nowait() on a full queue.
class queue_full : public std::runtime_error {
public:
    queue_full() : std::runtime_error("queue is full") {}
};

/// asyncio.QueueShutDown: put or get on a queue that was shut down (Python 3.13).
class queue_shutdown : public std::runtime_error {
public:
    queue_shutdown() : std::runtime_error("queue is shut down") {}
};

/// asyncio.IncompleteReadError: EOF before the requested bytes arrived.
class incomplete_read_error : public std::runtime_error {
public:
    incomplete_read_error(std::string partial, std::size_t expected)
        : std::runtime_error(std::to_string(partial.size()) + " bytes read on a total of " +
                             std::to_string(expected) + " expected bytes"),
          partial(std::move(partial)),
          expected(expected) {}
    std::string partial;
    std::size_t expected;
};

/// asyncio.LimitOverrunError: the separator was not found within the stream's limit.
class limit_overrun_error : public std::runtime_error {
public:
    limit_overrun_error(const std::string& message, std::size_t consumed)
        : std::runtime_error(message), consumed(consumed) {}
    std::size_t consumed;
};

/// asyncio.BrokenBarrierError.
class broken_barrier_error : public std::runtime_error {
public:
    broken_barrier_error() : std::runtime_error("barrier is broken") {}
};

/// ExceptionGroup, as task_group raises it: every error its children (and its body) raised.
class exception_group : public std::runtime_error {
public:
    explicit exception_group(std::vector<std::exception_ptr> errors)
        : std::runtime_error("unhandled errors in a task_group (" + std::to_string(errors.size()) +
                             " sub-exception" + (errors.size() == 1 ? ")" : "s)")),
          exceptions(std::move(errors)) {}
    std::vector<std::exception_ptr> exceptions;
};

}  // namespace corio
