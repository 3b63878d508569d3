// A second flow block, written the way docs/extending.md "Add a flow block" says, proves the
// flow-block concept: the element-wise affine block y = u ⊙ exp(a) + b (a, b ∈ R^d learned;
// log|det ∂y/∂u| = Σ_j a_j) runs through the generic Flow, the decoupled prior, the model
// and a checkpoint without any of them naming it. Its composition is an affine map, so the
// prior's density has a closed form to check against.
#include "fixtures.hpp"
#include "gradcheck.hpp"

#include <dpvae/dpvae.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

using namespace dpvae;
using dpvae::test::check_gradients;
using dpvae::test::normal_matrix;

namespace dpvae::test {

template <class T, class B = Cpu>
class ElementwiseAffine {
 public:
  using Scalar = T;
  using RowArray = Eigen::Array<T, 1, Eigen::Dynamic>;
  struct Tape {
    Matrix<T> in;
  };
  static constexpr const char* kind = "elementwise-affine";

  ElementwiseAffine(Index dim, Index /*index*/, const FlowBlockConfig& /*config*/) : dim_(dim) {}
  Index dim() const { return dim_; }
  Index num_parameters() const { return 2 * dim_; }
  void bind(std::span<T> params, std::span<T> grads) {
    p_ = params;
    g_ = grads;
  }
  void init(Rng& rng) const {
    for (T& v : p_) v = static_cast<T>(0.3 * rng.normal());
  }
  void visit_tensors(const std::string& prefix, const TensorCallback& f) const {
    f(prefix + ".log_scale", 0, {dim_});
    f(prefix + ".shift", dim_, {dim_});
  }
  std::string describe() const { return kind; }

  void forward(const Matrix<T>& u, Matrix<T>& y, Vector<T>& logdet, Tape& tape) const {
    tape.in = u;
    y = ((tape.in.array().rowwise() * a().exp()).rowwise() + b()).matrix();
    logdet.array() += a().sum();
  }
  void backward_forward(Tape& tape, const Matrix<T>& dy, const Vector<T>& dlogdet, Matrix<T>& du) const {
    const RowArray e = a().exp();
    for (Index j = 0; j < dim_; ++j) {
      g_[static_cast<std::size_t>(j)] += (dy.col(j).array() * tape.in.col(j).array()).sum() * e[j] + dlogdet.sum();
      g_[static_cast<std::size_t>(dim_ + j)] += dy.col(j).sum();
    }
    du = (dy.array().rowwise() * e).matrix();
  }
  void inverse(const Matrix<T>& y, Matrix<T>& u, Tape& tape, Vector<T>* logdet) const {
    tape.in = y;
    u = ((tape.in.array().rowwise() - b()).rowwise() * (-a()).exp()).matrix();
    if (logdet) logdet->array() -= a().sum();
  }
  void backward_inverse(Tape& tape, const Matrix<T>& du, Matrix<T>& dy) const {
    const RowArray e = (-a()).exp();
    for (Index j = 0; j < dim_; ++j) {
      g_[static_cast<std::size_t>(j)] -= (du.col(j).array() * (tape.in.col(j).array() - b()[j])).sum() * e[j];
      g_[static_cast<std::size_t>(dim_ + j)] -= du.col(j).sum() * e[j];
    }
    dy = (du.array().rowwise() * e).matrix();
  }

 private:
  RowArray a() const { return Eigen::Map<const RowArray>(p_.data(), dim_); }
  RowArray b() const { return Eigen::Map<const RowArray>(p_.data() + dim_, dim_); }
  Index dim_;
  std::span<T> p_, g_;
};

template <int K, class T = double>
using AffinePrior = Prior<Decoupled<ElementwiseAffine, K>, T>;

static_assert(FlowBlock<ElementwiseAffine<double>>);
static_assert(PriorType<AffinePrior<3>>);

}  // namespace dpvae::test

using dpvae::test::AffinePrior;

TEST_CASE("flow block: a second block type runs through Flow and the decoupled prior (closed-form density)") {
  const Index d = 3, n = 50;
  AffinePrior<3> prior(d, 4);
  Rng rng(8);
  const Matrix<double> z = normal_matrix(n, d, rng, 2.0);
  const auto [z0, logdet] = prior.forward(z);
  CHECK((prior.inverse(z0) - z).cwiseAbs().maxCoeff() < 1e-12);
  // The composition is z0 = z ⊙ s + t with s = Π exp(a_k) and t accumulated: p(z) is the
  // Gaussian N(z; −t/s, diag(1/s²)).
  Eigen::Array<double, 1, Eigen::Dynamic> s = Eigen::Array<double, 1, Eigen::Dynamic>::Ones(d), t = s * 0.0;
  const auto p = prior.parameters();
  for (int k = 0; k < 3; ++k)
    for (Index j = 0; j < d; ++j) {
      const double a = p[static_cast<std::size_t>(2 * d * k + j)], b = p[static_cast<std::size_t>(2 * d * k + d + j)];
      s[j] *= std::exp(a);
      t[j] = t[j] * std::exp(a) + b;
    }
  const Vector<double> lp = prior.log_prob(z);
  for (Index i = 0; i < n; ++i) {
    double expected = 0;
    for (Index j = 0; j < d; ++j) {
      const double x = z(i, j) * s[j] + t[j];
      expected += -0.5 * x * x - 0.5 * std::log(2 * M_PI) + std::log(s[j]);
    }
    CHECK(lp[i] == doctest::Approx(expected).epsilon(1e-12));
  }
}

TEST_CASE("flow block: the KL through a second block type has central-difference gradients") {
  const Index d = 2, n = 5;
  AffinePrior<2> prior(d, 9);
  Rng rng(3);
  Matrix<double> mu = normal_matrix(n, d, rng), logvar = normal_matrix(n, d, rng, 0.3), z = normal_matrix(n, d, rng);
  const Vector<double> c = Vector<double>::LinSpaced(n, 0.5, 1.5);
  std::vector<double> packed(static_cast<std::size_t>(2 * n * d));
  auto unpack = [&]() {
    for (Index i = 0; i < n * d; ++i) {
      logvar.data()[i] = packed[static_cast<std::size_t>(i)];
      z.data()[i] = packed[static_cast<std::size_t>(n * d + i)];
    }
  };
  for (Index i = 0; i < n * d; ++i) {
    packed[static_cast<std::size_t>(i)] = logvar.data()[i];
    packed[static_cast<std::size_t>(n * d + i)] = z.data()[i];
  }
  typename AffinePrior<2>::Tape tape;
  auto loss = [&]() {
    unpack();
    return prior.kl(mu, logvar, z, tape).dot(c);
  };
  auto backward = [&](std::span<double> dp, std::span<double> din) {
    unpack();
    std::copy(dp.begin(), dp.end(), prior.gradients().begin());
    prior.kl(mu, logvar, z, tape);
    Matrix<double> dmu = Matrix<double>::Zero(n, d), dlv = dmu, dz = dmu;
    prior.accumulate_kl_grad(tape, mu, logvar, c, dmu, dlv, dz);
    std::copy(prior.gradients().begin(), prior.gradients().end(), dp.begin());
    for (Index i = 0; i < n * d; ++i) {
      din[static_cast<std::size_t>(i)] = dlv.data()[i];
      din[static_cast<std::size_t>(n * d + i)] = dz.data()[i];
    }
  };
  const auto r = check_gradients(prior.parameters(), packed, loss, backward);
  INFO(r.worst);
  CHECK(r.max_error < 1e-7);
  // The inverse direction's backward pass, through InfoVAE-style prior samples: L = Σ w ⊙ f⁻¹(z0).
  const Matrix<double> z0 = normal_matrix(n, d, rng), w = normal_matrix(n, d, rng);
  std::vector<double> z0p(z0.data(), z0.data() + z0.size());
  auto loss_inv = [&]() {
    const Matrix<double> in = Eigen::Map<const Matrix<double>>(z0p.data(), n, d);
    Matrix<double> out;
    prior.inverse(in, out, tape);
    return (out.array() * w.array()).sum();
  };
  auto backward_inv = [&](std::span<double> dp, std::span<double> din) {
    std::copy(dp.begin(), dp.end(), prior.gradients().begin());
    const Matrix<double> in = Eigen::Map<const Matrix<double>>(z0p.data(), n, d);
    Matrix<double> out, dz0;
    prior.inverse(in, out, tape);
    prior.backward_inverse(tape, w, &dz0);
    std::copy(prior.gradients().begin(), prior.gradients().end(), dp.begin());
    for (Index i = 0; i < n * d; ++i) din[static_cast<std::size_t>(i)] = dz0.data()[i];
  };
  const auto ri = check_gradients(prior.parameters(), z0p, loss_inv, backward_inv);
  INFO(ri.worst);
  CHECK(ri.max_error < 1e-7);
}

TEST_CASE("flow block: a model with a second block type trains, and its checkpoint names the block's tensors") {
  ModelConfig c = dpvae::test::moons_config(11);
  using Model = DpVae<BetaH, AffinePrior<2, float>>;
  Model a(c);
  const Matrix<float> x = data::make_two_moons(1).train.topRows(64);
  double first = 0, last = 0;
  for (int s = 0; s < 300; ++s) {
    const double loss = a.train_step(x).front().second;
    if (s == 0) first = loss;
    last = loss;
  }
  CHECK(std::isfinite(last));
  CHECK(last < first);
  io::File f;
  write_checkpoint(a, f);
  CHECK(f.tensors.count("prior.block0.log_scale") == 1);
  CHECK(f.tensors.count("prior.block1.shift") == 1);
  CHECK(f.metadata.at("setting.prior") == "decoupled: 2 x elementwise-affine");
  Model b(dpvae::test::moons_config(12));
  read_checkpoint(b, f, "memory");
  CHECK(std::vector<float>(a.parameters().begin(), a.parameters().end()) ==
        std::vector<float>(b.parameters().begin(), b.parameters().end()));
  // A model with the paper's coupling blocks refuses it, naming the prior.
  DpVae<BetaH, Coupling<2>> other(c);
  CHECK_THROWS_WITH_AS(read_checkpoint(other, f, "memory"), doctest::Contains("prior"), Error);
}
