// dpvae/data/image_array.hpp — image sets held as bytes, the way every image data set of
// dpvae lives in memory (docs/data.md "Images in memory").
//
// An ImageArray is `count` images of height × width × channels bytes, one image per row,
// channels last (NHWC, the layout of every decoder and network of dpvae), with optional class
// labels. A set stays uint8 (CelebA at 64 × 64: 2.5 GB, against 10 GB as float) and becomes
// float x = byte / 255 in [0, 1] one minibatch at a time (to_float, gather). NumPy arrays
// (.npy) become ImageArrays through images_from_npy.
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/data/npy.hpp"
#include "dpvae/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dpvae::data {

struct ImageArray {
  Index count = 0, height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  ///< count × (height·width·channels) bytes, row-major, channels last
  std::vector<int> labels;           ///< empty, or one class label (>= 0) per image

  /// Bytes per image, height·width·channels.
  Index dim() const { return height * width * channels; }
  /// The first byte of image i (0 <= i < count).
  const std::uint8_t* image(Index i) const { return pixels.data() + static_cast<std::size_t>(i * dim()); }
  std::uint8_t* image(Index i) { return pixels.data() + static_cast<std::size_t>(i * dim()); }

  /// Images [begin, end) as floats byte/255 in [0, 1]: (end − begin) × dim(). Throws
  /// dpvae::Error for a range outside [0, count].
  Matrix<float> to_float(Index begin, Index end) const {
    dpvae::detail::require(begin >= 0 && begin <= end && end <= count, "ImageArray::to_float: rows out of range");
    Matrix<float> x(end - begin, dim());
    const std::uint8_t* p = image(begin);
    float* t = x.data();  // row-major, as the bytes
    const std::size_t n = static_cast<std::size_t>(x.size());
    for (std::size_t k = 0; k < n; ++k) t[k] = static_cast<float>(p[k]) / 255.0f;
    return x;
  }
  /// The images at `rows`, in that order, as floats byte/255 (rows.size() × dim()).
  Matrix<float> gather(const std::vector<Index>& rows) const {
    Matrix<float> x(static_cast<Index>(rows.size()), dim());
    for (std::size_t r = 0; r < rows.size(); ++r) {
      dpvae::detail::require(rows[r] >= 0 && rows[r] < count, "ImageArray::gather: row out of range");
      const std::uint8_t* p = image(rows[r]);
      float* t = x.data() + static_cast<Index>(r) * dim();
      for (Index k = 0; k < dim(); ++k) t[k] = static_cast<float>(p[k]) / 255.0f;
    }
    return x;
  }
  /// The images at `rows` (and their labels), as a new ImageArray.
  ImageArray subset(const std::vector<Index>& rows) const {
    ImageArray s;
    s.height = height, s.width = width, s.channels = channels;
    s.count = static_cast<Index>(rows.size());
    s.pixels.resize(static_cast<std::size_t>(s.count * dim()));
    for (std::size_t r = 0; r < rows.size(); ++r) {
      dpvae::detail::require(rows[r] >= 0 && rows[r] < count, "ImageArray::subset: row out of range");
      std::copy_n(image(rows[r]), dim(), s.image(static_cast<Index>(r)));
      if (!labels.empty()) s.labels.push_back(labels[static_cast<std::size_t>(rows[r])]);
    }
    return s;
  }
  /// Throws dpvae::Error naming `what` unless the sizes, the byte count and the labels agree.
  void validate(const std::string& what) const {
    dpvae::detail::require(count >= 0 && height >= 1 && width >= 1 && channels >= 1,
                    what + ": an image set needs images of at least 1 × 1 pixels and 1 channel");
    dpvae::detail::require(pixels.size() == static_cast<std::size_t>(count * dim()), what + ": the pixel count does not match the shape");
    dpvae::detail::require(labels.empty() || labels.size() == static_cast<std::size_t>(count),
                    what + ": " + std::to_string(labels.size()) + " labels for " + std::to_string(count) + " images");
    for (int l : labels) dpvae::detail::require(l >= 0, what + ": class labels must be >= 0 (got " + std::to_string(l) + ")");
  }
};

/// A split into a training and a held-out part: the last round(fraction · count) images of a
/// permutation drawn from `seed` (dpvae::Rng) form the held-out part, the rest (in that
/// permutation's order) the training part. Deterministic in (count, fraction, seed). The rows
/// are permuted in place and only the held-out part is copied, so that the split needs the
/// set's memory plus the held-out part's. Throws dpvae::Error unless 0 < fraction < 1 and both
/// parts hold at least 2 images.
inline std::pair<ImageArray, ImageArray> split_held_out(ImageArray all, double fraction, std::uint64_t seed) {
  dpvae::detail::require(std::isfinite(fraction) && fraction > 0 && fraction < 1,
                         "the held-out fraction must be in (0, 1) (got " + std::to_string(fraction) + ")");
  const Index held = static_cast<Index>(std::llround(fraction * static_cast<double>(all.count)));
  dpvae::detail::require(held >= 2 && all.count - held >= 2,
                         "a held-out fraction of " + std::to_string(fraction) + " of " + std::to_string(all.count) +
                             " images leaves fewer than 2 images on one side");
  Rng rng(seed);
  const std::vector<Index> order = rng.permutation(all.count);
  // Row i becomes old row order[i]: follow each cycle of the permutation with one spare row.
  const Index d = all.dim();
  std::vector<std::uint8_t> spare(static_cast<std::size_t>(d));
  std::vector<bool> done(static_cast<std::size_t>(all.count), false);
  for (Index i = 0; i < all.count; ++i) {
    if (done[static_cast<std::size_t>(i)]) continue;
    std::copy_n(all.image(i), d, spare.data());
    const int spare_label = all.labels.empty() ? 0 : all.labels[static_cast<std::size_t>(i)];
    Index j = i;
    for (Index k = order[static_cast<std::size_t>(j)]; k != i; j = k, k = order[static_cast<std::size_t>(j)]) {
      std::copy_n(all.image(k), d, all.image(j));
      if (!all.labels.empty()) all.labels[static_cast<std::size_t>(j)] = all.labels[static_cast<std::size_t>(k)];
      done[static_cast<std::size_t>(j)] = true;
    }
    std::copy_n(spare.data(), d, all.image(j));
    if (!all.labels.empty()) all.labels[static_cast<std::size_t>(j)] = spare_label;
    done[static_cast<std::size_t>(j)] = true;
  }
  std::vector<Index> tail(static_cast<std::size_t>(held));
  for (Index i = 0; i < held; ++i) tail[static_cast<std::size_t>(i)] = all.count - held + i;
  ImageArray test = all.subset(tail);
  all.count -= held;
  all.pixels.resize(static_cast<std::size_t>(all.count * d));
  if (!all.labels.empty()) all.labels.resize(static_cast<std::size_t>(all.count));
  return {std::move(all), std::move(test)};
}

/// The channel count of an .npy image array, after checking it is one: shape N × H × W (grey,
/// 1) or N × H × W × C (C = 1 or 3, channels last), dtype uint8, float32 or float64. Throws
/// dpvae::Error naming `path` for another dtype or rank, channels first (N × C × H × W, with
/// the transpose to use), C not 1 or 3, or an empty array.
inline Index npy_image_channels(const NpyArray& a, const std::string& path) {
  const auto& sh = a.shape;
  dpvae::detail::require(sh.size() == 3 || sh.size() == 4, path + ": an .npy image set must be N × H × W or N × H × W × C (got " +
                                                               std::to_string(sh.size()) + " dimensions)");
  const Index c = sh.size() == 4 ? sh[3] : 1;
  if (sh.size() == 4 && c != 1 && c != 3 && (sh[1] == 1 || sh[1] == 3))
    dpvae::detail::fail(path + ": shape " + std::to_string(sh[0]) + " × " + std::to_string(sh[1]) + " × " + std::to_string(sh[2]) +
                        " × " + std::to_string(sh[3]) + " looks channels-first; save it as N × H × W × C (a.transpose(0, 2, 3, 1))");
  dpvae::detail::require(c == 1 || c == 3, path + ": an .npy image set needs 1 or 3 channels (got " + std::to_string(c) + ")");
  dpvae::detail::require(sh[0] >= 1 && sh[1] >= 1 && sh[2] >= 1, path + ": an .npy image set needs at least 1 image of at least 1 × 1 pixels");
  dpvae::detail::require(a.dtype == "uint8" || a.is_float(),
                         path + ": an .npy image set must be uint8 (0-255) or float32/float64 in [0, 1] (got " + a.dtype + ")");
  return c;
}

/// An .npy image array as an ImageArray (checked as npy_image_channels does): uint8 taken as
/// is, float32/float64 in [0, 1] mapped to round(255·x) (every value checked). Throws
/// dpvae::Error naming `path` as npy_image_channels does, or for a float outside [0, 1].
inline ImageArray images_from_npy(const NpyArray& a, const std::string& path) {
  const auto& sh = a.shape;
  const Index c = npy_image_channels(a, path);
  ImageArray out;
  out.count = sh[0], out.height = sh[1], out.width = sh[2], out.channels = c;
  const std::size_t n = static_cast<std::size_t>(a.numel());
  out.pixels.resize(n);
  if (a.dtype == "uint8") {
    std::copy(a.bytes.begin(), a.bytes.end(), out.pixels.begin());
    return out;
  }
  std::vector<double> chunk(std::size_t{1} << 16);
  for (std::size_t begin = 0; begin < n; begin += chunk.size()) {
    const std::size_t m = std::min(chunk.size(), n - begin);
    a.convert(begin, m, chunk.data());
    for (std::size_t k = 0; k < m; ++k) {
      const double v = chunk[k];
      if (!(v >= 0.0 && v <= 1.0))
        dpvae::detail::fail(path + ": " + a.dtype + " images must hold values in [0, 1] (element " + std::to_string(begin + k) +
                     " is " + std::to_string(v) + ")");
      out.pixels[begin + k] = static_cast<std::uint8_t>(std::lround(255.0 * v));
    }
  }
  return out;
}

/// Class labels from an .npy vector (shape (N,) or (N, 1)) of integers >= 0, or of floats that
/// are whole numbers >= 0. Throws dpvae::Error naming `path` for another shape, a negative or
/// fractional value, or a count other than `count`.
inline std::vector<int> labels_from_npy(const NpyArray& a, Index count, const std::string& path) {
  const bool column = a.shape.size() == 2 && a.shape[1] == 1;
  dpvae::detail::require(a.shape.size() == 1 || column, path + ": labels must be an .npy vector of shape (N,) or (N, 1)");
  dpvae::detail::require(a.shape[0] == count, path + ": " + std::to_string(a.shape[0]) + " labels for " + std::to_string(count) + " images");
  std::vector<double> v(static_cast<std::size_t>(count));
  a.convert(0, v.size(), v.data());
  std::vector<int> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!(v[i] >= 0 && v[i] <= 1e6 && std::floor(v[i]) == v[i]))
      dpvae::detail::fail(path + ": label " + std::to_string(i) + " is " + std::to_string(v[i]) + " (labels are whole numbers in [0, 10^6])");
    out[i] = static_cast<int>(v[i]);
  }
  return out;
}

}  // namespace dpvae::data
