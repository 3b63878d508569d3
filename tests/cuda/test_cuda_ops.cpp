// The CUDA backend's operations against the CPU backend on random inputs, through both of
// its residency paths (host pointers staged, device pointers in place). Tolerances:
// cuda_test_util.hpp.
#include "cuda_test_util.hpp"

using namespace dpvae::cuda_test;

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


TEST_CASE("Cuda::stats counts staged bytes, and device-resident operands stage nothing") {
  const Index m = 37, n = 11;
  dpvae::Rng rng(18);
  auto x = random_vector<float>(static_cast<std::size_t>(m * n), rng);
  const auto bias = random_vector<float>(static_cast<std::size_t>(n), rng);
  Cuda::reset_stats();
  Cuda::add_row_vector(m, n, bias.data(), x.data());
  auto s = Cuda::stats();
  CHECK(s.operations == 1);
  CHECK(s.bytes_to_device == (m * n + n) * sizeof(float));
  CHECK(s.bytes_to_host == m * n * sizeof(float));
  dpvae::DeviceBuffer<float> dx(x.data(), m * n), db(bias.data(), n);
  Cuda::reset_stats();
  Cuda::add_row_vector(m, n, db.data(), dx.data());
  s = Cuda::stats();
  CHECK(s.operations == 1);
  CHECK(s.bytes_to_device == 0);
  CHECK(s.bytes_to_host == 0);
}
