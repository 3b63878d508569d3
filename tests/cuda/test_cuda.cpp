// The CUDA backend against the CPU backend: every operation on random inputs, through both
// of its residency paths (host pointers staged, device pointers in place), then a network,
// the coupling flow and whole training steps of a model.
// Tolerances (normwise: max |cuda − cpu| / max |cpu|): float 1e-5 and double 1e-12 for one
// operation; copies (im2col) and col2im, which sums in the CPU's order, must be exact.
// Networks and models compound rounding over many layers: float 1e-4, double 1e-10.
#include <doctest/doctest.h>

#include <dpvae/cuda.hpp>
#include <dpvae/dpvae.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

namespace {

using dpvae::Cpu;
using dpvae::Cuda;
using dpvae::Index;

template <class T>
std::vector<T> random_vector(std::size_t n, dpvae::Rng& rng, double scale = 1.0) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(scale * rng.normal());
  return v;
}

/// max |a − b| / max |b| (b the CPU reference; 1 when b is all zeros).
template <class T>
double rel_error(const T* a, const T* b, std::size_t n) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(static_cast<double>(a[i])) != std::isnan(static_cast<double>(b[i])))
      return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    ref = std::max(ref, std::abs(static_cast<double>(b[i])));
  }
  return diff / (ref > 0 ? ref : 1.0);
}
template <class T, class A1, class A2>
double rel_error(const std::vector<T, A1>& a, const std::vector<T, A2>& b) {
  REQUIRE(a.size() == b.size());
  return rel_error(a.data(), b.data(), a.size());
}

template <class T>
constexpr double op_tol() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}
template <class T>
constexpr double net_tol() {
  return sizeof(T) == 4 ? 1e-4 : 1e-10;
}

/// Runs `op` with host pointers (staged) and with device copies of the same buffers (in
/// place); returns both results of the output buffer `out` (given its initial contents).
template <class T, class Op>
std::pair<std::vector<T>, std::vector<T>> both_paths(const std::vector<std::vector<T>>& inputs,
                                                     const std::vector<T>& out, Op op) {
  std::vector<const T*> host_in;
  for (const auto& v : inputs) host_in.push_back(v.data());
  std::vector<T> host_out = out;
  op(host_in, host_out.data());

  std::vector<dpvae::DeviceBuffer<T>> dev;
  std::vector<const T*> dev_in;
  for (const auto& v : inputs) {
    dev.emplace_back(v.data(), static_cast<Index>(v.size()));
    dev_in.push_back(dev.back().data());
  }
  dpvae::DeviceBuffer<T> dev_out(out.data(), static_cast<Index>(out.size()));
  op(dev_in, dev_out.data());
  std::vector<T> device_result(out.size());
  dev_out.download(device_result.data());
  return {host_out, device_result};
}

}  // namespace

TEST_CASE_TEMPLATE("Cuda::gemm matches Cpu::gemm for every transposition, stride, alpha and beta", T, float,
                   double) {
  dpvae::Rng rng(11);
  const std::vector<std::tuple<Index, Index, Index>> sizes{{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 96, 300}};
  for (auto [m, n, k] : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (double beta : {0.0, 1.0, 0.5}) {
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(k);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(beta);
          const Index a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
          const Index lda = a_cols + 3, ldb = b_cols + 1, ldc = n + 2;
          const auto a = random_vector<T>(static_cast<std::size_t>(a_rows * lda), rng);
          const auto b = random_vector<T>(static_cast<std::size_t>(b_rows * ldb), rng);
          auto c = random_vector<T>(static_cast<std::size_t>(m * ldc), rng);
          if (beta == 0.0)  // beta = 0 assigns: old contents, even NaN, are ignored
            for (Index i = 0; i < m; ++i) c[static_cast<std::size_t>(i * ldc)] = std::numeric_limits<T>::quiet_NaN();
          const T alpha = T(-0.7);
          std::vector<T> ref = c;
          Cpu::gemm(ta != 0, tb != 0, m, n, k, alpha, a.data(), lda, b.data(), ldb, T(beta), ref.data(), ldc);
          auto [host, device] = both_paths<T>({a, b}, c, [&](const std::vector<const T*>& in, T* out) {
            Cuda::gemm(ta != 0, tb != 0, m, n, k, alpha, in[0], lda, in[1], ldb, T(beta), out, ldc);
          });
          CHECK(rel_error(host, ref) <= op_tol<T>());
          CHECK(host == device);  // the two residency paths run the same computation
          // The padding between rows is left alone.
          for (Index i = 0; i < m; ++i)
            for (Index j = n; j < ldc; ++j) {
              const auto at = static_cast<std::size_t>(i * ldc + j);
              CHECK(host[at] == c[at]);
            }
        }
}

TEST_CASE_TEMPLATE("Cuda::gemm with k = 0 scales C by beta", T, float, double) {
  std::vector<T> c{T(1), T(2), T(3), T(4), T(5), T(6)};
  std::vector<T> ref = c;
  Cpu::gemm(false, false, 2, 3, 0, T(1), ref.data(), 1, ref.data(), 3, T(0.5), ref.data(), 3);
  std::vector<T> got = c;
  Cuda::gemm(false, false, 2, 3, 0, T(1), got.data(), 1, got.data(), 3, T(0.5), got.data(), 3);
  CHECK(got == ref);
}

TEST_CASE("Cuda::gemm rejects sizes beyond cuBLAS's 32-bit range with dpvae::Error") {
  float x = 0;
  CHECK_THROWS_AS(Cuda::gemm(false, false, Index{1} << 32, 1, 1, 1.0f, &x, 1, &x, 1, 0.0f, &x, 1), dpvae::Error);
}

TEST_CASE_TEMPLATE("Cuda::add_row_vector and accumulate_column_sums match Cpu", T, float, double) {
  dpvae::Rng rng(12);
  for (Index m : {1, 3, 300, 19600})
    for (Index n : {1, 5, 32, 70}) {
      CAPTURE(m);
      CAPTURE(n);
      const auto x = random_vector<T>(static_cast<std::size_t>(m * n), rng);
      const auto bias = random_vector<T>(static_cast<std::size_t>(n), rng);
      std::vector<T> ref = x;
      Cpu::add_row_vector(m, n, bias.data(), ref.data());
      auto [host, device] = both_paths<T>({bias}, x, [&](const std::vector<const T*>& in, T* out) {
        Cuda::add_row_vector(m, n, in[0], out);
      });
      CHECK(rel_error(host, ref) == 0.0);  // one addition per entry: exact
      CHECK(device == host);

      const auto acc0 = random_vector<T>(static_cast<std::size_t>(n), rng);  // accumulates onto this
      std::vector<T> acc_ref = acc0;
      Cpu::accumulate_column_sums(m, n, x.data(), acc_ref.data());
      auto [acc_host, acc_device] = both_paths<T>({x}, acc0, [&](const std::vector<const T*>& in, T* out) {
        Cuda::accumulate_column_sums(m, n, in[0], out);
      });
      // Summation orders differ: the bound is eps · m relative to Σ|x|, which for these
      // N(0, 1) columns is within op_tol · sqrt(m) of max |sum|.
      CHECK(rel_error(acc_host, acc_ref) <= op_tol<T>() * std::sqrt(static_cast<double>(m)));
      CHECK(acc_device == acc_host);
    }
}

TEST_CASE_TEMPLATE("Cuda::activate and activate_backward match Cpu for every nonlinearity", T, float, double) {
  dpvae::Rng rng(13);
  for (auto act : {dpvae::Activation::relu, dpvae::Activation::leaky_relu, dpvae::Activation::tanh,
                   dpvae::Activation::sigmoid})
    for (Index count : {1, 1000, 100003}) {
      CAPTURE(static_cast<int>(act));
      CAPTURE(count);
      const auto n = static_cast<std::size_t>(count);
      auto x = random_vector<T>(n, rng, 3.0);
      x[0] = T(0);  // the kink
      const T slope = T(0.01);
      std::vector<T> y_ref(n), y_init(n, T(7));
      Cpu::activate(act, slope, count, x.data(), y_ref.data());
      auto [y_host, y_device] = both_paths<T>({x}, y_init, [&](const std::vector<const T*>& in, T* out) {
        Cuda::activate(act, slope, count, in[0], out);
      });
      CHECK(rel_error(y_host, y_ref) <= op_tol<T>());
      CHECK(y_device == y_host);

      const auto dy = random_vector<T>(n, rng);
      std::vector<T> dx_ref(n);
      Cpu::activate_backward(act, slope, count, x.data(), y_ref.data(), dy.data(), dx_ref.data());
      auto [dx_host, dx_device] = both_paths<T>({x, y_ref, dy}, y_init, [&](const std::vector<const T*>& in, T* out) {
        Cuda::activate_backward(act, slope, count, in[0], in[1], in[2], out);
      });
      CHECK(rel_error(dx_host, dx_ref) <= op_tol<T>());
      CHECK(dx_device == dx_host);
    }
}

TEST_CASE_TEMPLATE("Cuda::im2col and col2im equal Cpu's exactly", T, float, double) {
  dpvae::Rng rng(14);
  const std::vector<dpvae::ConvGeometry> geometries{
      dpvae::ConvGeometry::make(28, 28, 1, 4, 2, 1), dpvae::ConvGeometry::make(14, 14, 32, 3, 1, 0),
      dpvae::ConvGeometry::make(7, 7, 3, 4, 2, 1),   dpvae::ConvGeometry::make(5, 6, 2, 3, 2, 2),
      dpvae::ConvGeometry::make(9, 9, 4, 1, 1, 0),   dpvae::ConvGeometry::make(8, 5, 2, 5, 3, 2)};
  const Index images = 3;
  for (const auto& g : geometries) {
    CAPTURE(g.in_h);
    CAPTURE(g.in_c);
    CAPTURE(g.kernel);
    CAPTURE(g.stride);
    CAPTURE(g.pad);
    const auto x = random_vector<T>(static_cast<std::size_t>(images * g.in_size()), rng);
    const auto psize = static_cast<std::size_t>(images * g.out_pixels() * g.patch_size());
    std::vector<T> p_ref(psize), p_init(psize, T(9));
    Cpu::im2col(g, images, x.data(), p_ref.data());
    auto [p_host, p_device] = both_paths<T>({x}, p_init, [&](const std::vector<const T*>& in, T* out) {
      Cuda::im2col(g, images, in[0], out);
    });
    CHECK(p_host == p_ref);
    CHECK(p_device == p_ref);

    const auto cols = random_vector<T>(psize, rng);
    std::vector<T> x_ref(x.size()), x_init(x.size(), T(9));
    Cpu::col2im(g, images, cols.data(), x_ref.data());
    auto [x_host, x_device] = both_paths<T>({cols}, x_init, [&](const std::vector<const T*>& in, T* out) {
      Cuda::col2im(g, images, in[0], out);
    });
    CHECK(x_host == x_ref);
    CHECK(x_device == x_ref);
  }
}

TEST_CASE_TEMPLATE("Cuda::fill_normal is a counter-based standard normal stream", T, float, double) {
  const Index n = Index{1} << 20;
  std::vector<T> a(static_cast<std::size_t>(n)), b(a.size()), other(a.size());
  Cuda::fill_normal(42, 0, n, a.data());
  Cuda::fill_normal(42, 0, n, b.data());
  CHECK(a == b);  // reproducible
  // Value j depends on (seed, stream, j) only: a shorter or device-resident request gives the same prefix.
  std::vector<T> prefix(13);
  Cuda::fill_normal(42, 0, 13, prefix.data());
  CHECK(std::equal(prefix.begin(), prefix.end(), a.begin()));
  dpvae::DeviceBuffer<T> dev(n);
  Cuda::fill_normal(42, 0, n, dev.data());
  dev.download(b.data());
  CHECK(a == b);
  Cuda::fill_normal(42, 1, n, other.data());
  CHECK(other != a);
  Cuda::fill_normal(43, 0, n, other.data());
  CHECK(other != a);
  // Moments of N(0, 1): standard errors 1/sqrt(n) ≈ 1e-3 (mean) and sqrt(2/n) ≈ 1.4e-3 (variance).
  double sum = 0, sq = 0;
  for (T v : a) {
    sum += static_cast<double>(v);
    sq += static_cast<double>(v) * static_cast<double>(v);
  }
  const double mean = sum / static_cast<double>(n), var = sq / static_cast<double>(n) - mean * mean;
  CHECK(std::abs(mean) < 5.0 / std::sqrt(static_cast<double>(n)));
  CHECK(std::abs(var - 1.0) < 5.0 * std::sqrt(2.0 / static_cast<double>(n)));
  // Tail mass beyond 2σ: P = 0.0455.
  const auto tail = std::count_if(a.begin(), a.end(), [](T v) { return std::abs(static_cast<double>(v)) > 2.0; });
  CHECK(std::abs(static_cast<double>(tail) / static_cast<double>(n) - 0.0455) < 0.002);
}

TEST_CASE_TEMPLATE("the MNIST encoder and decoder on Cuda match Cpu forward and backward", T, float, double) {
  const auto arch = dpvae::Architecture::conv_images(28, 28, 1, 4);
  dpvae::Rng rng(15);
  auto check_network = [&](auto cpu_net, auto cuda_net, const char* which) {
    CAPTURE(which);
    const Index np = cpu_net.num_parameters();
    dpvae::AlignedBuffer<T> params(static_cast<std::size_t>(np)), g_cpu(params.size(), T(0.25)),
        g_cuda(params.size(), T(0.25));
    cpu_net.bind(params, g_cpu);
    cuda_net.bind(params, g_cuda);
    cpu_net.init(rng);
    const Index batch = 16;
    dpvae::Matrix<T> x(batch, cpu_net.input_size());
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rng.uniform());
    typename decltype(cpu_net)::Tape t_cpu;
    typename decltype(cuda_net)::Tape t_cuda;
    const dpvae::Matrix<T> y_cpu = cpu_net.forward(x, t_cpu);
    const dpvae::Matrix<T> y_cuda = cuda_net.forward(x, t_cuda);
    CHECK(rel_error(y_cuda.data(), y_cpu.data(), static_cast<std::size_t>(y_cpu.size())) <= net_tol<T>());
    dpvae::Matrix<T> dy(y_cpu.rows(), y_cpu.cols());
    for (Index i = 0; i < dy.size(); ++i) dy.data()[i] = static_cast<T>(rng.normal());
    dpvae::Matrix<T> dx_cpu, dx_cuda;
    cpu_net.backward(t_cpu, dy, &dx_cpu);
    cuda_net.backward(t_cuda, dy, &dx_cuda);
    CHECK(rel_error(dx_cuda.data(), dx_cpu.data(), static_cast<std::size_t>(dx_cpu.size())) <= net_tol<T>());
    CHECK(rel_error(g_cuda, g_cpu) <= net_tol<T>());  // accumulated onto the 0.25 sentinel
  };
  check_network(dpvae::make_encoder<T, Cpu>(arch), dpvae::make_encoder<T, Cuda>(arch), "encoder");
  check_network(dpvae::make_decoder<T, Cpu>(arch), dpvae::make_decoder<T, Cuda>(arch), "decoder");
}

TEST_CASE("the coupling flow on Cuda matches Cpu in both directions with their backward passes") {
  using T = double;
  for (Index dim : {2, 10}) {
    CAPTURE(dim);
    dpvae::CouplingFlow<T, Cpu> f_cpu(dim, 6);
    dpvae::CouplingFlow<T, Cuda> f_cuda(dim, 6);
    const Index np = f_cpu.num_parameters();
    dpvae::AlignedBuffer<T> params(static_cast<std::size_t>(np)), g_cpu(params.size(), T(0)),
        g_cuda(params.size(), T(0));
    f_cpu.bind(params, g_cpu);
    f_cuda.bind(params, g_cuda);
    dpvae::Rng rng(16);
    f_cpu.init(rng);
    dpvae::Matrix<T> z(50, dim);
    for (Index i = 0; i < z.size(); ++i) z.data()[i] = rng.normal();
    typename dpvae::CouplingFlow<T, Cpu>::Tape t_cpu;
    typename dpvae::CouplingFlow<T, Cuda>::Tape t_cuda;
    dpvae::Matrix<T> z0_cpu, z0_cuda;
    dpvae::Vector<T> ld_cpu, ld_cuda;
    f_cpu.forward(z, z0_cpu, ld_cpu, t_cpu);
    f_cuda.forward(z, z0_cuda, ld_cuda, t_cuda);
    CHECK(rel_error(z0_cuda.data(), z0_cpu.data(), static_cast<std::size_t>(z0_cpu.size())) <= 1e-12);
    CHECK(rel_error(ld_cuda.data(), ld_cpu.data(), static_cast<std::size_t>(ld_cpu.size())) <= 1e-12);
    dpvae::Matrix<T> dz0(z.rows(), dim);
    dpvae::Vector<T> dld(z.rows());
    for (Index i = 0; i < dz0.size(); ++i) dz0.data()[i] = rng.normal();
    for (Index i = 0; i < dld.size(); ++i) dld[i] = rng.normal();
    dpvae::Matrix<T> dz_cpu, dz_cuda;
    f_cpu.backward_forward(t_cpu, dz0, dld, &dz_cpu);
    f_cuda.backward_forward(t_cuda, dz0, dld, &dz_cuda);
    CHECK(rel_error(dz_cuda.data(), dz_cpu.data(), static_cast<std::size_t>(dz_cpu.size())) <= 1e-12);
    CHECK(rel_error(g_cuda, g_cpu) <= 1e-12);

    dpvae::Matrix<T> zi_cpu, zi_cuda, dzi_cpu, dzi_cuda;
    f_cpu.inverse(z0_cpu, zi_cpu, t_cpu);
    f_cuda.inverse(z0_cpu, zi_cuda, t_cuda);
    CHECK(rel_error(zi_cuda.data(), zi_cpu.data(), static_cast<std::size_t>(zi_cpu.size())) <= 1e-12);
    CHECK(rel_error(zi_cuda.data(), z.data(), static_cast<std::size_t>(z.size())) <= 1e-10);  // f⁻¹(f(z)) = z
    f_cpu.backward_inverse(t_cpu, dz0, &dzi_cpu);
    f_cuda.backward_inverse(t_cuda, dz0, &dzi_cuda);
    CHECK(rel_error(dzi_cuda.data(), dzi_cpu.data(), static_cast<std::size_t>(dzi_cpu.size())) <= 1e-12);
    CHECK(rel_error(g_cuda, g_cpu) <= 1e-12);
  }
}

namespace {
// tol bounds the terms and gradients; after three Adam steps (which divide by |g| + eps)
// the parameters are compared only in double, at params_tol: float gradient noise is far
// above Adam's eps = 1e-8, so a near-zero gradient may take either sign there.
template <class Reg, template <class, class> class PriorOf, class T>
void compare_training(double tol, double params_tol) {
  using CpuModel = dpvae::DpVae<Reg, PriorOf<T, Cpu>, dpvae::Encoder<T, Cpu>, dpvae::Decoder<T, Cpu>>;
  using CudaModel = dpvae::DpVae<Reg, PriorOf<T, Cuda>, dpvae::Encoder<T, Cuda>, dpvae::Decoder<T, Cuda>>;
  dpvae::ModelConfig c;
  c.architecture = dpvae::Architecture::conv_images(28, 28, 1, 2);
  c.seed = 3;
  c.adam.lr = 1e-3;
  CpuModel cpu(c);
  CudaModel gpu(c);
  REQUIRE(cpu.parameters().size() == gpu.parameters().size());
  CHECK(std::equal(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin()));
  dpvae::Rng rng(17);
  dpvae::Matrix<T> x(12, 784);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rng.uniform());
  const dpvae::Terms t_cpu = cpu.compute_gradients(x);
  const dpvae::Terms t_gpu = gpu.compute_gradients(x);
  REQUIRE(t_cpu.size() == t_gpu.size());
  for (std::size_t i = 0; i < t_cpu.size(); ++i) {
    CAPTURE(t_cpu[i].first);
    CHECK(t_gpu[i].first == t_cpu[i].first);
    CHECK(std::abs(t_gpu[i].second - t_cpu[i].second) <= tol * std::max(1.0, std::abs(t_cpu[i].second)));
  }
  CHECK(rel_error(gpu.gradients().data(), cpu.gradients().data(), cpu.gradients().size()) <= tol);
  if (params_tol <= 0) return;
  for (int s = 0; s < 3; ++s) {
    cpu.train_step(x);
    gpu.train_step(x);
  }
  CHECK(rel_error(gpu.parameters().data(), cpu.parameters().data(), cpu.parameters().size()) <= params_tol);
}
template <class T, class B>
using Standard = dpvae::Prior<dpvae::StandardNormal, T, B>;
template <class T, class B>
using Decoupled = dpvae::Coupling<6, T, B>;
}  // namespace

TEST_CASE("a DpVae training step on Cuda matches Cpu (standard and decoupled prior)") {
  SUBCASE("double, standard prior") { compare_training<dpvae::BetaH, Standard, double>(1e-10, 1e-8); }
  SUBCASE("double, decoupled prior") { compare_training<dpvae::BetaH, Decoupled, double>(1e-10, 1e-8); }
  SUBCASE("float, decoupled prior") { compare_training<dpvae::BetaH, Decoupled, float>(1e-3, 0); }
}
