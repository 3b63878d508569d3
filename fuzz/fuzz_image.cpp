// libFuzzer harness: dpvae::images' decoding of one image file (stb behind dpvae's checks:
// empty, truncated JPEG, size limits), then the centre crop and resize dpvae applies. Bad
// input must raise dpvae::Error and nothing else: no crash, leak or sanitizer report.
#include <dpvae/images/decode.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (std::size_t{1} << 20)) return 0;
  const std::vector<std::uint8_t> bytes(data, data + size);
  for (int channels : {3, 1}) {
    try {
      int h = 0, w = 0;
      const std::vector<std::uint8_t> px = dpvae::images::decode_image(bytes, "fuzz", channels, h, w);
      if (px.size() != static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(channels))
        __builtin_trap();
      if (static_cast<std::int64_t>(h) * w > 4096 * 4096) continue;  // keep the resize cheap
      const dpvae::Index side = std::min(h, w);
      const std::vector<std::uint8_t> sq = dpvae::images::centre_crop(px.data(), h, w, channels, side, side);
      const std::vector<std::uint8_t> small = dpvae::images::resize(sq.data(), side, side, channels, 8, 8);
      if (small.size() != static_cast<std::size_t>(64 * channels)) __builtin_trap();
    } catch (const dpvae::Error&) {
    }
  }
  return 0;
}
