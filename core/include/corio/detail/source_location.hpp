// corio::source_location: std::source_location where the standard library has it, and
// libstdc++'s std::experimental::source_location otherwise (same members: file_name(),
// line(), column(), function_name(), current()).
//
// Why: libstdc++ 12 defines std::source_location only for compilers with
// __builtin_source_location, which clang has from version 15 on; BUILD.md promises clang 14.
#pragma once

#include <version>

#if defined(__cpp_lib_source_location)
#include <source_location>
namespace corio {
using source_location = std::source_location;
}
#else
#include <experimental/source_location>
namespace corio {
using source_location = std::experimental::source_location;
}
#endif
