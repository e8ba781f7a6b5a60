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

# The rows (legacy renames, dropped legacy flags, today's LLAMA_* options) live in
# src/llama_cpp/flag_table.json, which `llama-cpp doctor` reads too.
include("${CMAKE_CURRENT_LIST_DIR}/FlagTable.cmake")

set(LLAMA_PYBIND_TRANSLATED "" CACHE INTERNAL "legacy flags translated at the last configure")

function(_llama_pybind_bool_value value out)
    if(value)
        set(${out} ON PARENT_SCOPE)
    else()
        set(${out} OFF PARENT_SCOPE)
    endif()
endfunction()

# Set MODERN from the legacy LEGACY=VALUE and print the notice line, NOTE appended.
# WRITTEN is the value the user wrote, when it differs from the value the modern flag
# gets (LLAMA_OPENBLAS=on -> vendor OpenBLAS).
# The flags row `index` of legacy_renames implies when its legacy flag is on, as a list
# of OPTION=VALUE (its "when_on": LLAMA_OPENBLAS=ON means GGML_BLAS_VENDOR=OpenBLAS too).
function(_llama_pybind_when_on index out)
    set(pairs "")
    llama_pybind_flag_table(when_on legacy_renames ${index} when_on)
    if(NOT when_on STREQUAL "")
        string(JSON count LENGTH "${when_on}")
        math(EXPR last "${count} - 1")
        foreach(j RANGE ${last})
            string(JSON option MEMBER "${when_on}" ${j})
            string(JSON forced GET "${when_on}" ${option})
            list(APPEND pairs "${option}=${forced}")
        endforeach()
    endif()
    set(${out} "${pairs}" PARENT_SCOPE)
endfunction()

function(_llama_pybind_apply_legacy legacy modern value written note)
    if(modern MATCHES "_VENDOR$|_TARGET$")
        set(new_value "${value}")
        set(type STRING)
    else()
        _llama_pybind_bool_value("${value}" new_value)
        set(type BOOL)
    endif()
    set(extra "")
    if(NOT note STREQUAL "")
        set(extra " ${note}")
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

    llama_pybind_flag_table_rows(legacy_renames rows)
    foreach(i IN LISTS rows)
        llama_pybind_flag_table(legacy legacy_renames ${i} legacy)
        llama_pybind_flag_table(modern legacy_renames ${i} modern)
        llama_pybind_flag_table(note legacy_renames ${i} note)
        if(DEFINED CACHE{${legacy}} OR DEFINED ${legacy})
            set(value "${${legacy}}")
            _llama_pybind_apply_legacy(${legacy} ${modern} "${value}" "${value}" "${note}")
            # further flags a true value implies (LLAMA_OPENBLAS=ON meant "BLAS, from OpenBLAS")
            if(value)
                _llama_pybind_when_on(${i} implied)
                foreach(pair IN LISTS implied)
                    string(REGEX MATCH "^([^=]+)=(.*)$" _ "${pair}")
                    _llama_pybind_apply_legacy(${legacy} ${CMAKE_MATCH_1} "${CMAKE_MATCH_2}" "${value}" "")
                endforeach()
            endif()
            unset(${legacy} CACHE)
            unset(${legacy} PARENT_SCOPE)
        endif()
    endforeach()

    llama_pybind_flag_table_rows(legacy_dropped rows)
    foreach(i IN LISTS rows)
        llama_pybind_flag_table(legacy legacy_dropped ${i} legacy)
        llama_pybind_flag_table(reason legacy_dropped ${i} reason)
        if(DEFINED CACHE{${legacy}} OR DEFINED ${legacy})
            message(NOTICE "llama-cpp-pybind: -D${legacy}=${${legacy}} is ignored: ${reason}.")
            unset(${legacy} CACHE)
            unset(${legacy} PARENT_SCOPE)
        endif()
    endforeach()

    # Any other LLAMA_* given on the command line is a typo or a flag that no
    # longer exists: stop, and list what is understood.
    set(current_flags "")
    llama_pybind_flag_table_rows(current_llama_flags rows)
    foreach(i IN LISTS rows)
        llama_pybind_flag_table(flag current_llama_flags ${i})
        list(APPEND current_flags ${flag})
    endforeach()
    get_cmake_property(cache_vars CACHE_VARIABLES)
    set(unknown "")
    foreach(var IN LISTS cache_vars)
        if(NOT var MATCHES "^LLAMA_" OR var MATCHES "^LLAMA_PYBIND_")
            continue()
        endif()
        if(var IN_LIST current_flags)
            continue()
        endif()
        get_property(help CACHE ${var} PROPERTY HELPSTRING)
        if(help MATCHES "^No help, variable specified on the command line")
            list(APPEND unknown ${var})
        endif()
    endforeach()
    if(unknown)
        set(known "")
        llama_pybind_flag_table_rows(legacy_renames rows)
        foreach(i IN LISTS rows)
            llama_pybind_flag_table(legacy legacy_renames ${i} legacy)
            llama_pybind_flag_table(modern legacy_renames ${i} modern)
            string(APPEND known "\n    ${legacy} -> ${modern}")
            _llama_pybind_when_on(${i} implied)
            foreach(pair IN LISTS implied)
                string(APPEND known " + ${pair}")
            endforeach()
        endforeach()
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
