# Translation of legacy llama.cpp build flags to today's GGML_* names.
#
# Old install guides still say -DLLAMA_CUBLAS=on, -DLLAMA_METAL=on,
# -DLLAMA_CLBLAST=on ...; upstream now rejects some of them and silently
# ignores others.  Here each one keeps working: it is mapped to the modern
# name (OFF values too), one notice line says so, and the legacy cache entry
# is removed so llama.cpp's own deprecation checks never see it.
#
# Must run before add_subdirectory(llama.cpp).

include_guard(GLOBAL)

# legacy name -> modern name, for flags whose value carries over as is
set(LLAMA_PYBIND_LEGACY_RENAMES
    LLAMA_CUBLAS=GGML_CUDA
    LLAMA_CUDA=GGML_CUDA
    LLAMA_METAL=GGML_METAL
    LLAMA_METAL_EMBED_LIBRARY=GGML_METAL_EMBED_LIBRARY
    LLAMA_BLAS=GGML_BLAS
    LLAMA_BLAS_VENDOR=GGML_BLAS_VENDOR
    LLAMA_HIPBLAS=GGML_HIP
    GGML_HIPBLAS=GGML_HIP
    LLAMA_HIP_UMA=GGML_HIP_UMA
    LLAMA_VULKAN=GGML_VULKAN
    LLAMA_KOMPUTE=GGML_VULKAN
    GGML_KOMPUTE=GGML_VULKAN
    LLAMA_CLBLAST=GGML_VULKAN
    LLAMA_NATIVE=GGML_NATIVE
    LLAMA_AVX=GGML_AVX
    LLAMA_AVX2=GGML_AVX2
    LLAMA_AVX_VNNI=GGML_AVX_VNNI
    LLAMA_AVX512=GGML_AVX512
    LLAMA_AVX512_VBMI=GGML_AVX512_VBMI
    LLAMA_AVX512_VNNI=GGML_AVX512_VNNI
    LLAMA_AVX512_BF16=GGML_AVX512_BF16
    LLAMA_FMA=GGML_FMA
    LLAMA_F16C=GGML_F16C
    LLAMA_LLAMAFILE=GGML_LLAMAFILE
    LLAMA_OPENMP=GGML_OPENMP
    LLAMA_LTO=GGML_LTO
    LLAMA_CCACHE=GGML_CCACHE
    LLAMA_CUDA_FORCE_MMQ=GGML_CUDA_FORCE_MMQ
    LLAMA_CUDA_FORCE_CUBLAS=GGML_CUDA_FORCE_CUBLAS
    LLAMA_CUDA_NO_PEER_COPY=GGML_CUDA_NO_PEER_COPY
    LLAMA_CUDA_NO_VMM=GGML_CUDA_NO_VMM
    LLAMA_CUDA_FA_ALL_QUANTS=GGML_CUDA_FA_ALL_QUANTS
    LLAMA_CUDA_GRAPHS=GGML_CUDA_GRAPHS
    LLAMA_RPC=GGML_RPC
    LLAMA_SYCL=GGML_SYCL
    LLAMA_SYCL_F16=GGML_SYCL_F16
    LLAMA_SYCL_TARGET=GGML_SYCL_TARGET
    LLAMA_CANN=GGML_CANN
    LLAMA_MUSA=GGML_MUSA
    LLAMA_OPENCL=GGML_OPENCL
)

# Flags with no modern equivalent: accepted and dropped, with the reason.
set(LLAMA_PYBIND_LEGACY_DROPPED
    "LLAMA_CURL=this package never downloads models from C++ (use Llama.from_pretrained)"
    "LLAMA_BUILD_INFO=build information is always recorded (llama_cpp.build_info())"
)

# Today's llama.cpp options (and ours): not legacy, never an error.
set(LLAMA_PYBIND_CURRENT_LLAMA_FLAGS
    LLAMA_BUILD_COMMON LLAMA_BUILD_TESTS LLAMA_BUILD_TOOLS LLAMA_BUILD_EXAMPLES
    LLAMA_BUILD_SERVER LLAMA_BUILD_APP LLAMA_BUILD_UI LLAMA_BUILD_MTMD LLAMA_BUILD_IS_DEV
    LLAMA_BUILD_NUMBER LLAMA_BUILD_COMMIT LLAMA_USE_PREBUILT_UI LLAMA_TOOLS_INSTALL
    LLAMA_TESTS_INSTALL LLAMA_OPENSSL LLAMA_SUBPROCESS LLAMA_LLGUIDANCE
    LLAMA_USE_SYSTEM_GGML LLAMA_ALL_WARNINGS LLAMA_ALL_WARNINGS_3RD_PARTY
    LLAMA_FATAL_WARNINGS LLAMA_SANITIZE_THREAD LLAMA_SANITIZE_ADDRESS
    LLAMA_SANITIZE_UNDEFINED LLAMA_WASM_MEM64 LLAMA_WASM_SINGLE_FILE LLAMA_BUILD_HTML
    LLAMA_STANDALONE
)

set(LLAMA_PYBIND_TRANSLATED "" CACHE INTERNAL "legacy flags translated at the last configure")

function(_llama_pybind_bool_value value out)
    if(value)
        set(${out} ON PARENT_SCOPE)
    else()
        set(${out} OFF PARENT_SCOPE)
    endif()
endfunction()

# Set MODERN from the legacy LEGACY=VALUE and print the notice line.
# An optional fourth argument is the value the user wrote, when it differs
# from the value the modern flag gets (LLAMA_OPENBLAS=on -> vendor OpenBLAS).
function(_llama_pybind_apply_legacy legacy modern value)
    set(written "${value}")
    if(ARGC GREATER 3)
        set(written "${ARGV3}")
    endif()
    if(modern MATCHES "_VENDOR$|_TARGET$")
        set(new_value "${value}")
        set(type STRING)
    else()
        _llama_pybind_bool_value("${value}" new_value)
        set(type BOOL)
    endif()
    set(extra "")
    if(legacy STREQUAL "LLAMA_CLBLAST")
        string(CONCAT extra " CLBlast was removed from llama.cpp in June 2024, superseded by "
                            "Vulkan, which runs on the same GPUs; for Adreno or Intel GPUs use "
                            "-DGGML_OPENCL=ON instead.")
    elseif(legacy MATCHES "KOMPUTE")
        set(extra " Kompute was removed from llama.cpp in 2025; Vulkan replaces it.")
    endif()
    # An explicit modern flag given together with the legacy one wins.
    get_property(modern_help CACHE ${modern} PROPERTY HELPSTRING)
    set(given "${${modern}}")
    if(type STREQUAL "BOOL")
        _llama_pybind_bool_value("${given}" given)
    endif()
    if(DEFINED CACHE{${modern}} AND modern_help MATCHES "^No help, variable specified on the command line"
       AND NOT given STREQUAL new_value)
        message(NOTICE "llama-cpp-pybind: -D${legacy}=${written} is a legacy name for "
                       "${modern}; -D${modern}=${${modern}} is also given and wins.")
        set(new_value "${${modern}}")
    else()
        set(${modern} "${new_value}" CACHE ${type} "set from legacy flag ${legacy}" FORCE)
        message(NOTICE "llama-cpp-pybind: -D${legacy}=${written} is a legacy flag; building with "
                       "-D${modern}=${new_value}.${extra}")
    endif()
    set(translated ${LLAMA_PYBIND_TRANSLATED})
    list(APPEND translated "${legacy}=${written}>${modern}=${new_value}")
    set(LLAMA_PYBIND_TRANSLATED "${translated}" CACHE INTERNAL "")
endfunction()

function(llama_pybind_translate_legacy_flags)
    set(LLAMA_PYBIND_TRANSLATED "" CACHE INTERNAL "")
    if(DEFINED ENV{FORCE_CMAKE})
        message(NOTICE "llama-cpp-pybind: FORCE_CMAKE=$ENV{FORCE_CMAKE} is not needed: this package "
                       "always builds llama.cpp from source with CMake.")
    endif()

    foreach(pair IN LISTS LLAMA_PYBIND_LEGACY_RENAMES)
        string(REPLACE "=" ";" pair "${pair}")
        list(GET pair 0 legacy)
        list(GET pair 1 modern)
        if(DEFINED CACHE{${legacy}} OR DEFINED ${legacy})
            _llama_pybind_apply_legacy(${legacy} ${modern} "${${legacy}}")
            unset(${legacy} CACHE)
            unset(${legacy} PARENT_SCOPE)
        endif()
    endforeach()

    # LLAMA_OPENBLAS=ON meant "BLAS, from OpenBLAS".
    if(DEFINED CACHE{LLAMA_OPENBLAS} OR DEFINED LLAMA_OPENBLAS)
        _llama_pybind_apply_legacy(LLAMA_OPENBLAS GGML_BLAS "${LLAMA_OPENBLAS}")
        if(LLAMA_OPENBLAS)
            _llama_pybind_apply_legacy(LLAMA_OPENBLAS GGML_BLAS_VENDOR OpenBLAS "${LLAMA_OPENBLAS}")
        endif()
        unset(LLAMA_OPENBLAS CACHE)
        unset(LLAMA_OPENBLAS PARENT_SCOPE)
    endif()

    foreach(entry IN LISTS LLAMA_PYBIND_LEGACY_DROPPED)
        string(FIND "${entry}" "=" eq)
        string(SUBSTRING "${entry}" 0 ${eq} legacy)
        math(EXPR eq "${eq} + 1")
        string(SUBSTRING "${entry}" ${eq} -1 reason)
        if(DEFINED CACHE{${legacy}} OR DEFINED ${legacy})
            message(NOTICE "llama-cpp-pybind: -D${legacy}=${${legacy}} is ignored: ${reason}.")
            unset(${legacy} CACHE)
            unset(${legacy} PARENT_SCOPE)
        endif()
    endforeach()

    # Any other LLAMA_* given on the command line is a typo or a flag that no
    # longer exists: stop, and list what is understood.
    get_cmake_property(cache_vars CACHE_VARIABLES)
    set(unknown "")
    foreach(var IN LISTS cache_vars)
        if(NOT var MATCHES "^LLAMA_" OR var MATCHES "^LLAMA_PYBIND_")
            continue()
        endif()
        if(var IN_LIST LLAMA_PYBIND_CURRENT_LLAMA_FLAGS)
            continue()
        endif()
        get_property(help CACHE ${var} PROPERTY HELPSTRING)
        if(help MATCHES "^No help, variable specified on the command line")
            list(APPEND unknown ${var})
        endif()
    endforeach()
    if(unknown)
        set(known "")
        foreach(pair IN LISTS LLAMA_PYBIND_LEGACY_RENAMES)
            string(REPLACE "=" " -> " pair "${pair}")
            string(APPEND known "\n    ${pair}")
        endforeach()
        string(APPEND known "\n    LLAMA_OPENBLAS -> GGML_BLAS + GGML_BLAS_VENDOR=OpenBLAS")
        list(JOIN unknown ", " unknown_text)
        foreach(var IN LISTS unknown)
            unset(${var} CACHE)
        endforeach()
        message(FATAL_ERROR
            "llama-cpp-pybind: unknown flag ${unknown_text}.\n"
            "It is neither a current llama.cpp option nor a legacy name this package "
            "translates. Use the GGML_* name (e.g. -DGGML_CUDA=ON, -DGGML_VULKAN=ON, "
            "-DGGML_BLAS=ON -DGGML_BLAS_VENDOR=OpenBLAS). Legacy names understood:${known}")
    endif()
endfunction()
