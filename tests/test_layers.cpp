// Every layer's backward pass against central differences (double), with the contract's
// sentinels, and the forward passes against direct formulas.
#include "gradcheck.hpp"

#include <dpvae/nn/network.hpp>

#include <tbb/global_control.h>

#include <tuple>

#include <doctest/doctest.h>

using namespace dpvae;
using dpvae::test::check_gradients;
using dpvae::test::normal_matrix;

namespace {

/// L = Σ W ⊙ layer(x) for a fixed random W; checks ∂L/∂θ and ∂L/∂x.
template <class L>
test::GradCheck check_layer(const L& layer, Index batch, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<double> params(static_cast<std::size_t>(layer.num_parameters()));
  for (auto& p : params) p = 0.5 * rng.normal();  // non-trivial parameters
  Matrix<double> x = normal_matrix(batch, layer.input_size(), rng);
  Matrix<double> y, scratch;
  layer.forward(params.data(), x, y, scratch);
  const Matrix<double> w = normal_matrix(y.rows(), y.cols(), rng);
  auto loss = [&]() {
    Matrix<double> yy, s;
    layer.forward(params.data(), x, yy, s);
    return (yy.array() * w.array()).sum();
  };
  auto backward = [&](std::span<double> dp, std::span<double> dx) {
    Matrix<double> yy, s;
    layer.forward(params.data(), x, yy, s);
    Matrix<double> dxm = Matrix<double>::Constant(x.rows(), x.cols(), 1e30);
    layer.backward(params.data(), dp.data(), x, yy, w, &dxm, s);
    std::copy(dxm.data(), dxm.data() + dxm.size(), dx.begin());
  };
  return check_gradients(params, std::span<double>(x.data(), static_cast<std::size_t>(x.size())), loss, backward);
}

}  // namespace

TEST_CASE("Linear: backward matches central differences") {
  const auto r = check_layer(Linear<double>(7, 5), 4, 1);
  INFO(r.worst);
  CHECK(r.max_error < 1e-6);
}

TEST_CASE("activations: backward matches central differences") {
  for (auto a : {Activation::relu, Activation::leaky_relu, Activation::tanh, Activation::sigmoid}) {
    const auto r = check_layer(Act<double>(a, 9, 0.2), 3, 2);
    INFO(static_cast<int>(a) << ": " << r.worst);
    CHECK(r.max_error < 1e-6);
  }
}

TEST_CASE("Conv2d: backward matches central differences, strided and padded") {
  SUBCASE("k4 s2 p1") {
    const auto r = check_layer(Conv2d<double>(6, 8, 2, 3, 4, 2, 1), 2, 3);
    INFO(r.worst);
    CHECK(r.max_error < 1e-6);
  }
  SUBCASE("k3 s1 p0") {
    const auto r = check_layer(Conv2d<double>(5, 5, 3, 2, 3, 1, 0), 3, 4);
    INFO(r.worst);
    CHECK(r.max_error < 1e-6);
  }
}

TEST_CASE("ConvTranspose2d: backward matches central differences") {
  SUBCASE("k4 s2 p1") {
    const auto r = check_layer(ConvTranspose2d<double>(3, 4, 2, 3, 4, 2, 1), 2, 5);
    INFO(r.worst);
    CHECK(r.max_error < 1e-6);
  }
  SUBCASE("k3 s1 p0") {
    const auto r = check_layer(ConvTranspose2d<double>(4, 3, 3, 2, 3, 1, 0), 2, 6);
    INFO(r.worst);
    CHECK(r.max_error < 1e-6);
  }
}

TEST_CASE("Conv2d forward equals the direct convolution sum") {
  Rng rng(7);
  const Conv2d<double> conv(5, 6, 2, 3, 3, 2, 1);
  std::vector<double> p(static_cast<std::size_t>(conv.num_parameters()));
  for (auto& v : p) v = rng.normal();
  const Matrix<double> x = normal_matrix(2, conv.input_size(), rng);
  Matrix<double> y, s;
  conv.forward(p.data(), x, y, s);
  const auto& g = conv.geometry();
  double worst = 0;
  for (Index n = 0; n < 2; ++n)
    for (Index oy = 0; oy < g.out_h; ++oy)
      for (Index ox = 0; ox < g.out_w; ++ox)
        for (Index o = 0; o < 3; ++o) {
          double acc = p[static_cast<std::size_t>(3 * g.patch_size() + o)];
          for (Index ky = 0; ky < 3; ++ky)
            for (Index kx = 0; kx < 3; ++kx)
              for (Index c = 0; c < 2; ++c) {
                const Index iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                if (iy < 0 || iy >= 5 || ix < 0 || ix >= 6) continue;
                acc += p[static_cast<std::size_t>(o * g.patch_size() + (ky * 3 + kx) * 2 + c)] * x(n, (iy * 6 + ix) * 2 + c);
              }
          worst = std::max(worst, std::abs(acc - y(n, (oy * g.out_w + ox) * 3 + o)));
        }
  CHECK(worst < 1e-12);
}

TEST_CASE("ConvTranspose2d is the adjoint of Conv2d's input map") {
  // <conv(x), y> = <x, convT(y)> for bias-free layers sharing weights W (Cout × K·K·Cin).
  Rng rng(8);
  const Conv2d<double> conv(8, 8, 3, 4, 4, 2, 1);
  const ConvTranspose2d<double> convt(4, 4, 4, 3, 4, 2, 1);
  REQUIRE(convt.output_size() == conv.input_size());
  std::vector<double> pc(static_cast<std::size_t>(conv.num_parameters()), 0.0), pt(static_cast<std::size_t>(convt.num_parameters()), 0.0);
  const Index ws = 4 * conv.geometry().patch_size();
  for (Index i = 0; i < ws; ++i) pc[static_cast<std::size_t>(i)] = pt[static_cast<std::size_t>(i)] = rng.normal();
  const Matrix<double> x = normal_matrix(2, conv.input_size(), rng), y = normal_matrix(2, conv.output_size(), rng);
  Matrix<double> cx, ty, s;
  conv.forward(pc.data(), x, cx, s);
  convt.forward(pt.data(), y, ty, s);
  CHECK((cx.array() * y.array()).sum() == doctest::Approx((x.array() * ty.array()).sum()).epsilon(1e-12));
}

TEST_CASE("Network: backward of a stack matches central differences and accumulates") {
  Network<double> net;
  net.add(Conv2d<double>(6, 6, 1, 2, 4, 2, 1)).act(Activation::relu).linear(5).act(Activation::tanh).linear(3);
  Rng rng(9);
  std::vector<double> params(static_cast<std::size_t>(net.num_parameters())), grads(params.size());
  net.bind(params, grads);
  net.init(rng);
  Matrix<double> x = normal_matrix(3, net.input_size(), rng);
  const Matrix<double> w = normal_matrix(3, 3, rng);
  typename Network<double>::Tape tape;
  auto loss = [&]() { return (net.forward(x, tape).array() * w.array()).sum(); };
  auto backward = [&](std::span<double> dp, std::span<double> dx) {
    std::copy(dp.begin(), dp.end(), grads.begin());
    net.forward(x, tape);
    Matrix<double> dxm;
    net.backward(tape, w, &dxm);
    std::copy(grads.begin(), grads.end(), dp.begin());
    std::copy(dxm.data(), dxm.data() + dxm.size(), dx.begin());
  };
  const auto r = check_gradients(params, std::span<double>(x.data(), static_cast<std::size_t>(x.size())), loss, backward);
  INFO(r.worst);
  CHECK(r.max_error < 1e-6);
}

TEST_CASE("CPU backend: results do not depend on the thread count") {
  // Large enough that GEMM, im2col and the reductions all split into chunks.
  Rng rng(10);
  Network<float> net;
  net.add(Conv2d<float>(28, 28, 1, 32, 4, 2, 1)).act(Activation::relu).add(Conv2d<float>(14, 14, 32, 32, 3, 1, 0))
      .act(Activation::relu).linear(64);
  std::vector<float> params(static_cast<std::size_t>(net.num_parameters())), grads(params.size());
  net.bind(params, grads);
  net.init(rng);
  Matrix<float> x(100, 784);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
  Matrix<float> w(100, 64);
  for (Index i = 0; i < w.size(); ++i) w.data()[i] = static_cast<float>(rng.normal());
  auto run = [&](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    std::fill(grads.begin(), grads.end(), 0.0f);
    typename Network<float>::Tape tape;
    Matrix<float> y = net.forward(x, tape);
    Matrix<float> dx;
    net.backward(tape, w, &dx);
    return std::make_tuple(y, dx, grads);
  };
  const auto [y1, dx1, g1] = run(1);
  const auto [y2, dx2, g2] = run(2);
  CHECK(y1 == y2);
  CHECK(dx1 == dx2);
  CHECK(g1 == g2);
}

TEST_CASE("CPU fused convolutions equal im2col + GEMM on the whole batch, for every chunking") {
  // Cpu::conv2d, conv2d_transpose and conv2d_weight_gradient cut the batch into chunks of
  // whole images (several per chunk for small images, one for large) and the weight gradient
  // into at most 8 groups; the composition of im2col, one GEMM and col2im over the whole
  // batch is the reference. Batches 1, 3, 37 and 101 cover one chunk, partial chunks, and
  // more chunks than groups.
  struct Case {
    Index h, w, c, out_c, k, s, p;
  };
  for (const Case cs : {Case{28, 28, 1, 32, 4, 2, 1}, Case{14, 14, 32, 32, 3, 1, 0}, Case{9, 7, 3, 5, 3, 2, 1},
                        Case{6, 6, 32, 32, 3, 1, 0}, Case{5, 8, 2, 4, 4, 2, 1}}) {
    const ConvGeometry g = ConvGeometry::make(cs.h, cs.w, cs.c, cs.k, cs.s, cs.p);
    for (const Index n : {1, 3, 37, 101}) {
      CAPTURE(cs.h);
      CAPTURE(cs.c);
      CAPTURE(n);
      Rng rng(static_cast<std::uint64_t>(11 + n + cs.c));
      const Matrix<double> w = normal_matrix(cs.out_c, g.patch_size(), rng);
      const Matrix<double> bias = normal_matrix(1, cs.out_c, rng), bias_in = normal_matrix(1, cs.c, rng);
      const Matrix<double> x = normal_matrix(n, g.in_size(), rng);
      const Matrix<double> dy = normal_matrix(n, g.out_pixels() * cs.out_c, rng);
      Matrix<double> scratch, ref_scratch;

      Matrix<double> y(n, dy.cols()), y_ref(n, dy.cols());
      Cpu::conv2d(g, cs.out_c, n, x.data(), w.data(), bias.data(), y.data(), scratch);
      detail::conv2d_by_im2col<Cpu>(g, cs.out_c, n, x.data(), w.data(), bias.data(), y_ref.data(), ref_scratch);
      CHECK((y - y_ref).cwiseAbs().maxCoeff() < 1e-12 * (1 + y_ref.cwiseAbs().maxCoeff()));

      Matrix<double> t(n, g.in_size()), t_ref(n, g.in_size());
      Cpu::conv2d_transpose(g, cs.out_c, n, dy.data(), w.data(), bias_in.data(), t.data(), scratch);
      detail::conv2d_transpose_by_im2col<Cpu>(g, cs.out_c, n, dy.data(), w.data(), bias_in.data(), t_ref.data(),
                                              ref_scratch);
      CHECK((t - t_ref).cwiseAbs().maxCoeff() < 1e-12 * (1 + t_ref.cwiseAbs().maxCoeff()));

      // Accumulates: start both from the same non-zero gradient.
      Matrix<double> dw = w, dw_ref = w;
      Cpu::conv2d_weight_gradient(g, cs.out_c, n, x.data(), dy.data(), dw.data(), scratch);
      detail::conv2d_weight_gradient_by_im2col<Cpu>(g, cs.out_c, n, x.data(), dy.data(), dw_ref.data(), ref_scratch);
      CHECK((dw - dw_ref).cwiseAbs().maxCoeff() < 1e-11 * (1 + dw_ref.cwiseAbs().maxCoeff()));

      // The weight gradient is the adjoint pairing: <dW, W'> = <dy, conv(x; W')> (bias-free).
      const Matrix<double> w2 = normal_matrix(cs.out_c, g.patch_size(), rng);
      Matrix<double> cx(n, dy.cols()), dw0 = Matrix<double>::Zero(cs.out_c, g.patch_size());
      Cpu::conv2d(g, cs.out_c, n, x.data(), w2.data(), static_cast<const double*>(nullptr), cx.data(), scratch);
      Cpu::conv2d_weight_gradient(g, cs.out_c, n, x.data(), dy.data(), dw0.data(), scratch);
      CHECK((dw0.array() * w2.array()).sum() == doctest::Approx((dy.array() * cx.array()).sum()).epsilon(1e-11));
    }
  }
}
