// libFuzzer harness: the .npy reader on arbitrary bytes. Bad input must raise dpvae::Error
// and nothing else: no crash, leak or sanitizer report.
#include <dpvae/data/npy.hpp>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const dpvae::data::NpyArray a = dpvae::data::parse_npy(data, size, "fuzz");
    // The reader's promise: prod(shape) × itemsize == bytes.size(), each value readable.
    if (static_cast<std::uint64_t>(a.numel()) * a.itemsize != a.bytes.size()) __builtin_trap();
    double sum = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(a.numel()); ++i) sum += a.value(i);
    (void)sum;
  } catch (const dpvae::Error&) {
  }
  return 0;
}
