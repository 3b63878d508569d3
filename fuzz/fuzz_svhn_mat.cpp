// libFuzzer harness: the SVHN reader (dpvae::images::read_svhn_mat, libmatio behind dpvae's
// checks of X and y) on arbitrary MATLAB v5 files, written to a temporary file (matio reads
// files). v7.3 files (HDF5 inside) are left out: that parser is the HDF5 library's, not ours.
// Bad input must raise dpvae::Error and nothing else; a file read must hold 32 × 32 × 3 images
// with one label in 0..9 each.
#include <dpvae/images/datasets.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // MATLAB's 128-byte header ends in the version (0x0100 v5, 0x0200 v7.3) and the endian mark.
  if (size >= 128 && ((data[124] == 0x00 && data[125] == 0x02) || (data[124] == 0x02 && data[125] == 0x00))) return 0;
  if (size > (std::size_t{1} << 20)) return 0;
  static const std::string path = "/tmp/dpvae_fuzz_svhn_" + std::to_string(::getpid()) + ".mat";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const dpvae::data::ImageArray a = dpvae::images::read_svhn_mat(path);
    if (a.height != 32 || a.width != 32 || a.channels != 3 || a.labels.size() != static_cast<std::size_t>(a.count)) __builtin_trap();
    for (int l : a.labels)
      if (l < 0 || l > 9) __builtin_trap();
  } catch (const dpvae::Error&) {
  }
  return 0;
}
