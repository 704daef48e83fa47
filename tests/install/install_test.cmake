# Included from tests/CMakeLists.txt: the `install_consumer` test installs this build into a
# scratch prefix and builds + runs tests/install/consumer against it, once through
# find_package(corio) and once through `pkg-config --cflags --libs corio`.
# The consumer is compiled with this build's compiler, build type and flags, so under the asan
# and tsan presets it is a sanitized program linking sanitized static libraries (as it must be),
# and NDEBUG-dependent headers see the same NDEBUG as the libraries did.
string(TOUPPER "${CMAKE_BUILD_TYPE}" _corio_bt)
add_test(NAME install_consumer
    COMMAND ${CMAKE_COMMAND}
        -DBUILD_DIR=${CMAKE_BINARY_DIR}
        -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
        -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install_test
        -DCXX=${CMAKE_CXX_COMPILER}
        -DGENERATOR=${CMAKE_GENERATOR}
        -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
        "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
        "-DCXX_FLAGS_CONFIG=${CMAKE_CXX_FLAGS_${_corio_bt}}"
        "-DEXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
        -P ${CMAKE_CURRENT_LIST_DIR}/run_consumer_test.cmake)
set_tests_properties(install_consumer PROPERTIES LABELS install TIMEOUT 300)
unset(_corio_bt)
