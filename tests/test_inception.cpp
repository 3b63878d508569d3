// The FID Inception's parts against independent computations: the bilinear resize against
// PyTorch's align_corners=False formula in double, a folded convolution (asymmetric kernels,
// strides, padding, batch norm) against a direct loop, both poolings against brute force; the
// whole network's loader refuses missing, unexpected and mis-shaped tensors by name, and its
// features do not depend on the batch or the thread count. (Agreement with PyTorch's network:
// benchmarks/fid_inception_reference.py, which needs PyTorch.)
#include "gradcheck.hpp"
#include "inception_weights.hpp"

#include <dpvae/eval/inception.hpp>

#include <doctest/doctest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <functional>
#include <numeric>

using namespace dpvae;
using dpvae::test::normal_matrix;
using dpvae::test::random_inception;

namespace {

/// PyTorch's upsample_bilinear2d (align_corners=False) source coordinate of output pixel o,
/// as PyTorch 1.13's CPU kernel computes it for float images (measured weight by weight):
/// the scale in/out is a float, the coordinate a double; the interpolation below is in double.
void source(Index in, Index out, Index o, Index& i0, Index& i1, double& l1) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const double src = std::max(0.0, static_cast<double>(scale) * (static_cast<double>(o) + 0.5) - 0.5);
  i0 = std::min(static_cast<Index>(std::floor(src)), in - 1);
  i1 = std::min(i0 + 1, in - 1);
  l1 = src - static_cast<double>(i0);
}

}  // namespace

TEST_CASE("bilinear resize equals PyTorch's align_corners=False formula (up, down, identity, grey and colour)") {
  // Agreement with F.interpolate itself: benchmarks/fid_inception_reference.py.
  Rng rng(4);
  const struct { Index h, w, c, oh, ow; } cases[] = {{28, 28, 1, 299, 299}, {32, 32, 3, 299, 299}, {300, 250, 3, 299, 299},
                                                     {7, 5, 2, 7, 5},       {64, 48, 3, 17, 31}};
  for (const auto& t : cases) {
    CAPTURE(t.h);
    CAPTURE(t.w);
    std::vector<float> in(static_cast<std::size_t>(t.h * t.w * t.c));
    for (float& x : in) x = static_cast<float>(rng.uniform());
    std::vector<float> out(static_cast<std::size_t>(t.oh * t.ow * t.c));
    resize_bilinear(in.data(), t.h, t.w, t.c, out.data(), t.oh, t.ow);
    double worst = 0;
    for (Index y = 0; y < t.oh; ++y)
      for (Index x = 0; x < t.ow; ++x)
        for (Index k = 0; k < t.c; ++k) {
          Index y0, y1, x0, x1;
          double ly, lx;
          source(t.h, t.oh, y, y0, y1, ly);
          source(t.w, t.ow, x, x0, x1, lx);
          const auto at = [&](Index yy, Index xx) { return static_cast<double>(in[static_cast<std::size_t>((yy * t.w + xx) * t.c + k)]); };
          const double want = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
          worst = std::max(worst, std::abs(want - static_cast<double>(out[static_cast<std::size_t>((y * t.ow + x) * t.c + k)])));
        }
    CHECK(worst < 1e-6);
    if (t.h == t.oh && t.w == t.ow)  // same size: the identity, exactly
      CHECK(std::equal(in.begin(), in.end(), out.begin()));
  }
}

TEST_CASE("a folded conv (asymmetric kernels, strides, padding, batch norm) equals a direct loop with BN") {
  Rng rng(5);
  const struct { Index cin, cout, kh, kw, s, ph, pw, h, w; } cases[] = {
      {3, 4, 3, 3, 2, 0, 0, 11, 9}, {5, 3, 1, 7, 1, 0, 3, 8, 10}, {5, 3, 7, 1, 1, 3, 0, 10, 8},
      {4, 6, 1, 1, 1, 0, 0, 6, 7},  {2, 5, 5, 5, 1, 2, 2, 9, 9},  {3, 2, 3, 3, 2, 1, 1, 8, 8}};
  for (const auto& t : cases) {
    CAPTURE(t.kh);
    CAPTURE(t.kw);
    const Matrix<double> w = normal_matrix(t.cout, t.cin * t.kh * t.kw, rng);  // [co][ci][ky][kx]
    const Matrix<double> bn = normal_matrix(4, t.cout, rng);
    detail::FoldedConv c;
    c.cin = t.cin, c.cout = t.cout, c.kh = t.kh, c.kw = t.kw, c.sh = c.sw = t.s, c.ph = t.ph, c.pw = t.pw;
    c.weight.resize(t.kh * t.kw * t.cin, t.cout);
    c.bias.resize(t.cout);
    Vector<double> scale(t.cout), shift(t.cout);
    for (Index o = 0; o < t.cout; ++o) {
      const double gamma = 1 + 0.3 * bn(0, o), beta = bn(1, o), mean = 0.2 * bn(2, o), var = 1 + 0.5 * std::abs(bn(3, o));
      scale(o) = gamma / std::sqrt(var + 1e-3);
      shift(o) = beta - mean * scale(o);
      c.bias(o) = static_cast<float>(shift(o));
      for (Index ci = 0; ci < t.cin; ++ci)
        for (Index ky = 0; ky < t.kh; ++ky)
          for (Index kx = 0; kx < t.kw; ++kx)
            c.weight((ky * t.kw + kx) * t.cin + ci, o) = static_cast<float>(w(o, (ci * t.kh + ky) * t.kw + kx) * scale(o));
    }
    FeatureMap x;
    x.h = t.h, x.w = t.w;
    x.a = normal_matrix(t.h * t.w, t.cin, rng).cast<float>();
    const FeatureMap y = c.forward(x);
    const Index oh = (t.h + 2 * t.ph - t.kh) / t.s + 1, ow = (t.w + 2 * t.pw - t.kw) / t.s + 1;
    REQUIRE(y.h == oh);
    REQUIRE(y.w == ow);
    double worst = 0;
    for (Index oy = 0; oy < oh; ++oy)
      for (Index ox = 0; ox < ow; ++ox)
        for (Index o = 0; o < t.cout; ++o) {
          double acc = 0;
          for (Index ci = 0; ci < t.cin; ++ci)
            for (Index ky = 0; ky < t.kh; ++ky)
              for (Index kx = 0; kx < t.kw; ++kx) {
                const Index iy = oy * t.s - t.ph + ky, ix = ox * t.s - t.pw + kx;
                if (iy >= 0 && iy < t.h && ix >= 0 && ix < t.w)
                  acc += w(o, (ci * t.kh + ky) * t.kw + kx) * static_cast<double>(x.a(iy * t.w + ix, ci));
              }
          const double want = std::max(0.0, acc * scale(o) + shift(o));  // BN(conv) then ReLU
          worst = std::max(worst, std::abs(want - static_cast<double>(y.a(oy * ow + ox, o))));
        }
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("3 × 3 pooling: max ignores padding, average divides by the pixels inside (count_include_pad=False)") {
  Rng rng(6);
  FeatureMap x;
  x.h = 7, x.w = 6;
  x.a = normal_matrix(42, 3, rng).cast<float>();
  for (const auto& [s, p, max] : {std::tuple{2, 0, true}, std::tuple{1, 1, true}, std::tuple{1, 1, false}}) {
    const FeatureMap y = detail::pool3x3(x, s, p, max);
    CHECK(y.h == (7 + 2 * p - 3) / s + 1);
    for (Index oy = 0; oy < y.h; ++oy)
      for (Index ox = 0; ox < y.w; ++ox)
        for (Index k = 0; k < 3; ++k) {
          double best = -1e300, sum = 0;
          int n = 0;
          for (Index iy = oy * s - p; iy < oy * s - p + 3; ++iy)
            for (Index ix = ox * s - p; ix < ox * s - p + 3; ++ix)
              if (iy >= 0 && iy < 7 && ix >= 0 && ix < 6) {
                const double v = x.a(iy * 6 + ix, k);
                best = std::max(best, v);
                sum += v;
                ++n;
              }
          const double want = max ? best : sum / n;
          CHECK(static_cast<double>(y.a(oy * y.w + ox, k)) == doctest::Approx(want).epsilon(1e-6));
        }
  }
}

TEST_CASE("the FID Inception loads 470 tensors, refuses a wrong file by name, and is batch- and thread-invariant") {
  Rng rng(7);
  io::File f = random_inception(rng);
  CHECK(f.tensors.size() == 470);
  const FidInception net(f, "w.safetensors");

  io::File missing = f;
  missing.tensors.erase("Mixed_6c.branch7x7_2.bn.running_var");
  missing.order.erase(std::find(missing.order.begin(), missing.order.end(), "Mixed_6c.branch7x7_2.bn.running_var"));
  CHECK_THROWS_WITH_AS(FidInception(missing, "w.safetensors"),
                       "w.safetensors: tensor 'Mixed_6c.branch7x7_2.bn.running_var' is missing", Error);
  io::File extra = f;
  const float one = 1;
  extra.add("fc.weight", io::Tensor::from(&one, {1}));
  CHECK_THROWS_WITH_AS(FidInception(extra, "w.safetensors"), doctest::Contains("unexpected tensor 'fc.weight'"), Error);
  io::File wrong = f;
  std::vector<float> v(64 * 48 * 7 * 1, 0.f);  // a 5 × 5 kernel's slot holding a 7 × 1 one
  wrong.tensors["Mixed_5b.branch5x5_2.conv.weight"] = io::Tensor::from(v.data(), {64, 48, 7, 1});
  CHECK_THROWS_WITH_AS(FidInception(wrong, "w.safetensors"),
                       "w.safetensors: tensor 'Mixed_5b.branch5x5_2.conv.weight' is 64×48×7×1, expected 64×48×5×5", Error);

  // Features: finite, not collapsed, and the same for any batch size and thread count.
  Matrix<float> images(3, 32 * 32 * 3);
  for (Index i = 0; i < images.size(); ++i) images.data()[i] = static_cast<float>(rng.uniform());
  const Matrix<float> all = net.features(images, 32, 32, 3, 3);
  CHECK(all.rows() == 3);
  CHECK(all.cols() == 2048);
  CHECK(all.allFinite());
  CHECK(all.minCoeff() >= 0.0f);  // the mean of ReLU outputs
  CHECK(all.maxCoeff() > 0.0f);
  CHECK((all.row(0) - all.row(1)).norm() > 1e-3 * all.row(0).norm());
  CHECK(net.features(images, 32, 32, 3, 1) == all);
  {
    tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
    CHECK(net.features(images, 32, 32, 3, 2) == all);
  }
  // A grey image is its colour copy with three equal channels.
  Matrix<float> grey(1, 32 * 32), colour(1, 32 * 32 * 3);
  for (Index p = 0; p < 32 * 32; ++p) grey(0, p) = colour(0, 3 * p) = colour(0, 3 * p + 1) = colour(0, 3 * p + 2) = images(0, 3 * p);
  CHECK(net.features(grey, 32, 32, 1) == net.features(colour, 32, 32, 3));
  CHECK_THROWS_WITH_AS(net.features(images, 32, 32, 2), doctest::Contains("1 or 3 channels"), Error);
  CHECK_THROWS_WITH_AS(net.features(images, 31, 32, 3), doctest::Contains("values each"), Error);
}
