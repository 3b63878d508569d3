// dpvae/eval/inception.hpp — the FID Inception-v3 network, forward only: the feature space of
// standard FID (Heusel et al. 2017) as pytorch-fid computes it (docs/math.md "Standard FID").
//
// TensorFlow's 2015-12-05 Inception graph as pytorch-fid ports it: torchvision's Inception3
// with its blocks changed where the TF graph differs — average pooling that does not count
// the padding in Mixed_5b–5d (A), Mixed_6b–6e (C) and Mixed_7b (E), max pooling in Mixed_7c's
// pool branch — and every BasicConv2d a convolution, batch norm (ε = 1e-3, folded into the
// convolution's weights and bias at load time) and ReLU. Images (rows are images, channels
// last, values in [0, 1], 1 or 3 channels) are resized to 299 × 299 as
// F.interpolate(mode='bilinear', align_corners=False), scaled to [−1, 1], and mapped to the
// 2048 outputs of the final global average pool ("pool3").
//
// Weights: a safetensors file written by scripts/convert-fid-inception.py from pytorch-fid's
// pt_inception-2015-12-05-6726825d.pth, holding for each of the 94 convolutions
// <name>.conv.weight and <name>.bn.{weight,bias,running_mean,running_var} under torchvision's
// names (470 tensors). Each image is one task on the oneTBB pool (its convolutions as im2col
// chunks and one GEMM each), so memory is bounded by the thread count, not the batch.
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/io/safetensors.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace dpvae {

/// Bilinear resampling of one image as PyTorch's F.interpolate(mode='bilinear',
/// align_corners=False, antialias=False): the source coordinate of output pixel i is
/// max(0, (i + ½)·in/out − ½), its two neighbours are floor and floor + 1 (clamped to the
/// last pixel), weighted by the fractional part. `in` is h × w × c (channels last), `out`
/// oh × ow × c. in/out is a float and the coordinate a double, as in PyTorch's CPU kernel
/// (the input equals F.interpolate's to 1e-6: benchmarks/fid_inception_reference.py).
inline void resize_bilinear(const float* in, Index h, Index w, Index c, float* out, Index oh, Index ow) {
  detail::require(h >= 1 && w >= 1 && c >= 1 && oh >= 1 && ow >= 1, "resize: sizes must be positive");
  const auto taps = [](Index in_size, Index out_size) {
    struct Tap {
      Index i0, i1;
      float l0, l1;
    };
    std::vector<Tap> t(static_cast<std::size_t>(out_size));
    // As PyTorch 1.13's CPU kernel: the scale in float, the coordinate in double from it,
    // the weights in float (measured against F.interpolate weight by weight).
    const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
    for (Index o = 0; o < out_size; ++o) {
      const double src = std::max(0.0, static_cast<double>(scale) * (static_cast<double>(o) + 0.5) - 0.5);
      const auto i0 = std::min(static_cast<Index>(src), in_size - 1);
      const Index i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
      const auto l1 = static_cast<float>(src - static_cast<double>(i0));
      t[static_cast<std::size_t>(o)] = {i0, i1, 1.0f - l1, l1};
    }
    return t;
  };
  const auto ty = taps(h, oh), tx = taps(w, ow);
  for (Index y = 0; y < oh; ++y) {
    const auto& a = ty[static_cast<std::size_t>(y)];
    for (Index x = 0; x < ow; ++x) {
      const auto& b = tx[static_cast<std::size_t>(x)];
      const float* p00 = in + (a.i0 * w + b.i0) * c;
      const float* p01 = in + (a.i0 * w + b.i1) * c;
      const float* p10 = in + (a.i1 * w + b.i0) * c;
      const float* p11 = in + (a.i1 * w + b.i1) * c;
      float* q = out + (y * ow + x) * c;
      for (Index k = 0; k < c; ++k)
        q[k] = a.l0 * (b.l0 * p00[k] + b.l1 * p01[k]) + a.l1 * (b.l0 * p10[k] + b.l1 * p11[k]);
    }
  }
}

/// A feature map of one image: h·w rows (pixels, row-major) × channels.
struct FeatureMap {
  Matrix<float> a;
  Index h = 0, w = 0;
};

namespace detail {

/// One BasicConv2d with its batch norm folded in: y = ReLU(conv(x; W') + b').
struct FoldedConv {
  Index cin = 0, cout = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  Matrix<float> weight;  // (kh·kw·cin) × cout, rows ordered (ky, kx, ci) as the patches
  Vector<float> bias;    // cout

  /// ReLU(conv(x) + b) for one image; im2col in chunks of output pixels, one GEMM each.
  FeatureMap forward(const FeatureMap& x) const {
    const Index oh = (x.h + 2 * ph - kh) / sh + 1, ow = (x.w + 2 * pw - kw) / sw + 1;
    FeatureMap y;
    y.h = oh;
    y.w = ow;
    y.a.resize(oh * ow, cout);
    if (kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0) {
      y.a.noalias() = x.a * weight;
    } else {
      const Index k = kh * kw * cin, pixels = oh * ow;
      const Index chunk = std::max<Index>(1, std::min<Index>(pixels, (Index(1) << 19) / k));  // ≤ 2 MB of patches
      Matrix<float> patches(chunk, k);
      for (Index p0 = 0; p0 < pixels; p0 += chunk) {
        const Index len = std::min(chunk, pixels - p0);
        for (Index r = 0; r < len; ++r) {
          const Index oy = (p0 + r) / ow, ox = (p0 + r) % ow;
          float* row = patches.data() + r * k;
          for (Index ky = 0; ky < kh; ++ky) {
            const Index iy = oy * sh - ph + ky;
            for (Index kx = 0; kx < kw; ++kx) {
              const Index ix = ox * sw - pw + kx;
              float* dst = row + (ky * kw + kx) * cin;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) {
                std::fill(dst, dst + cin, 0.0f);
              } else {
                const float* src = x.a.data() + (iy * x.w + ix) * cin;
                std::copy(src, src + cin, dst);
              }
            }
          }
        }
        y.a.middleRows(p0, len).noalias() = patches.topRows(len) * weight;
      }
    }
    y.a = (y.a.rowwise() + bias.transpose()).cwiseMax(0.0f);
    return y;
  }
};

/// 3 × 3 pooling, stride s, padding p: max (padding never wins) or average over the window's
/// pixels inside the image (count_include_pad=False).
inline FeatureMap pool3x3(const FeatureMap& x, Index s, Index p, bool max) {
  const Index oh = (x.h + 2 * p - 3) / s + 1, ow = (x.w + 2 * p - 3) / s + 1, c = x.a.cols();
  FeatureMap y;
  y.h = oh;
  y.w = ow;
  y.a.resize(oh * ow, c);
  for (Index oy = 0; oy < oh; ++oy)
    for (Index ox = 0; ox < ow; ++ox) {
      auto out = y.a.row(oy * ow + ox);
      out.setConstant(max ? -std::numeric_limits<float>::infinity() : 0.0f);
      Index count = 0;
      for (Index ky = 0; ky < 3; ++ky) {
        const Index iy = oy * s - p + ky;
        if (iy < 0 || iy >= x.h) continue;
        for (Index kx = 0; kx < 3; ++kx) {
          const Index ix = ox * s - p + kx;
          if (ix < 0 || ix >= x.w) continue;
          const auto in = x.a.row(iy * x.w + ix);
          if (max) out = out.cwiseMax(in);
          else out += in;
          ++count;
        }
      }
      if (!max) out /= static_cast<float>(count);
    }
  return y;
}

/// The branches' outputs side by side (channels concatenated in order).
inline FeatureMap concat(std::initializer_list<const FeatureMap*> parts) {
  FeatureMap y;
  y.h = (*parts.begin())->h;
  y.w = (*parts.begin())->w;
  Index c = 0;
  for (const FeatureMap* p : parts) c += p->a.cols();
  y.a.resize(y.h * y.w, c);
  Index at = 0;
  for (const FeatureMap* p : parts) {
    y.a.middleCols(at, p->a.cols()) = p->a;
    at += p->a.cols();
  }
  return y;
}

/// One BasicConv2d of the network: name, channels, kernel, stride and padding.
struct InceptionConvSpec {
  std::string name;
  Index cin, cout, kh, kw, stride, ph, pw;
};

/// Every convolution of the FID Inception, in order, as torchvision's Inception3 names and
/// shapes them.
inline std::vector<InceptionConvSpec> fid_inception_convs() {
  using Spec = InceptionConvSpec;
  std::vector<Spec> s{{"Conv2d_1a_3x3", 3, 32, 3, 3, 2, 0, 0},  {"Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0},
                      {"Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1}, {"Conv2d_3b_1x1", 64, 80, 1, 1, 1, 0, 0},
                      {"Conv2d_4a_3x3", 80, 192, 3, 3, 1, 0, 0}};
  const auto add = [&](const std::string& m, const std::string& b, Index cin, Index cout, Index kh, Index kw,
                       Index stride = 1) { s.push_back({m + "." + b, cin, cout, kh, kw, stride, kh / 2, kw / 2}); };
  const auto add_valid = [&](const std::string& m, const std::string& b, Index cin, Index cout, Index k, Index stride) {
    s.push_back({m + "." + b, cin, cout, k, k, stride, 0, 0});
  };
  const std::pair<const char*, Index> a_blocks[] = {{"Mixed_5b", 32}, {"Mixed_5c", 64}, {"Mixed_5d", 64}};
  Index cin = 192;
  for (const auto& [m, pool] : a_blocks) {
    add(m, "branch1x1", cin, 64, 1, 1);
    add(m, "branch5x5_1", cin, 48, 1, 1);
    add(m, "branch5x5_2", 48, 64, 5, 5);
    add(m, "branch3x3dbl_1", cin, 64, 1, 1);
    add(m, "branch3x3dbl_2", 64, 96, 3, 3);
    add(m, "branch3x3dbl_3", 96, 96, 3, 3);
    add(m, "branch_pool", cin, pool, 1, 1);
    cin = 64 + 64 + 96 + pool;
  }
  add_valid("Mixed_6a", "branch3x3", cin, 384, 3, 2);
  add("Mixed_6a", "branch3x3dbl_1", cin, 64, 1, 1);
  add("Mixed_6a", "branch3x3dbl_2", 64, 96, 3, 3);
  add_valid("Mixed_6a", "branch3x3dbl_3", 96, 96, 3, 2);
  cin = 384 + 96 + cin;  // 768
  const std::pair<const char*, Index> c_blocks[] = {{"Mixed_6b", 128}, {"Mixed_6c", 160}, {"Mixed_6d", 160}, {"Mixed_6e", 192}};
  for (const auto& [m, c7] : c_blocks) {
    add(m, "branch1x1", cin, 192, 1, 1);
    add(m, "branch7x7_1", cin, c7, 1, 1);
    add(m, "branch7x7_2", c7, c7, 1, 7);
    add(m, "branch7x7_3", c7, 192, 7, 1);
    add(m, "branch7x7dbl_1", cin, c7, 1, 1);
    add(m, "branch7x7dbl_2", c7, c7, 7, 1);
    add(m, "branch7x7dbl_3", c7, c7, 1, 7);
    add(m, "branch7x7dbl_4", c7, c7, 7, 1);
    add(m, "branch7x7dbl_5", c7, 192, 1, 7);
    add(m, "branch_pool", cin, 192, 1, 1);
  }
  add("Mixed_7a", "branch3x3_1", cin, 192, 1, 1);
  add_valid("Mixed_7a", "branch3x3_2", 192, 320, 3, 2);
  add("Mixed_7a", "branch7x7x3_1", cin, 192, 1, 1);
  add("Mixed_7a", "branch7x7x3_2", 192, 192, 1, 7);
  add("Mixed_7a", "branch7x7x3_3", 192, 192, 7, 1);
  add_valid("Mixed_7a", "branch7x7x3_4", 192, 192, 3, 2);
  cin = 320 + 192 + cin;  // 1280
  for (const char* m : {"Mixed_7b", "Mixed_7c"}) {
    add(m, "branch1x1", cin, 320, 1, 1);
    add(m, "branch3x3_1", cin, 384, 1, 1);
    add(m, "branch3x3_2a", 384, 384, 1, 3);
    add(m, "branch3x3_2b", 384, 384, 3, 1);
    add(m, "branch3x3dbl_1", cin, 448, 1, 1);
    add(m, "branch3x3dbl_2", 448, 384, 3, 3);
    add(m, "branch3x3dbl_3a", 384, 384, 1, 3);
    add(m, "branch3x3dbl_3b", 384, 384, 3, 1);
    add(m, "branch_pool", cin, 192, 1, 1);
    cin = 2048;
  }
  return s;
}

/// The 470 tensors a weight file holds (name, shape), in order: per convolution
/// conv.weight (cout × cin × kh × kw) and bn.weight, bn.bias, bn.running_mean, bn.running_var (cout).
inline std::vector<std::pair<std::string, std::vector<std::int64_t>>> fid_inception_layout() {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  for (const auto& s : fid_inception_convs()) {
    out.emplace_back(s.name + ".conv.weight", std::vector<std::int64_t>{s.cout, s.cin, s.kh, s.kw});
    for (const char* part : {".bn.weight", ".bn.bias", ".bn.running_mean", ".bn.running_var"})
      out.emplace_back(s.name + part, std::vector<std::int64_t>{s.cout});
  }
  return out;
}

}  // namespace detail

/// The FID Inception-v3 feature network (file comment). Copyable; forward is const and
/// thread-safe.
class FidInception {
 public:
  static constexpr Index kInputSize = 299;
  static constexpr Index kFeatures = 2048;
  static constexpr double kBatchNormEps = 1e-3;
  /// The name reports give this feature space.
  static constexpr const char* kFeatureSpace = "FID Inception-v3 (pytorch-fid's port of TF 2015-12-05), pool3, 2048-d";

  /// Loads and folds the weights. Throws dpvae::Error naming `path` and the first tensor that
  /// is missing, unexpected or mis-shaped (or any read error).
  explicit FidInception(const std::filesystem::path& path) : FidInception(io::load(path), path.string()) {}

  FidInception(const io::File& file, const std::string& path) {
    const auto specs = detail::fid_inception_convs();
    std::map<std::string, bool> expected;
    for (const auto& s : specs)
      for (const char* part : {".conv.weight", ".bn.weight", ".bn.bias", ".bn.running_mean", ".bn.running_var"})
        expected[s.name + part] = true;
    for (const auto& name : file.order)
      detail::require(expected.count(name) != 0,
                      path + ": unexpected tensor '" + name + "' (not one of the FID Inception's 470 tensors; "
                             "make the file with scripts/convert-fid-inception.py)");
    for (const auto& s : specs) {
      detail::FoldedConv c;
      c.cin = s.cin;
      c.cout = s.cout;
      c.kh = s.kh;
      c.kw = s.kw;
      c.sh = c.sw = s.stride;
      c.ph = s.ph;
      c.pw = s.pw;
      const auto get = [&](const std::string& part, std::vector<std::int64_t> shape) {
        const std::string name = s.name + part;
        const io::Tensor& t = file.at(name, path);
        if (t.shape != shape) {
          std::string want, got;
          for (auto v : shape) want += (want.empty() ? "" : "×") + std::to_string(v);
          for (auto v : t.shape) got += (got.empty() ? "" : "×") + std::to_string(v);
          detail::fail(path + ": tensor '" + name + "' is " + got + ", expected " + want);
        }
        std::vector<double> v(static_cast<std::size_t>(t.numel()));
        t.copy_to(v.data(), t.numel(), name);
        for (double x : v) detail::require(std::isfinite(x), path + ": tensor '" + name + "' holds a non-finite value");
        return v;
      };
      const auto w = get(".conv.weight", {s.cout, s.cin, s.kh, s.kw});
      const auto gamma = get(".bn.weight", {s.cout}), beta = get(".bn.bias", {s.cout});
      const auto mean = get(".bn.running_mean", {s.cout}), var = get(".bn.running_var", {s.cout});
      c.weight.resize(s.kh * s.kw * s.cin, s.cout);
      c.bias.resize(s.cout);
      for (Index o = 0; o < s.cout; ++o) {
        const auto oi = static_cast<std::size_t>(o);
        detail::require(var[oi] + kBatchNormEps > 0, path + ": tensor '" + s.name + ".bn.running_var' is negative");
        const double scale = gamma[oi] / std::sqrt(var[oi] + kBatchNormEps);
        c.bias(o) = static_cast<float>(beta[oi] - mean[oi] * scale);
        for (Index ci = 0; ci < s.cin; ++ci)
          for (Index ky = 0; ky < s.kh; ++ky)
            for (Index kx = 0; kx < s.kw; ++kx)
              c.weight((ky * s.kw + kx) * s.cin + ci, o) = static_cast<float>(
                  w[static_cast<std::size_t>(((o * s.cin + ci) * s.kh + ky) * s.kw + kx)] * scale);
      }
      convs_[s.name] = std::move(c);
    }
  }

  /// The network input for each image: resized to 299 × 299 (bilinear, as above), grey
  /// repeated to 3 channels, scaled to 2x − 1. images: n × (h·w·c), c ∈ {1, 3}, channels last;
  /// returns n × (299·299·3). Throws dpvae::Error for another channel count or a wrong width.
  static Matrix<float> preprocess(const Matrix<float>& images, Index h, Index w, Index c) {
    check_images(images, h, w, c);
    const Index s = kInputSize;
    Matrix<float> out(images.rows(), s * s * 3);
    tbb::parallel_for(Index(0), images.rows(), [&](Index i) { preprocess_one(images.row(i).data(), h, w, c, out.row(i).data()); });
    return out;
  }

  /// The 2048-d pool3 features of each image (n × 2048), in batches of `batch` images, each
  /// image one task on the oneTBB pool. `progress(done)` is called after each batch when given.
  /// Throws dpvae::Error for a bad shape (see preprocess).
  template <class Progress = std::nullptr_t>
  Matrix<float> features(const Matrix<float>& images, Index h, Index w, Index c, Index batch = 50,
                         Progress progress = nullptr) const {
    check_images(images, h, w, c);
    detail::require(batch >= 1, "FID Inception: the batch size must be positive");
    Matrix<float> out(images.rows(), kFeatures);
    for (Index b0 = 0; b0 < images.rows(); b0 += batch) {
      const Index len = std::min(batch, images.rows() - b0);
      tbb::parallel_for(Index(0), len, [&](Index r) {
        std::vector<float> input(static_cast<std::size_t>(kInputSize * kInputSize * 3));
        preprocess_one(images.row(b0 + r).data(), h, w, c, input.data());
        out.row(b0 + r) = forward(input.data());
      }, tbb::simple_partitioner{});
      if constexpr (!std::is_null_pointer_v<Progress>) progress(b0 + len);
    }
    return out;
  }

  /// The features of one preprocessed input (299·299·3 values, channels last, in [−1, 1]).
  Vector<float> forward(const float* input) const {
    FeatureMap x;
    x.h = x.w = kInputSize;
    x.a = Eigen::Map<const Matrix<float>>(input, kInputSize * kInputSize, 3);
    x = conv("Conv2d_1a_3x3", x);
    x = conv("Conv2d_2a_3x3", x);
    x = conv("Conv2d_2b_3x3", x);
    x = detail::pool3x3(x, 2, 0, true);
    x = conv("Conv2d_3b_1x1", x);
    x = conv("Conv2d_4a_3x3", x);
    x = detail::pool3x3(x, 2, 0, true);
    for (const char* m : {"Mixed_5b", "Mixed_5c", "Mixed_5d"}) x = block_a(m, x);
    x = block_b("Mixed_6a", x);
    for (const char* m : {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"}) x = block_c(m, x);
    x = block_d("Mixed_7a", x);
    x = block_e("Mixed_7b", x, false);
    x = block_e("Mixed_7c", x, true);
    return x.a.colwise().mean().transpose();
  }

 private:
  static void check_images(const Matrix<float>& images, Index h, Index w, Index c) {
    detail::require(c == 1 || c == 3, "FID Inception: images need 1 or 3 channels (got " + std::to_string(c) + ")");
    detail::require(h >= 1 && w >= 1 && images.cols() == h * w * c,
                    "FID Inception: the images have " + std::to_string(images.cols()) + " values each, " +
                        std::to_string(h) + " × " + std::to_string(w) + " × " + std::to_string(c) + " expected");
  }
  static void preprocess_one(const float* image, Index h, Index w, Index c, float* out) {
    const Index s = kInputSize;
    std::vector<float> resized(static_cast<std::size_t>(s * s * c));
    resize_bilinear(image, h, w, c, resized.data(), s, s);
    for (Index p = 0; p < s * s; ++p)
      for (Index k = 0; k < 3; ++k) out[p * 3 + k] = 2.0f * resized[static_cast<std::size_t>(p * c + (c == 1 ? 0 : k))] - 1.0f;
  }

  FeatureMap conv(const std::string& name, const FeatureMap& x) const { return convs_.at(name).forward(x); }
  FeatureMap conv(const std::string& block, const char* branch, const FeatureMap& x) const {
    return conv(block + "." + branch, x);
  }

  FeatureMap block_a(const std::string& m, const FeatureMap& x) const {
    const FeatureMap b1 = conv(m, "branch1x1", x);
    const FeatureMap b5 = conv(m, "branch5x5_2", conv(m, "branch5x5_1", x));
    const FeatureMap b3 = conv(m, "branch3x3dbl_3", conv(m, "branch3x3dbl_2", conv(m, "branch3x3dbl_1", x)));
    const FeatureMap bp = conv(m, "branch_pool", detail::pool3x3(x, 1, 1, false));
    return detail::concat({&b1, &b5, &b3, &bp});
  }
  FeatureMap block_b(const std::string& m, const FeatureMap& x) const {
    const FeatureMap b3 = conv(m, "branch3x3", x);
    const FeatureMap bd = conv(m, "branch3x3dbl_3", conv(m, "branch3x3dbl_2", conv(m, "branch3x3dbl_1", x)));
    const FeatureMap bp = detail::pool3x3(x, 2, 0, true);
    return detail::concat({&b3, &bd, &bp});
  }
  FeatureMap block_c(const std::string& m, const FeatureMap& x) const {
    const FeatureMap b1 = conv(m, "branch1x1", x);
    const FeatureMap b7 = conv(m, "branch7x7_3", conv(m, "branch7x7_2", conv(m, "branch7x7_1", x)));
    FeatureMap bd = conv(m, "branch7x7dbl_1", x);
    for (const char* b : {"branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"}) bd = conv(m, b, bd);
    const FeatureMap bp = conv(m, "branch_pool", detail::pool3x3(x, 1, 1, false));
    return detail::concat({&b1, &b7, &bd, &bp});
  }
  FeatureMap block_d(const std::string& m, const FeatureMap& x) const {
    const FeatureMap b3 = conv(m, "branch3x3_2", conv(m, "branch3x3_1", x));
    FeatureMap b7 = conv(m, "branch7x7x3_1", x);
    for (const char* b : {"branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"}) b7 = conv(m, b, b7);
    const FeatureMap bp = detail::pool3x3(x, 2, 0, true);
    return detail::concat({&b3, &b7, &bp});
  }
  /// E with the pool branch's average pooling (Mixed_7b) or max pooling (Mixed_7c).
  FeatureMap block_e(const std::string& m, const FeatureMap& x, bool max_pool) const {
    const FeatureMap b1 = conv(m, "branch1x1", x);
    const FeatureMap s3 = conv(m, "branch3x3_1", x);
    const FeatureMap s3a = conv(m, "branch3x3_2a", s3), s3b = conv(m, "branch3x3_2b", s3);
    const FeatureMap sd = conv(m, "branch3x3dbl_2", conv(m, "branch3x3dbl_1", x));
    const FeatureMap sda = conv(m, "branch3x3dbl_3a", sd), sdb = conv(m, "branch3x3dbl_3b", sd);
    const FeatureMap bp = conv(m, "branch_pool", detail::pool3x3(x, 1, 1, max_pool));
    return detail::concat({&b1, &s3a, &s3b, &sda, &sdb, &bp});
  }

  std::map<std::string, detail::FoldedConv> convs_;
};

}  // namespace dpvae
