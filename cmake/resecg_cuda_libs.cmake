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
