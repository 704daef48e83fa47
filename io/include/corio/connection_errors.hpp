// OS errors of sockets, streams and files, as the builtin OSError subclasses Python raises:
// ConnectionError and its children, FileNotFoundError and its siblings. Each is a
// std::system_error (generic category, so `e.code() == std::errc::connection_reset` works), so
// code that only knows system_error still catches them.
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

// The other OSError subclasses that file and name operations raise. Like the connection
// errors, each is a std::system_error of the generic category.

/// FileNotFoundError: ENOENT.
class file_not_found_error : public std::system_error {
public:
    file_not_found_error(int err, const std::string& what)
        : std::system_error(err, std::generic_category(), what) {}
};
/// FileExistsError: EEXIST (O_CREAT | O_EXCL on an existing path).
class file_exists_error : public std::system_error {
public:
    file_exists_error(int err, const std::string& what)
        : std::system_error(err, std::generic_category(), what) {}
};
/// PermissionError: EACCES or EPERM.
class permission_error : public std::system_error {
public:
    permission_error(int err, const std::string& what)
        : std::system_error(err, std::generic_category(), what) {}
};
/// IsADirectoryError: EISDIR.
class is_a_directory_error : public std::system_error {
public:
    is_a_directory_error(int err, const std::string& what)
        : std::system_error(err, std::generic_category(), what) {}
};
/// NotADirectoryError: ENOTDIR.
class not_a_directory_error : public std::system_error {
public:
    not_a_directory_error(int err, const std::string& what)
        : std::system_error(err, std::generic_category(), what) {}
};

/// Throws the exception above that matches `err` (an errno value), else std::system_error.
[[noreturn]] void throw_os_error(int err, const std::string& what);
/// The same, as an exception_ptr (for futures and stored stream errors).
std::exception_ptr make_os_error(int err, const std::string& what);

}  // namespace corio
