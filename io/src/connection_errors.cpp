// errno -> Python's OSError subclasses (connection_errors.hpp).
#include <cerrno>
#include <exception>

#include <corio/connection_errors.hpp>

namespace corio {

std::exception_ptr make_os_error(int err, const std::string& what) {
    switch (err) {
        case ECONNRESET:
            return std::make_exception_ptr(connection_reset_error(err, what));
        case EPIPE:
        case ESHUTDOWN:
            return std::make_exception_ptr(broken_pipe_error(err, what));
        case ECONNREFUSED:
            return std::make_exception_ptr(connection_refused_error(err, what));
        case ECONNABORTED:
            return std::make_exception_ptr(connection_aborted_error(err, what));
        case ENOENT:
            return std::make_exception_ptr(file_not_found_error(err, what));
        case EEXIST:
            return std::make_exception_ptr(file_exists_error(err, what));
        case EACCES:
        case EPERM:
            return std::make_exception_ptr(permission_error(err, what));
        case EISDIR:
            return std::make_exception_ptr(is_a_directory_error(err, what));
        case ENOTDIR:
            return std::make_exception_ptr(not_a_directory_error(err, what));
        default:
            return std::make_exception_ptr(std::system_error(err, std::generic_category(), what));
    }
}

void throw_os_error(int err, const std::string& what) {
    std::rethrow_exception(make_os_error(err, what));
}

}  // namespace corio
