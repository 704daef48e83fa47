# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DCXX=... [-DGENERATOR=...]
#       [-DBUILD_TYPE=...] [-DCXX_FLAGS=...] [-DCXX_FLAGS_CONFIG=...] [-DEXE_LINKER_FLAGS=...]
#       -P run_consumer_test.cmake
#
# Proves that an installed corio is usable by a downstream project:
#   1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix
#   2. configure, build and run tests/install/consumer with CMAKE_PREFIX_PATH=WORK_DIR/prefix
#      (find_package(corio) + corio::corio)
#   3. compile and run the same main.cpp with only `pkg-config --cflags --libs corio`
# Any failure is a FATAL_ERROR. Sanitizer flags, when given, are used for both consumers.
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR SOURCE_DIR WORK_DIR CXX)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run_consumer_test.cmake: -D${var}=... is required")
    endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_src "${SOURCE_DIR}/tests/install/consumer")
set(consumer_build "${WORK_DIR}/consumer-build")
set(pc_exe "${WORK_DIR}/consumer-pkgconfig")

# run(<step> <timeout-seconds> COMMAND...): run one step, echo its output on failure, and stop
# the test there. Timeouts keep a hung consumer a clear failure inside ctest's 300 s.
function(run step timeout)
    execute_process(COMMAND ${ARGN}
        RESULT_VARIABLE rc
        OUTPUT_VARIABLE out
        ERROR_VARIABLE out
        TIMEOUT ${timeout})
    if(NOT rc STREQUAL "0")
        message(FATAL_ERROR "install test: ${step} failed (${rc})\n  command: ${ARGN}\n${out}")
    endif()
    message(STATUS "install test: ${step}: ok")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# 1. install
run("cmake --install" 60 ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(expected include/corio/corio.hpp)
    if(NOT EXISTS "${prefix}/${expected}")
        message(FATAL_ERROR "install test: ${prefix}/${expected} was not installed")
    endif()
endforeach()

# 2. find_package(corio) consumer
set(configure_args
    -S "${consumer_src}" -B "${consumer_build}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DCMAKE_CXX_COMPILER=${CXX}")
if(GENERATOR)
    list(APPEND configure_args -G "${GENERATOR}")
endif()
if(BUILD_TYPE)
    string(TOUPPER "${BUILD_TYPE}" bt)
    list(APPEND configure_args
        "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
        "-DCMAKE_CXX_FLAGS_${bt}=${CXX_FLAGS_CONFIG}")
endif()
list(APPEND configure_args
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}")
run("configure consumer (find_package)" 60 ${CMAKE_COMMAND} ${configure_args})
run("build consumer (find_package)" 100 ${CMAKE_COMMAND} --build "${consumer_build}")
run("run consumer (find_package)" 30 "${consumer_build}/corio_consumer")

# 3. pkg-config consumer
find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG_EXECUTABLE)
    message(FATAL_ERROR "install test: pkg-config not found")
endif()
file(GLOB_RECURSE pc_files "${prefix}/*/corio.pc")
list(LENGTH pc_files n_pc)
if(NOT n_pc EQUAL 1)
    message(FATAL_ERROR "install test: expected one corio.pc under ${prefix}, found: ${pc_files}")
endif()
get_filename_component(pc_dir "${pc_files}" DIRECTORY)
if(DEFINED ENV{PKG_CONFIG_PATH} AND NOT "$ENV{PKG_CONFIG_PATH}" STREQUAL "")
    set(ENV{PKG_CONFIG_PATH} "${pc_dir}:$ENV{PKG_CONFIG_PATH}")
else()
    set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
endif()
execute_process(COMMAND "${PKG_CONFIG_EXECUTABLE}" --cflags --libs corio
    RESULT_VARIABLE rc OUTPUT_VARIABLE pc_flags ERROR_VARIABLE pc_err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "install test: pkg-config --cflags --libs corio failed\n${pc_err}")
endif()
message(STATUS "install test: pkg-config --cflags --libs corio: ${pc_flags}")
string(FIND "${pc_flags}" "${prefix}" at)
if(at EQUAL -1)
    message(FATAL_ERROR "install test: corio.pc does not point into the install prefix ${prefix}")
endif()
separate_arguments(pc_list UNIX_COMMAND "${pc_flags}")
separate_arguments(cxx_list UNIX_COMMAND "${CXX_FLAGS} ${CXX_FLAGS_CONFIG}")
separate_arguments(ld_list UNIX_COMMAND "${EXE_LINKER_FLAGS}")
run("build consumer (pkg-config)" 100
    "${CXX}" -std=c++20 ${cxx_list} "${consumer_src}/main.cpp" -o "${pc_exe}" ${ld_list} ${pc_list})
run("run consumer (pkg-config)" 30 "${pc_exe}")
