# cmake -DSRC=<repo> -DTMP=<scratch> -P tests/cuda_find.cmake - the CUDA
# module's library search (cmake/resecg_cuda_libs.cmake) on made-up trees:
# PyTorch's pip-wheel layout with versioned names only, a toolkit that wins
# over the wheels, and the message when cuDNN is missing. The files are
# empty: the search looks at names, the linker never sees them.
include(${SRC}/cmake/resecg_cuda_libs.cmake)
file(REMOVE_RECURSE ${TMP})
set(fails 0)
macro(expect what got want)
  if(NOT "${got}" STREQUAL "${want}")
    message(SEND_ERROR "FAIL: ${what}: got '${got}', expected '${want}'")
    math(EXPR fails "${fails} + 1")
  else()
    message(STATUS "ok: ${what}: ${got}")
  endif()
endmacro()
function(touch)
  foreach(f ${ARGN})
    get_filename_component(d ${f} DIRECTORY)
    file(MAKE_DIRECTORY ${d})
    file(WRITE ${f} "")
  endforeach()
endfunction()

# pip wheels (torch 2.x on CUDA 13): nvidia/cu13 holds cudart and cuBLAS,
# nvidia/cudnn holds cuDNN; a toolkit with nvcc and cudart only
set(site ${TMP}/site-packages)
file(MAKE_DIRECTORY ${TMP})
touch(${site}/nvidia/cu13/lib/libcudart.so.13 ${site}/nvidia/cu13/lib/libcublas.so.13
      ${site}/nvidia/cu13/lib/libcublasLt.so.13 ${site}/nvidia/cu13/include/cuda_runtime_api.h
      ${site}/nvidia/cu13/include/cublas_v2.h ${site}/nvidia/cu13/include/cublasLt.h
      ${site}/nvidia/cudnn/lib/libcudnn.so.9 ${site}/nvidia/cudnn/include/cudnn.h)
file(WRITE ${site}/nvidia/cudnn/include/cudnn_version.h
  "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 10\n#define CUDNN_PATCHLEVEL 2\n")
set(tk ${TMP}/cuda-13.0)
touch(${tk}/lib64/libcudart.so.13 ${tk}/include/cuda_runtime_api.h)
resecg_cuda_find_libs(R TOOLKITS ${tk} SITES ${site})
expect("cudart from the toolkit" "${R_CUDART}" "${tk}/lib64/libcudart.so.13")
expect("cuBLAS from the wheel" "${R_CUBLAS}" "${site}/nvidia/cu13/lib/libcublas.so.13")
expect("cuBLASLt from the wheel" "${R_CUBLASLT}" "${site}/nvidia/cu13/lib/libcublasLt.so.13")
expect("cuDNN from the wheel" "${R_CUDNN}" "${site}/nvidia/cudnn/lib/libcudnn.so.9")
expect("cuDNN headers beside it" "${R_CUDNN_INCLUDE}" "${site}/nvidia/cudnn/include")
expect("cuDNN version" "${R_CUDNN_VERSION}" "9.10.2")
expect("nothing missing" "${R_MISSING}" "")

# a library without any cudnn.h is not taken, and the message says what
set(site2 ${TMP}/site2)
touch(${site2}/nvidia/cudnn/lib/libcudnn.so.9)
resecg_cuda_find_libs(R TOOLKITS ${tk} SITES ${site2})
expect("cuDNN without cudnn.h" "${R_CUDNN}" "CUDNN-NOTFOUND")
expect("what is missing" "${R_MISSING}"
  "CUBLAS (libcublas.so.13 with cublas_v2.h), CUBLASLT (libcublasLt.so.13 with cublasLt.h), CUDNN (libcudnn.so.9 with cudnn.h)")

# headers in the toolkit only, the library in a wheel only: both are taken
set(tk3 ${TMP}/cuda-headers)
touch(${tk3}/include/cudnn.h ${tk3}/include/cudnn_version.h)
resecg_cuda_find_libs(R TOOLKITS ${tk3} SITES ${site2})
expect("split cuDNN library" "${R_CUDNN}" "${site2}/nvidia/cudnn/lib/libcudnn.so.9")
expect("split cuDNN header" "${R_CUDNN_INCLUDE}" "${tk3}/include")

# a full toolkit is taken before the wheels
touch(${tk}/lib64/libcublas.so ${tk}/lib64/libcublasLt.so ${tk}/include/cublas_v2.h
      ${tk}/include/cublasLt.h ${tk}/lib64/libcudnn.so.9 ${tk}/include/cudnn.h)
file(WRITE ${tk}/include/cudnn_version.h
  "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 19\n#define CUDNN_PATCHLEVEL 0\n")
resecg_cuda_find_libs(R TOOLKITS ${tk} SITES ${site})
expect("toolkit cuBLAS first" "${R_CUBLAS}" "${tk}/lib64/libcublas.so")
expect("toolkit cuDNN first" "${R_CUDNN}" "${tk}/lib64/libcudnn.so.9")
expect("its version" "${R_CUDNN_VERSION}" "9.19.0")
file(REMOVE_RECURSE ${TMP})
if(fails GREATER 0)
  message(FATAL_ERROR "${fails} check(s) failed")
endif()
