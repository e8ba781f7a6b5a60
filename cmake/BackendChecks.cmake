# Early checks: a backend request that cannot work stops at configure time,
# before anything compiles, with the cause and the fix.
#
# Runs after LegacyFlags.cmake and before add_subdirectory(llama.cpp).

include_guard(GLOBAL)

include("${CMAKE_CURRENT_LIST_DIR}/Fail.cmake")

function(_llama_pybind_check_metal)
    if(GGML_METAL AND NOT APPLE)
        llama_pybind_fail("GGML_METAL=ON was requested, but Metal exists only on macOS "
            "(this is ${CMAKE_SYSTEM_NAME})."
            "\nFix: drop -DGGML_METAL=ON / -DLLAMA_METAL=ON from CMAKE_ARGS. For a GPU here use "
            "-DGGML_CUDA=ON (NVIDIA), -DGGML_HIP=ON (AMD) or -DGGML_VULKAN=ON (any vendor).")
    endif()
endfunction()

include("${CMAKE_CURRENT_LIST_DIR}/CudaToolkit.cmake")

function(_llama_pybind_blas_package_hint vendor out)
    if(vendor STREQUAL "OpenBLAS")
        set(hint "OpenBLAS: Debian/Ubuntu `sudo apt-get install libopenblas-dev pkg-config`, "
                 "Fedora `sudo dnf install openblas-devel`, macOS `brew install openblas` "
                 "(then CMAKE_ARGS also needs -DBLAS_ROOT=$(brew --prefix openblas)), "
                 "conda `conda install -c conda-forge openblas`")
    elseif(vendor MATCHES "^Intel")
        set(hint "Intel oneMKL: install it and run `source /opt/intel/oneapi/setvars.sh` first")
    elseif(vendor STREQUAL "FLAME")
        set(hint "BLIS: Debian/Ubuntu `sudo apt-get install libblis-dev`")
    elseif(vendor STREQUAL "Apple")
        set(hint "Accelerate ships with macOS; on other systems choose another vendor")
    else()
        set(hint "a BLAS with CBLAS headers, e.g. Debian/Ubuntu "
                 "`sudo apt-get install libopenblas-dev pkg-config` and "
                 "-DGGML_BLAS_VENDOR=OpenBLAS")
    endif()
    string(JOIN "" hint ${hint})
    set(${out} "${hint}" PARENT_SCOPE)
endfunction()

function(_llama_pybind_check_blas)
    if(NOT GGML_BLAS)
        return()
    endif()
    if(DEFINED GGML_BLAS_VENDOR AND NOT GGML_BLAS_VENDOR STREQUAL "")
        set(vendor "${GGML_BLAS_VENDOR}")
    elseif(APPLE)
        set(vendor "Apple")
    else()
        set(vendor "Generic")
    endif()
    set(BLA_VENDOR "${vendor}")
    find_package(BLAS QUIET)
    _llama_pybind_blas_package_hint("${vendor}" hint)
    if(NOT BLAS_FOUND)
        llama_pybind_fail("GGML_BLAS=ON with GGML_BLAS_VENDOR=${vendor}, but CMake found no "
            "${vendor} BLAS library."
            "\nFix: install ${hint}. Or pick another vendor with -DGGML_BLAS_VENDOR=... "
            "(OpenBLAS, FLAME, Intel10_64lp, Apple, Generic), or drop -DGGML_BLAS=ON.")
    endif()
    # ggml needs cblas.h as well; FindBLAS only looks for the library.
    if(NOT vendor STREQUAL "Apple")
        find_package(PkgConfig QUIET)
        set(header_dirs "")
        if(PKG_CONFIG_FOUND)
            foreach(module openblas64 openblas blas blis flexiblas_api mkl-sdl)
                pkg_check_modules(_LP_BLAS_PC QUIET ${module})
                if(_LP_BLAS_PC_FOUND)
                    list(APPEND header_dirs ${_LP_BLAS_PC_INCLUDE_DIRS})
                endif()
            endforeach()
        endif()
        find_path(_LP_CBLAS_DIR cblas.h HINTS ${header_dirs} ${BLAS_INCLUDE_DIRS}
            PATH_SUFFIXES openblas openblas64 blis flexiblas mkl NO_CACHE)
        if(NOT _LP_CBLAS_DIR)
            llama_pybind_fail("GGML_BLAS=ON: the ${vendor} library was found (${BLAS_LIBRARIES}) "
                "but not its header cblas.h."
                "\nFix: install the development package: ${hint}; or pass "
                "-DBLAS_INCLUDE_DIRS=/path/to/folder/with/cblas.h in CMAKE_ARGS.")
        endif()
        if(NOT PKG_CONFIG_FOUND)
            llama_pybind_fail("GGML_BLAS=ON needs pkg-config to locate the BLAS headers, and "
                "pkg-config was not found."
                "\nFix: install it (Debian/Ubuntu `sudo apt-get install pkg-config`, macOS "
                "`brew install pkg-config`).")
        endif()
    endif()
    message(STATUS "llama-cpp-pybind: BLAS (${vendor}) ${BLAS_LIBRARIES}")
endfunction()

# llama.cpp's Vulkan backend creates its instance with VK_EXT_layer_settings
# (vk::LayerSettingEXT, vk::LayerSettingsCreateInfoEXT), which entered the
# public Vulkan headers in 1.3.272. Compiling ggml-vulkan.cpp against Debian
# 12's 1.3.239 headers fails on exactly those names, so say so before the
# compiler does.
set(LLAMA_PYBIND_VULKAN_MIN_VERSION "1.3.272" CACHE STRING
    "oldest Vulkan headers this llama.cpp's Vulkan backend compiles with")

function(_llama_pybind_check_vulkan)
    if(NOT GGML_VULKAN)
        return()
    endif()
    find_package(Vulkan QUIET COMPONENTS glslc)
    set(install_hint "Debian/Ubuntu `sudo apt-get install libvulkan-dev glslc spirv-headers`, "
                     "Fedora `sudo dnf install vulkan-devel glslc spirv-headers-devel`, or the "
                     "LunarG Vulkan SDK (set VULKAN_SDK to its folder)")
    string(JOIN "" install_hint ${install_hint})
    if(NOT Vulkan_FOUND AND NOT Vulkan_INCLUDE_DIR)
        llama_pybind_fail("GGML_VULKAN=ON was requested, but the Vulkan headers and loader "
            "were not found." "\nFix: install ${install_hint}.")
    endif()
    if(NOT Vulkan_glslc_FOUND AND NOT Vulkan_GLSLC_EXECUTABLE)
        llama_pybind_fail("GGML_VULKAN=ON: the Vulkan headers were found, but not the shader "
            "compiler glslc, which llama.cpp needs to build its shaders."
            "\nFix: install ${install_hint}.")
    endif()
    if(Vulkan_INCLUDE_DIR AND NOT EXISTS "${Vulkan_INCLUDE_DIR}/vulkan/vulkan_core.h")
        llama_pybind_fail("GGML_VULKAN=ON: Vulkan_INCLUDE_DIR=${Vulkan_INCLUDE_DIR} has no "
            "vulkan/vulkan_core.h." "\nFix: pass the folder that contains vulkan/ (for headers "
            "unpacked by ci/vulkan-headers.sh, the path it prints), or leave it unset.")
    endif()
    if(Vulkan_VERSION AND Vulkan_VERSION VERSION_LESS LLAMA_PYBIND_VULKAN_MIN_VERSION)
        llama_pybind_fail("GGML_VULKAN=ON: the Vulkan headers found (${Vulkan_INCLUDE_DIR}) are "
            "version ${Vulkan_VERSION}; this llama.cpp's Vulkan backend needs "
            "${LLAMA_PYBIND_VULKAN_MIN_VERSION} or newer (Debian 12 \"bookworm\" ships 1.3.239, "
            "Ubuntu 22.04 1.3.204)."
            "\nFix: use newer headers, leaving the system as it is: from a clone of this "
            "repository, CMAKE_ARGS=\"-DGGML_VULKAN=ON -DVulkan_INCLUDE_DIR=$(bash "
            "ci/vulkan-headers.sh)\" (Debian 13's or Ubuntu 24.04's libvulkan-dev unpacked into "
            "a private folder, see docs/install/vulkan.md); or the LunarG Vulkan SDK with "
            "VULKAN_SDK set to it; or upgrade to Debian 13 / Ubuntu 24.04.")
    endif()
    message(STATUS "llama-cpp-pybind: Vulkan headers ${Vulkan_VERSION} (${Vulkan_INCLUDE_DIR}), "
        "loader ${Vulkan_LIBRARY}, glslc ${Vulkan_GLSLC_EXECUTABLE}")
    find_package(SPIRV-Headers CONFIG QUIET)
    if(NOT SPIRV-Headers_FOUND)
        llama_pybind_fail("GGML_VULKAN=ON: the SPIR-V headers (CMake package SPIRV-Headers) "
            "were not found." "\nFix: install ${install_hint}.")
    endif()
endfunction()

function(_llama_pybind_check_hip)
    if(NOT GGML_HIP)
        return()
    endif()
    find_program(_LP_HIPCONFIG hipconfig HINTS "$ENV{ROCM_PATH}/bin" "$ENV{HIP_PATH}/bin"
        PATHS /opt/rocm/bin NO_CACHE)
    if(NOT _LP_HIPCONFIG)
        llama_pybind_fail("GGML_HIP=ON was requested, but ROCm/HIP was not found (looked for "
            "hipconfig in ROCM_PATH, HIP_PATH, PATH and /opt/rocm/bin)."
            "\nFix: install ROCm (https://rocm.docs.amd.com), set ROCM_PATH, and build with "
            "CC=/opt/rocm/llvm/bin/clang CXX=/opt/rocm/llvm/bin/clang++. Without an AMD GPU, "
            "drop -DGGML_HIP=ON; -DGGML_VULKAN=ON also runs on AMD GPUs.")
    endif()
endfunction()

# SYCL needs Intel's oneAPI DPC++ compiler as the C++ compiler of the whole build.
function(_llama_pybind_check_sycl)
    if(NOT GGML_SYCL)
        return()
    endif()
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "IntelLLVM")
        llama_pybind_fail("GGML_SYCL=ON was requested, but the C++ compiler is "
            "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}); the SYCL backend needs Intel's "
            "oneAPI DPC++ compiler (icpx)."
            "\nFix: install the Intel oneAPI Base Toolkit, run "
            "`source /opt/intel/oneapi/setvars.sh`, then build with CC=icx CXX=icpx. For Intel "
            "GPUs without oneAPI, -DGGML_VULKAN=ON also works.")
    endif()
endfunction()

# CANN (Huawei Ascend NPUs) needs the CANN toolkit's environment.
function(_llama_pybind_check_cann)
    if(NOT GGML_CANN)
        return()
    endif()
    if(NOT CANN_INSTALL_DIR AND NOT DEFINED ENV{ASCEND_TOOLKIT_HOME})
        llama_pybind_fail("GGML_CANN=ON was requested, but the Ascend CANN toolkit was not found "
            "(neither -DCANN_INSTALL_DIR nor the ASCEND_TOOLKIT_HOME environment variable is set)."
            "\nFix: install the CANN toolkit and run its "
            "`source /usr/local/Ascend/ascend-toolkit/set_env.sh` before pip install; without an "
            "Ascend NPU, drop -DGGML_CANN=ON.")
    endif()
endfunction()

function(llama_pybind_check_backends)
    _llama_pybind_check_metal()
    llama_pybind_setup_cuda()
    _llama_pybind_check_blas()
    _llama_pybind_check_vulkan()
    _llama_pybind_check_hip()
    _llama_pybind_check_sycl()
    _llama_pybind_check_cann()
endfunction()

# Is `b` a likely intended spelling of `a`?  One is the other plus or minus up
# to two trailing characters, or they have the same length and differ in at
# most two places.
function(_llama_pybind_is_near a b out)
    set(${out} FALSE PARENT_SCOPE)
    string(LENGTH "${a}" len_a)
    string(LENGTH "${b}" len_b)
    math(EXPR diff "${len_a} - ${len_b}")
    if(diff LESS -2 OR diff GREATER 2)
        return()
    endif()
    if(NOT diff EQUAL 0)
        string(FIND "${a}" "${b}" a_has_b)
        string(FIND "${b}" "${a}" b_has_a)
        if(a_has_b EQUAL 0 OR b_has_a EQUAL 0)
            set(${out} TRUE PARENT_SCOPE)
        endif()
        return()
    endif()
    set(mismatches 0)
    math(EXPR last "${len_a} - 1")
    foreach(i RANGE ${last})
        string(SUBSTRING "${a}" ${i} 1 ca)
        string(SUBSTRING "${b}" ${i} 1 cb)
        if(NOT ca STREQUAL cb)
            math(EXPR mismatches "${mismatches} + 1")
        endif()
    endforeach()
    if(mismatches LESS_EQUAL 2)
        set(${out} TRUE PARENT_SCOPE)
    endif()
endfunction()

# After add_subdirectory: GGML_* flags no ggml option declared are typos.
function(llama_pybind_warn_unknown_ggml_flags)
    get_cmake_property(cache_vars CACHE_VARIABLES)
    set(known "")
    foreach(var IN LISTS cache_vars)
        if(var MATCHES "^GGML_")
            get_property(type CACHE ${var} PROPERTY TYPE)
            if(NOT type STREQUAL "UNINITIALIZED")
                list(APPEND known ${var})
            endif()
        endif()
    endforeach()
    foreach(var IN LISTS cache_vars)
        if(NOT var MATCHES "^GGML_")
            continue()
        endif()
        get_property(type CACHE ${var} PROPERTY TYPE)
        if(type STREQUAL "UNINITIALIZED")
            set(close "")
            foreach(candidate IN LISTS known)
                _llama_pybind_is_near("${var}" "${candidate}" near)
                if(near)
                    list(APPEND close ${candidate})
                endif()
            endforeach()
            set(suggest "")
            if(close)
                list(JOIN close ", " close)
                set(suggest " Did you mean ${close}?")
            endif()
            message(WARNING "llama-cpp-pybind: -D${var}=${${var}} is not an option of this "
                "llama.cpp and has no effect.${suggest}")
        endif()
    endforeach()
endfunction()
