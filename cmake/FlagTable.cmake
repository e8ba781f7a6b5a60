# The build-flag table shared with `llama-cpp doctor`: src/llama_cpp/flag_table.json
# (legacy renames, dropped legacy flags, current LLAMA_* options, GGML_* option ->
# backend name). LegacyFlags.cmake and BuildInfo.cmake read their rows from it.

include_guard(GLOBAL)

set(_llama_pybind_flag_table_file "${CMAKE_CURRENT_LIST_DIR}/../src/llama_cpp/flag_table.json")
file(READ "${_llama_pybind_flag_table_file}" _llama_pybind_flag_table)
set_property(GLOBAL PROPERTY LLAMA_PYBIND_FLAG_TABLE "${_llama_pybind_flag_table}")
# editing the table reconfigures
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_llama_pybind_flag_table_file}")
unset(_llama_pybind_flag_table)
unset(_llama_pybind_flag_table_file)

# The value at PATH (section, index, field ...) of the table, or "" where there is none:
#   llama_pybind_flag_table(note legacy_renames 12 note)
function(llama_pybind_flag_table out)
    get_property(table GLOBAL PROPERTY LLAMA_PYBIND_FLAG_TABLE)
    string(JSON value ERROR_VARIABLE missing GET "${table}" ${ARGN})
    if(missing)
        set(value "")
    endif()
    set(${out} "${value}" PARENT_SCOPE)
endfunction()

# The indices of the rows of SECTION (an array), for foreach(i IN LISTS OUT).
function(llama_pybind_flag_table_rows section out)
    get_property(table GLOBAL PROPERTY LLAMA_PYBIND_FLAG_TABLE)
    string(JSON count LENGTH "${table}" ${section})
    set(rows "")
    if(count GREATER 0)
        math(EXPR last "${count} - 1")
        foreach(i RANGE ${last})
            list(APPEND rows ${i})
        endforeach()
    endif()
    set(${out} "${rows}" PARENT_SCOPE)
endfunction()
