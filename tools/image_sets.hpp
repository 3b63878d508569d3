// tools/image_sets.hpp — the image sets `dpvae fid` reads, whatever holds them: a folder of
// image files (decoded with stb, Debian's libstb), a NumPy .npy array, an IDX file, or a
// trained run (its samples, drawn from its prior). Each is read in chunks, so that the
// memory of a large set stays bounded by the chunk, and every pixel comes out in [0, 1],
// channels last. docs/math.md "Standard FID" says how each is mapped.
#pragma once

#include <dpvae/core.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dpvae::cli {

/// Images of one size: n × (h·w·c) in [0, 1], channels last; `rows` are their indices in the set.
struct ImageGroup {
  std::vector<Index> rows;
  Matrix<float> x;
  Index h = 0, w = 0, c = 0;
};

/// An image set read chunk by chunk: `read(begin, end)` returns images [begin, end) grouped
/// by size (a folder may mix sizes; every other source has one group).
struct ImageSource {
  Index count = 0;
  std::string what;  ///< e.g. "folder D: 300 image files", ".npy 1000 × 28 × 28 uint8"
  std::function<std::vector<ImageGroup>(Index begin, Index end)> read;
};

/// Options of the sources that need them.
struct ImageSourceOptions {
  Index run_samples = 10000;  ///< samples drawn from a run's prior
  std::uint64_t seed = 1;     ///< their seed
};

/// The image files of a folder as pytorch-fid lists them: the files directly in it (not its
/// sub-folders) whose extension, in any case, is png, jpg, jpeg, bmp, pgm or ppm, sorted by
/// name. Throws dpvae::Error naming the folder when it cannot be read or holds none, and the
/// first file stb cannot decode (tif, tiff and webp, which pytorch-fid also lists, included).
std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& dir);

/// One image file decoded as RGB bytes (h × w × 3, channels last; grey and palette images
/// expanded, alpha dropped, 16-bit samples scaled to 8 bits: PIL's convert('RGB'), which
/// pytorch-fid applies). Throws dpvae::Error naming the file and stb's reason.
std::vector<unsigned char> decode_rgb(const std::filesystem::path& file, int& h, int& w);

/// The image set at `path`: a run folder (holding config.json: o.run_samples images decoded
/// from prior draws, clamped to [0, 1]), a folder of image files (every file's header is
/// checked before any is decoded), an .npy array (N × H × W or N × H × W × C with C = 1 or 3;
/// uint8 scaled by 1/255, or float32/float64 in [0, 1]), or an IDX image file (bytes / 255).
/// Throws dpvae::Error naming the path and what is wrong.
ImageSource open_image_source(const std::string& path, const ImageSourceOptions& o);

}  // namespace dpvae::cli
