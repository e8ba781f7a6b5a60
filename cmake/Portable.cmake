# Portable mode (wheels): llama.cpp as shared libraries and ggml backends as
# modules under llama_cpp/lib/, found through RPATH ($ORIGIN, @loader_path) and
# loaded by _core at import with ggml_backend_load_all_from_path; never through
# LD_LIBRARY_PATH or PATH. The CPU backend is built in every variant ggml has for
# this architecture, and ggml picks the best one for the CPU it runs on.

include_guard(GLOBAL)

macro(llama_pybind_portable_options)
    set(BUILD_SHARED_LIBS ON)
    set(GGML_BACKEND_DL ON)
    # Tuning for the build machine would defeat the point.
    set(GGML_NATIVE OFF CACHE BOOL "ggml: optimize the build for the current system" FORCE)
    if(NOT DEFINED GGML_CPU_ALL_VARIANTS)
        if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i686)$"
           OR (CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$" AND CMAKE_SYSTEM_NAME STREQUAL "Linux"))
            set(GGML_CPU_ALL_VARIANTS ON)
        else()
            set(GGML_CPU_ALL_VARIANTS OFF)
        endif()
    endif()
    if(APPLE)
        set(CMAKE_INSTALL_RPATH "@loader_path")
    else()
        set(CMAKE_INSTALL_RPATH "$ORIGIN")
    endif()
endmacro()

# Install llama, ggml, ggml-base and every backend module into llama_cpp/lib (one
# file each: no version symlinks, which wheels cannot hold), _core with an RPATH to
# it, and name the CPU backend target whose flags are the baseline in `cpu_target_var`.
function(llama_pybind_install_modules core_target cpu_target_var)
    set(libraries llama ggml ggml-base)
    set(modules "")
    set(cpu_variants "")
    foreach(backend IN LISTS GGML_AVAILABLE_BACKENDS)
        if(TARGET ${backend})
            list(APPEND modules ${backend})
            if(backend MATCHES "^ggml-cpu-(.+)$")
                list(APPEND cpu_variants ${CMAKE_MATCH_1})
            endif()
        endif()
    endforeach()
    foreach(target IN LISTS libraries modules)
        set_property(TARGET ${target} PROPERTY VERSION)
        set_property(TARGET ${target} PROPERTY SOVERSION)
        set(rpath "${CMAKE_INSTALL_RPATH}")
        if(target STREQUAL "ggml-cuda" AND LLAMA_PYBIND_MODE STREQUAL "native")
            llama_pybind_cuda_runtime_rpath(cuda_rpath)
            list(APPEND rpath ${cuda_rpath})
        endif()
        set_property(TARGET ${target} PROPERTY INSTALL_RPATH "${rpath}")
        install(TARGETS ${target}
            LIBRARY DESTINATION llama_cpp/lib COMPONENT python
            RUNTIME DESTINATION llama_cpp/lib COMPONENT python
            ARCHIVE DESTINATION llama_cpp/lib/static COMPONENT python_static EXCLUDE_FROM_ALL
            PUBLIC_HEADER DESTINATION llama_cpp/include COMPONENT python_headers EXCLUDE_FROM_ALL)
    endforeach()
    if(APPLE)
        set_property(TARGET ${core_target} PROPERTY INSTALL_RPATH "@loader_path/lib")
    else()
        set_property(TARGET ${core_target} PROPERTY INSTALL_RPATH "$ORIGIN/lib")
    endif()
    # _core loads the modules; make sure they are built with it.
    add_dependencies(${core_target} ${modules})
    set(LLAMA_PYBIND_CPU_VARIANTS "${cpu_variants}" CACHE INTERNAL "CPU backend variants built")
    if(cpu_variants)
        list(GET cpu_variants 0 first)
        set(${cpu_target_var} ggml-cpu-${first} PARENT_SCOPE)
    endif()
endfunction()
