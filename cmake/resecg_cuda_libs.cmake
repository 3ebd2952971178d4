# Finds cudart, cuBLAS (with cuBLASLt) and cuDNN for the CUDA module, each
# library together with its header from the same install where one has
# both (else the first header and the first library found), in a CUDA toolkit
# and in PyTorch's pip-wheel layout (site-packages/nvidia/<pkg>/{lib,include},
# e.g. nvidia/cudnn/lib/libcudnn.so.9, nvidia/cu13/lib/libcublas.so.13),
# which has versioned file names only. Plain file tests, no find_library
# cache, so the search is the same on every configure and testable in
# script mode (tests/cuda_find.cmake).
#
# resecg_cuda_find_libs(<prefix> TOOLKITS dir... SITES dir...) sets
#   <prefix>_CUDART <prefix>_CUBLAS <prefix>_CUBLASLT <prefix>_CUDNN
#     the library files found (or <lib>-NOTFOUND),
#   <prefix>_CUDNN_INCLUDE <prefix>_CUBLAS_INCLUDE  their header directories,
#   <prefix>_CUDNN_VERSION  "9.10.2" from cudnn_version.h,
#   <prefix>_MISSING  "cuDNN (libcudnn.so.9 with cudnn.h) ..." for every one
#     not found, empty when all were,
#   <prefix>_WHERE  the places searched, for messages.
# Toolkits are searched before sites, in the order given.

set(RESECG_CUDA_LIB_NAMES_CUDART libcudart.so libcudart.so.13 libcudart.so.12)
set(RESECG_CUDA_LIB_NAMES_CUBLAS libcublas.so libcublas.so.13 libcublas.so.12)
set(RESECG_CUDA_LIB_NAMES_CUBLASLT libcublasLt.so libcublasLt.so.13 libcublasLt.so.12)
set(RESECG_CUDA_LIB_NAMES_CUDNN libcudnn.so libcudnn.so.9)
set(RESECG_CUDA_HEADER_CUDART cuda_runtime_api.h)
set(RESECG_CUDA_HEADER_CUBLAS cublas_v2.h)
set(RESECG_CUDA_HEADER_CUBLASLT cublasLt.h)
set(RESECG_CUDA_HEADER_CUDNN cudnn.h)

function(resecg_cuda_find_libs prefix)
  cmake_parse_arguments(A "" "" "TOOLKITS;SITES" ${ARGN})
  # (lib dir, include dir) pairs, in search order
  set(pairs)
  set(where)
  foreach(t IN LISTS A_TOOLKITS)
    foreach(sub lib64 lib)
      list(APPEND pairs "${t}/${sub}|${t}/include")
    endforeach()
    list(APPEND pairs "${t}/targets/x86_64-linux/lib|${t}/targets/x86_64-linux/include")
    list(APPEND where "${t}")
  endforeach()
  foreach(s IN LISTS A_SITES)
    file(GLOB pkgs LIST_DIRECTORIES true "${s}/nvidia/*")
    list(SORT pkgs)
    foreach(p IN LISTS pkgs)
      if(IS_DIRECTORY "${p}/lib")
        list(APPEND pairs "${p}/lib|${p}/include")
      endif()
    endforeach()
    list(APPEND where "${s}/nvidia/*")
  endforeach()
  set(missing)
  foreach(lib CUDART CUBLAS CUBLASLT CUDNN)
    set(found "${lib}-NOTFOUND")
    set(found_inc "${lib}_INCLUDE-NOTFOUND")
    foreach(pair IN LISTS pairs)
      string(REPLACE "|" ";" pl "${pair}")
      list(GET pl 0 libdir)
      list(GET pl 1 incdir)
      if(NOT EXISTS "${incdir}/${RESECG_CUDA_HEADER_${lib}}")
        continue()
      endif()
      foreach(name IN LISTS RESECG_CUDA_LIB_NAMES_${lib})
        if(EXISTS "${libdir}/${name}")
          set(found "${libdir}/${name}")
          set(found_inc "${incdir}")
          break()
        endif()
      endforeach()
      if(found)
        break()
      endif()
    endforeach()
    if(NOT found)
      # no install holds both: a header-only toolkit beside library-only
      # wheels still builds, as long as the two are found at all
      set(lib_any)
      set(inc_any)
      foreach(pair IN LISTS pairs)
        string(REPLACE "|" ";" pl "${pair}")
        list(GET pl 0 libdir)
        list(GET pl 1 incdir)
        if(NOT inc_any AND EXISTS "${incdir}/${RESECG_CUDA_HEADER_${lib}}")
          set(inc_any "${incdir}")
        endif()
        foreach(name IN LISTS RESECG_CUDA_LIB_NAMES_${lib})
          if(NOT lib_any AND EXISTS "${libdir}/${name}")
            set(lib_any "${libdir}/${name}")
          endif()
        endforeach()
      endforeach()
      if(lib_any AND inc_any)
        set(found "${lib_any}")
        set(found_inc "${inc_any}")
      endif()
    endif()
    set(${prefix}_${lib} "${found}" PARENT_SCOPE)
    set(${prefix}_${lib}_INCLUDE "${found_inc}" PARENT_SCOPE)
    if(NOT found)
      list(GET RESECG_CUDA_LIB_NAMES_${lib} 1 want)
      list(APPEND missing "${lib} (${want} with ${RESECG_CUDA_HEADER_${lib}})")
    endif()
    if(lib STREQUAL "CUDNN" AND found)
      file(STRINGS "${found_inc}/cudnn_version.h" vlines REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ")
      set(ver)
      foreach(key MAJOR MINOR PATCHLEVEL)
        foreach(l IN LISTS vlines)
          if(l MATCHES "^#define CUDNN_${key} +([0-9]+)")
            list(APPEND ver "${CMAKE_MATCH_1}")
          endif()
        endforeach()
      endforeach()
      string(REPLACE ";" "." ver "${ver}")
      set(${prefix}_CUDNN_VERSION "${ver}" PARENT_SCOPE)
    endif()
  endforeach()
  string(REPLACE ";" ", " missing "${missing}")
  string(REPLACE ";" ", " where "${where}")
  set(${prefix}_MISSING "${missing}" PARENT_SCOPE)
  set(${prefix}_WHERE "${where}" PARENT_SCOPE)
endfunction()

# The site-packages directories of `python3` on PATH (where pip puts
# PyTorch's nvidia-* wheels), in <out>; empty without python3.
function(resecg_python_sites out)
  find_program(RESECG_PYTHON3 python3)
  set(sites)
  if(RESECG_PYTHON3)
    execute_process(
      COMMAND "${RESECG_PYTHON3}" -c
        "import site; print(';'.join(site.getsitepackages() + [site.getusersitepackages()]))"
      OUTPUT_VARIABLE sites OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      set(sites)
    endif()
  endif()
  set(${out} "${sites}" PARENT_SCOPE)
endfunction()

# resecg_cuda_detect(): the RESECG_CUDA, RESECG_CUDA_TOOLKIT and
# RESECG_CUDA_SITES cache settings, then nvcc (enable_language(CUDA)) and the
# libraries. Sets RESECG_HAVE_CUDA (ON or OFF), RESECG_CUDA_WHY (why not) and
# RC_* (resecg_cuda_find_libs); FATAL_ERROR where RESECG_CUDA=ON and
# something is missing. A macro: enable_language must run in the caller.
macro(resecg_cuda_detect)
  set(RESECG_CUDA AUTO CACHE STRING "Build the CUDA module: AUTO, ON or OFF")
  set_property(CACHE RESECG_CUDA PROPERTY STRINGS AUTO ON OFF)
  set(RESECG_CUDA_TOOLKIT "" CACHE PATH
      "CUDA toolkit searched for cudart, cuBLAS and cuDNN (default: the one of the nvcc found)")
  set(RESECG_CUDA_SITES "" CACHE STRING
      "site-packages directories holding PyTorch's nvidia-* wheels (default: python3's)")
  string(TOUPPER "${RESECG_CUDA}" RESECG_CUDA_MODE)
  set(RESECG_HAVE_CUDA OFF)
  set(RESECG_CUDA_WHY "RESECG_CUDA=${RESECG_CUDA}")
  if(NOT RESECG_CUDA_MODE MATCHES "^(OFF|0|FALSE|NO)$")
    include(CheckLanguage)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
      # Hopper (H100/H200) and Ampere (A100); each architecture compiles every
      # kernel again, so the list stays short for the 2-core CI box.
      if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES "80;90")
      endif()
      set(CMAKE_CUDA_STANDARD 17)
      set(CMAKE_CUDA_STANDARD_REQUIRED ON)
      # cudart is linked by path, like cuBLAS and cuDNN
      set(CMAKE_CUDA_RUNTIME_LIBRARY None)
      enable_language(CUDA)
      set(_rc_toolkit "${RESECG_CUDA_TOOLKIT}")
      if(NOT _rc_toolkit)
        get_filename_component(_rc_toolkit "${CMAKE_CUDA_COMPILER}" DIRECTORY) # <toolkit>/bin/nvcc
        get_filename_component(_rc_toolkit "${_rc_toolkit}" DIRECTORY)
      endif()
      set(_rc_sites "${RESECG_CUDA_SITES}")
      if(NOT _rc_sites)
        resecg_python_sites(_rc_sites)
      endif()
      resecg_cuda_find_libs(RC TOOLKITS "${_rc_toolkit}" SITES ${_rc_sites})
      if(RC_MISSING)
        set(RESECG_CUDA_WHY "not found: ${RC_MISSING}; searched ${RC_WHERE}")
      else()
        set(RESECG_HAVE_CUDA ON)
        set(RESECG_CUDA_LIBDIRS)
        foreach(_rc_lib "${RC_CUDART}" "${RC_CUBLAS}" "${RC_CUDNN}")
          get_filename_component(_rc_dir "${_rc_lib}" DIRECTORY)
          list(APPEND RESECG_CUDA_LIBDIRS "${_rc_dir}")
        endforeach()
        list(REMOVE_DUPLICATES RESECG_CUDA_LIBDIRS)
        string(REPLACE ";" ":" RESECG_CUDA_LIBDIRS_COLON "${RESECG_CUDA_LIBDIRS}")
      endif()
    else()
      set(RESECG_CUDA_WHY "nvcc not found (PATH, CUDACXX, /usr/local/cuda/bin)")
    endif()
    if(NOT RESECG_HAVE_CUDA AND NOT RESECG_CUDA_MODE STREQUAL "AUTO")
      message(FATAL_ERROR "RESECG_CUDA=${RESECG_CUDA}: cannot build the CUDA module: ${RESECG_CUDA_WHY}")
    endif()
  endif()
  if(RESECG_HAVE_CUDA)
    message(STATUS "resecg: CUDA module libresecg_cuda.so: built (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                   "sm ${CMAKE_CUDA_ARCHITECTURES}, cudart ${RC_CUDART}, cuBLAS ${RC_CUBLAS}, "
                   "cuDNN ${RC_CUDNN_VERSION} ${RC_CUDNN})")
  else()
    message(STATUS "resecg: CUDA module libresecg_cuda.so: not built (${RESECG_CUDA_WHY})")
  endif()
endmacro()
