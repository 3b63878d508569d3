# The optional CUDA backend, dpvae::cuda (include/dpvae/backend/cuda.hpp, src/cuda/), its tests
# (tests/cuda/) and its training-step benchmark (benchmarks/cuda/). Built only where a
# working CUDA compiler is found; elsewhere the configure step notes it and goes on.
# CMAKE_CUDA_ARCHITECTURES defaults to 90: sm_90 code (H100/H200) plus compute_90 PTX,
# which the driver compiles for any newer GPU. Pass e.g. -DCMAKE_CUDA_ARCHITECTURES=80-real\;90
# for an A100 as well.
# On by default for dpvae's own build only: enabling CUDA is global to a CMake build, so a
# parent project that includes dpvae turns it on itself (-DDPVAE_CUDA=ON) when it wants it.
option(DPVAE_CUDA "Build the CUDA backend (dpvae::cuda) when a CUDA toolkit is found" ${DPVAE_TOP_LEVEL})
set(DPVAE_HAS_CUDA OFF)
if(DPVAE_CUDA)
  include(CheckLanguage)
  # The toolkit's default location, when nvcc is not on PATH.
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    find_program(DPVAE_NVCC nvcc)
    if(NOT DPVAE_NVCC)
      set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
    endif()
  endif()
  if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER AND NOT DEFINED ENV{CUDAHOSTCXX})
    set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}")
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND AND TARGET CUDA::cublas)
      set(DPVAE_HAS_CUDA ON)
    else()
      message(STATUS "dpvae: nvcc found but not cuBLAS; the CUDA backend is skipped")
    endif()
  else()
    message(STATUS "dpvae: no CUDA compiler found; the CUDA backend is skipped")
  endif()
endif()

if(DPVAE_HAS_CUDA)
  message(STATUS "dpvae: CUDA backend enabled (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
  add_subdirectory(${PROJECT_SOURCE_DIR}/src/cuda ${PROJECT_BINARY_DIR}/src/cuda)
  if(DPVAE_BUILD_TESTS)
    add_subdirectory(${PROJECT_SOURCE_DIR}/tests/cuda ${PROJECT_BINARY_DIR}/tests/cuda)
  endif()
  if(DPVAE_BUILD_BENCHMARKS)
    add_subdirectory(${PROJECT_SOURCE_DIR}/benchmarks/cuda ${PROJECT_BINARY_DIR}/benchmarks/cuda)
  endif()
endif()
