// libFuzzer harness: the safetensors parser on arbitrary bytes, then every tensor copied
// out as float (the checkpoint reader's path). Bad input must raise dpvae::Error only.
#include <dpvae/io/safetensors.hpp>

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const dpvae::io::File f = dpvae::io::parse(std::vector<unsigned char>(data, data + size), "fuzz");
    for (const auto& [name, t] : f.tensors) {
      if (t.numel() < 0 || static_cast<std::size_t>(t.numel()) * dpvae::io::dtype_size(t.dtype) != t.bytes.size())
        __builtin_trap();  // the parser's promise: shape and bytes agree
      std::vector<float> out(static_cast<std::size_t>(t.numel()));
      try {
        t.copy_to(out.data(), t.numel(), name);
      } catch (const dpvae::Error&) {
      }
    }
    // A parsed file serialises and parses back to the same tensors.
    const dpvae::io::File g = dpvae::io::parse(dpvae::io::serialize(f), "fuzz (round trip)");
    if (g.tensors.size() != f.tensors.size() || g.metadata != f.metadata) __builtin_trap();
  } catch (const dpvae::Error&) {
  }
  return 0;
}
