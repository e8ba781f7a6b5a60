# Build information recorded into the package as _build_info.json:
# what was asked for (raw CMAKE_ARGS, legacy flags translated), what was
# resolved (GGML_* flags, backends, CPU features the CPU backend is compiled
# for), with what (compiler), from what (llama.cpp commit), and how (mode).
#
# Readable without importing the compiled module, so `llama-cpp doctor` can
# explain a module that fails to load (missing library, illegal instruction).

include_guard(GLOBAL)

# The backend each GGML_* option compiles in, by the name ggml's registry gives it
# (Metal's registry says MTL): the backend_options rows of src/llama_cpp/flag_table.json,
# which `llama-cpp doctor` reads too.
include("${CMAKE_CURRENT_LIST_DIR}/FlagTable.cmake")

# Compiler-defined macro -> ggml's name for the CPU feature (the names
# ggml_backend_cpu_get_features() reports at run time).
set(LLAMA_PYBIND_CPU_FEATURE_MACROS
    __SSE3__=SSE3 __SSSE3__=SSSE3 __SSE4_2__=SSE4.2 __AVX__=AVX __AVXVNNI__=AVX_VNNI
    __AVX2__=AVX2 __F16C__=F16C __FMA__=FMA __BMI2__=BMI2 __AVX512F__=AVX512
    __AVX512VBMI__=AVX512_VBMI __AVX512VNNI__=AVX512_VNNI __AVX512BF16__=AVX512_BF16
    __AMX_INT8__=AMX_INT8 __ARM_NEON=NEON __ARM_FEATURE_FMA=ARM_FMA
    __ARM_FEATURE_FP16_VECTOR_ARITHMETIC=FP16_VA __ARM_FEATURE_MATMUL_INT8=MATMUL_INT8
    __ARM_FEATURE_SVE=SVE __ARM_FEATURE_DOTPROD=DOTPROD __ARM_FEATURE_SME=SME
    __riscv_v=RISCV_V __POWER9_VECTOR__=VSX __VEC__=VXE __wasm_simd128__=WASM_SIMD
)

function(_llama_pybind_json_string_array out)
    set(json "[]")
    set(i 0)
    foreach(item IN LISTS ARGN)
        string(JSON json SET "${json}" ${i} "\"${item}\"")
        math(EXPR i "${i} + 1")
    endforeach()
    set(${out} "${json}" PARENT_SCOPE)
endfunction()

function(_llama_pybind_json_quote value out)
    string(REPLACE "\\" "\\\\" value "${value}")
    string(REPLACE "\"" "\\\"" value "${value}")
    string(REPLACE "\n" "\\n" value "${value}")
    string(REPLACE "\t" "\\t" value "${value}")
    set(${out} "\"${value}\"" PARENT_SCOPE)
endfunction()

# CPU features the CPU backend is compiled for: ask the compiler which
# feature macros it defines under the ggml-cpu target's own flags.
function(llama_pybind_cpu_features cpu_target out)
    get_target_property(options ${cpu_target} COMPILE_OPTIONS)
    get_target_property(definitions ${cpu_target} COMPILE_DEFINITIONS)
    set(flags "")
    foreach(opt IN LISTS options)
        if(opt MATCHES "^\\$<" OR opt STREQUAL "options-NOTFOUND")
            continue()
        endif()
        if(opt MATCHES "^(-m|-march|-mcpu|-mtune|/arch:|-D|-U)")
            list(APPEND flags "${opt}")
        endif()
    endforeach()
    set(features "")
    if(MSVC)
        # cl cannot dump its macros; ggml passes the chosen features as
        # GGML_<FEATURE> definitions next to /arch.
        foreach(def IN LISTS definitions)
            if(def MATCHES "^GGML_(SSE42|AVX|AVX2|AVX_VNNI|F16C|FMA|BMI2|AVX512|AVX512_VBMI|AVX512_VNNI|AVX512_BF16|AMX_INT8)$")
                set(name "${CMAKE_MATCH_1}")
                if(name STREQUAL "SSE42")
                    set(name "SSE4.2")
                endif()
                list(APPEND features ${name})
            endif()
        endforeach()
        if(flags MATCHES "/arch:AVX")
            list(APPEND features SSE3 SSSE3 SSE4.2 AVX)
        endif()
    else()
        set(empty "${CMAKE_BINARY_DIR}/llama_pybind_empty.c")
        file(WRITE "${empty}" "")
        execute_process(
            COMMAND ${CMAKE_C_COMPILER} ${flags} -dM -E "${empty}"
            OUTPUT_VARIABLE macros ERROR_VARIABLE errors RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            message(WARNING "llama-cpp-pybind: could not list CPU features (${errors})")
        endif()
        foreach(pair IN LISTS LLAMA_PYBIND_CPU_FEATURE_MACROS)
            string(REPLACE "=" ";" pair "${pair}")
            list(GET pair 0 macro)
            list(GET pair 1 name)
            if(macros MATCHES "#define ${macro} ")
                list(APPEND features ${name})
            endif()
        endforeach()
    endif()
    list(REMOVE_DUPLICATES features)
    set(${out} ${features} PARENT_SCOPE)
endfunction()

function(llama_pybind_write_build_info)
    cmake_parse_arguments(ARG "" "OUTPUT;MODE;LLAMA_CPP_DIR;LLAMA_CPP_COMMIT;LLAMA_CPP_SOURCE;CPU_TARGET" "" ${ARGN})

    set(backends "")
    llama_pybind_flag_table_rows(backend_options rows)
    foreach(i IN LISTS rows)
        llama_pybind_flag_table(option backend_options ${i} option)
        llama_pybind_flag_table(name backend_options ${i} backend)
        if(${option})
            list(APPEND backends ${name})
        endif()
    endforeach()

    llama_pybind_cpu_features(${ARG_CPU_TARGET} cpu_features)

    # Every GGML_* option as resolved, plus the few CMake settings that shape the build.
    set(flags "{}")
    get_cmake_property(cache_vars CACHE_VARIABLES)
    list(SORT cache_vars)
    foreach(var IN LISTS cache_vars)
        get_property(type CACHE ${var} PROPERTY TYPE)
        if(var MATCHES "^GGML_" AND type MATCHES "^(BOOL|STRING|PATH)$")
            _llama_pybind_json_quote("${${var}}" value)
            string(JSON flags SET "${flags}" "${var}" "${value}")
        endif()
    endforeach()
    # (set as plain variables by this project, so not always in the cache)
    foreach(var BUILD_SHARED_LIBS GGML_BACKEND_DL GGML_CPU_ALL_VARIANTS GGML_NATIVE
                CMAKE_BUILD_TYPE CMAKE_CUDA_ARCHITECTURES CMAKE_OSX_ARCHITECTURES)
        if(DEFINED ${var})
            _llama_pybind_json_quote("${${var}}" value)
            string(JSON flags SET "${flags}" "${var}" "${value}")
        endif()
    endforeach()

    set(legacy "[]")
    set(i 0)
    foreach(entry IN LISTS LLAMA_PYBIND_TRANSLATED)
        string(REPLACE ">" ";" entry "${entry}")
        list(GET entry 0 given)
        list(GET entry 1 became)
        _llama_pybind_json_quote("${given}" given)
        _llama_pybind_json_quote("${became}" became)
        string(JSON legacy SET "${legacy}" ${i} "{\"given\": ${given}, \"became\": ${became}}")
        math(EXPR i "${i} + 1")
    endforeach()

    set(compilers "{}")
    foreach(lang C CXX CUDA HIP)
        if(CMAKE_${lang}_COMPILER_LOADED)
            _llama_pybind_json_quote("${CMAKE_${lang}_COMPILER_ID}" id)
            _llama_pybind_json_quote("${CMAKE_${lang}_COMPILER_VERSION}" version)
            _llama_pybind_json_quote("${CMAKE_${lang}_COMPILER}" path)
            string(JSON compilers SET "${compilers}" "${lang}"
                "{\"id\": ${id}, \"version\": ${version}, \"path\": ${path}}")
        endif()
    endforeach()

    _llama_pybind_json_string_array(backends_json ${backends})
    _llama_pybind_json_string_array(features_json ${cpu_features})
    set(json "{}")
    foreach(pair
            "package_version=${SKBUILD_PROJECT_VERSION}"
            "mode=${ARG_MODE}"
            "cmake_args=$ENV{CMAKE_ARGS}"
            "force_cmake_env=$ENV{FORCE_CMAKE}"
            "llama_cpp_commit=${ARG_LLAMA_CPP_COMMIT}"
            "llama_cpp_source=${ARG_LLAMA_CPP_SOURCE}"
            "system=${CMAKE_SYSTEM_NAME}"
            "processor=${CMAKE_SYSTEM_PROCESSOR}"
            "build_type=${CMAKE_BUILD_TYPE}"
            "cmake_version=${CMAKE_VERSION}"
            "generator=${CMAKE_GENERATOR}"
            "python_version=${Python_VERSION}")
        string(FIND "${pair}" "=" eq)
        string(SUBSTRING "${pair}" 0 ${eq} key)
        math(EXPR eq "${eq} + 1")
        string(SUBSTRING "${pair}" ${eq} -1 value)
        _llama_pybind_json_quote("${value}" value)
        string(JSON json SET "${json}" "${key}" "${value}")
    endforeach()
    string(JSON json SET "${json}" "legacy_flags" "${legacy}")
    string(JSON json SET "${json}" "backends" "${backends_json}")
    string(JSON json SET "${json}" "cpu_features" "${features_json}")
    # portable mode: the CPU backend variants shipped (the best is chosen at run time)
    _llama_pybind_json_string_array(variants_json ${LLAMA_PYBIND_CPU_VARIANTS})
    string(JSON json SET "${json}" "cpu_variants" "${variants_json}")
    string(JSON json SET "${json}" "flags" "${flags}")
    string(JSON json SET "${json}" "compilers" "${compilers}")
    # The CUDA runtime version the build links: the doctor compares it with the driver's.
    if(GGML_CUDA)
        find_package(CUDAToolkit QUIET)
        if(CUDAToolkit_VERSION)
            string(JSON json SET "${json}" "cuda_version" "\"${CUDAToolkit_VERSION}\"")
        endif()
        # the architectures compiled (as resolved) and the toolkit used: system or pip
        _llama_pybind_json_string_array(archs_json ${LLAMA_PYBIND_CUDA_ARCHITECTURES})
        string(JSON json SET "${json}" "cuda_architectures" "${archs_json}")
        _llama_pybind_json_quote("${LLAMA_PYBIND_CUDA_TOOLKIT_USED}" used)
        string(JSON json SET "${json}" "cuda_toolkit" "${used}")
    endif()
    file(WRITE "${ARG_OUTPUT}" "${json}\n")

    list(JOIN backends ", " backends_text)
    list(JOIN cpu_features " " features_text)
    set(LLAMA_PYBIND_SUMMARY_BACKENDS "${backends_text}" PARENT_SCOPE)
    set(LLAMA_PYBIND_SUMMARY_CPU "${features_text}" PARENT_SCOPE)
endfunction()
