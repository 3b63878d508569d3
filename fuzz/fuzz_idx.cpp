// libFuzzer harness: the IDX reader (plain and gzip) on arbitrary bytes. Bad input must
// raise dpvae::Error and nothing else: no crash, leak or sanitizer report.
#include <dpvae/data/idx.hpp>

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const dpvae::data::IdxArray a = dpvae::data::parse_idx(std::vector<std::uint8_t>(data, data + size), "fuzz");
    // The reader's promise: prod(shape) == data.size(), every size positive.
    std::uint64_t n = 1;
    for (auto s : a.shape) {
      if (s <= 0) __builtin_trap();
      n *= static_cast<std::uint64_t>(s);
    }
    if (n != a.data.size()) __builtin_trap();
  } catch (const dpvae::Error&) {
  }
  return 0;
}
