// libFuzzer harness: CelebA's list_eval_partition.txt parser on arbitrary bytes (written to a
// temporary file, as the parser reads files). Bad input must raise dpvae::Error and nothing
// else; a parsed file must hold one split in {0, 1, 2} per distinct name.
#include <dpvae/images/datasets.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/dpvae_fuzz_partition_" + std::to_string(::getpid()) + ".txt";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const auto p = dpvae::images::read_celeba_partition(path);
    if (p.names.size() != p.split.size() || p.names.empty()) __builtin_trap();
    if (std::set<std::string>(p.names.begin(), p.names.end()).size() != p.names.size()) __builtin_trap();
    for (int s : p.split)
      if (s < 0 || s > 2) __builtin_trap();
  } catch (const dpvae::Error&) {
  }
  return 0;
}
