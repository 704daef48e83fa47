// OS errors of sockets and streams, as Python's builtin OSError subclasses that asyncio raises:
// ConnectionError and its children. Each is a std::system_error (generic category, so
// `e.code() == std::errc::connection_reset` works), so code that only knows system_error
// still catches them.
#pragma once

#include <exception>
#include <string>
#include <system_error>

namespace corio {

/// Python's ConnectionError: the base of the four below.
class connection_error : public std::system_error {
public:
    connection_error(int err, const std::string& what)
        : std::system_error(err, std::generic_category(), what) {}
};
/// ConnectionResetError: ECONNRESET (the peer reset the connection).
class connection_reset_error : public connection_error {
public:
    using connection_error::connection_error;
};
/// BrokenPipeError: EPIPE or ESHUTDOWN (writing to a connection the peer or we shut down).
class broken_pipe_error : public connection_error {
public:
    using connection_error::connection_error;
};
/// ConnectionRefusedError: ECONNREFUSED (nothing listens at the address).
class connection_refused_error : public connection_error {
public:
    using connection_error::connection_error;
};
/// ConnectionAbortedError: ECONNABORTED.
class connection_aborted_error : public connection_error {
public:
    using connection_error::connection_error;
};

/// Throws the exception above that matches `err` (an errno value), else std::system_error.
[[noreturn]] void throw_os_error(int err, const std::string& what);
/// The same, as an exception_ptr (for futures and stored stream errors).
std::exception_ptr make_os_error(int err, const std::string& what);

}  // namespace corio
