# Stop configuring: the arguments, joined, say what is wrong and the fix.
# (ARGV<i> one by one: a ";" inside a message must not split it.)

include_guard(GLOBAL)

function(llama_pybind_fail)
    set(text "")
    math(EXPR last "${ARGC} - 1")
    foreach(i RANGE ${last})
        string(APPEND text "${ARGV${i}}")
    endforeach()
    message(FATAL_ERROR "llama-cpp-pybind: ${text}")
endfunction()
