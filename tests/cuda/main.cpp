// dpvae_cuda_tests: without a usable CUDA device, says why and exits 77 (ctest: skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <dpvae/backend/cuda.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  const auto [count, why] = dpvae::Cuda::device_count();
  if (count == 0) {
    std::printf("dpvae_cuda_tests: SKIPPED: %s\n", why.c_str());
    return 77;
  }
  std::printf("dpvae_cuda_tests: device 0: %s (%d device(s))\n", dpvae::Cuda::device_name().c_str(), count);
  doctest::Context context(argc, argv);
  return context.run();
}
