// libFuzzer harness: the decoded-set cache reader (dpvae/images/cache.hpp) on arbitrary bytes
// written to a temporary file. The fingerprint passed is the one the bytes carry at offset
// 16 (when they are long enough), so that the fuzzer reaches the arrays past the check. The
// reader must never throw or crash; an accepted file must hold arrays whose pixel and label
// counts match their declared shapes.
#include <dpvae/images/cache.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/dpvae_fuzz_cache_" + std::to_string(::getpid()) + ".bin";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  std::uint64_t fingerprint = 0;
  if (size >= 24) std::memcpy(&fingerprint, data + 16, sizeof fingerprint);
  std::string why;
  const auto c = dpvae::images::read_cache(path, fingerprint, &why);
  if (c) {
    for (const auto& a : c->arrays) {
      if (a.pixels.size() != static_cast<std::size_t>(a.count * a.dim())) __builtin_trap();
      if (!a.labels.empty() && a.labels.size() != static_cast<std::size_t>(a.count)) __builtin_trap();
      for (int l : a.labels)
        if (l < 0) __builtin_trap();
    }
  } else if (why.empty()) {
    __builtin_trap();
  }
  return 0;
}
