// dpvae/eval/expost.hpp — ex-post density estimation in the latent space: a Gaussian mixture
// fitted to a trained model's encodings after training, the sampler of Ghosh et al.,
// "From variational to deterministic autoencoders", ICLR 2020 (10 components, full
// covariances). It is the fix a user of a standard-prior VAE would otherwise reach for; as a
// sampler with an exact log-density it is measured with the same metrics as a prior (LP
// samples, sKL, leakage, NLL; docs/math.md "Ex-post samplers").
//
// Fitting: k-means++ seeding (Arthur & Vassilvitskii, SODA 2007) and Lloyd's iterations give
// hard initial responsibilities; then EM in double (Dempster, Laird, Rubin 1977) until the
// mean log-likelihood per point changes by less than `tol` nats. Each covariance gets
// `reg` · I added (scikit-learn's reg_covar) so that a component on a degenerate cluster stays
// positive definite. Sums over points are taken in fixed chunks in order, so a fit does not
// depend on the number of threads. Rows are points; densities are in nats.
//
// The second sampler, ExPostFlow, is the library's own coupling flow (the decoupled prior's
// f, prior/priors.hpp) fitted after training by maximum likelihood to draws of the aggregate
// posterior q(z) = (1/N) Σ_i q(z|x_i): the two-stage idea of Dai & Wipf, "Diagnosing and
// enhancing VAE models", ICLR 2019, with a flow in place of their second VAE. It is what the
// decoupled prior learns jointly, learnt afterwards with the encoder frozen.
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/eval/metrics.hpp"
#include "dpvae/nn/optim.hpp"
#include "dpvae/prior/priors.hpp"
#include "dpvae/rng.hpp"

#include <Eigen/Cholesky>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

namespace dpvae {

/// Settings of ExPostGmm::fit (defaults: Ghosh et al.'s 10 components).
struct GmmOptions {
  Index components = 10;
  Index max_iterations = 500;    ///< EM iterations at most
  double tol = 1e-7;             ///< stop when the mean log-likelihood per point changes by less (nats)
  double reg = 1e-6;             ///< added to every covariance's diagonal
  Index kmeans_iterations = 50;  ///< Lloyd's iterations after k-means++ seeding
  std::uint64_t seed = 1;
};

/// A Gaussian mixture p(z) = Σ_k π_k N(z; μ_k, Σ_k) in d dimensions, full covariances.
class ExPostGmm {
 public:
  /// Fits the mixture to the N × d points `z` (rows are points; N >= components >= 1) by EM
  /// as the file comment says. Throws dpvae::Error for a non-finite point, fewer points than
  /// components, or bad options (components < 1, reg < 0, tol <= 0).
  static ExPostGmm fit(const Matrix<double>& z, const GmmOptions& o = {}) {
    const Index n = z.rows(), d = z.cols(), k = o.components;
    detail::require(k >= 1 && d >= 1, "ExPostGmm::fit: needs at least one component and one dimension");
    detail::require(n >= k, "ExPostGmm::fit: " + std::to_string(n) + " points for " + std::to_string(k) + " components");
    detail::require(o.reg >= 0 && std::isfinite(o.reg) && o.tol > 0 && o.max_iterations >= 1,
                    "ExPostGmm::fit: reg must be >= 0, tol > 0 and max_iterations >= 1");
    detail::require(z.allFinite(), "ExPostGmm::fit: the points are not all finite");
    Rng rng(o.seed);
    // k-means++ seeding, then Lloyd's iterations.
    Matrix<double> centres(k, d);
    centres.row(0) = z.row(static_cast<Index>(rng.below(static_cast<std::uint64_t>(n))));
    Vector<double> dist2(n);
    for (Index i = 0; i < n; ++i) dist2(i) = (z.row(i) - centres.row(0)).squaredNorm();
    for (Index c = 1; c < k; ++c) {
      const double total = dist2.sum();
      Index pick = static_cast<Index>(rng.below(static_cast<std::uint64_t>(n)));
      if (total > 0) {
        double u = rng.uniform() * total;
        for (Index i = 0; i < n; ++i) {
          u -= dist2(i);
          if (u <= 0) {
            pick = i;
            break;
          }
        }
      }
      centres.row(c) = z.row(pick);
      for (Index i = 0; i < n; ++i) dist2(i) = std::min(dist2(i), (z.row(i) - centres.row(c)).squaredNorm());
    }
    std::vector<Index> assign(static_cast<std::size_t>(n), -1);
    for (Index it = 0; it < std::max<Index>(1, o.kmeans_iterations); ++it) {
      bool changed = false;
      for (Index i = 0; i < n; ++i) {
        Index best = 0;
        double bd = std::numeric_limits<double>::infinity();
        for (Index c = 0; c < k; ++c) {
          const double dd = (z.row(i) - centres.row(c)).squaredNorm();
          if (dd < bd) bd = dd, best = c;
        }
        changed |= assign[static_cast<std::size_t>(i)] != best;
        assign[static_cast<std::size_t>(i)] = best;
      }
      Matrix<double> sum = Matrix<double>::Zero(k, d);
      Vector<double> count = Vector<double>::Zero(k);
      for (Index i = 0; i < n; ++i) sum.row(assign[static_cast<std::size_t>(i)]) += z.row(i), count(assign[static_cast<std::size_t>(i)]) += 1;
      for (Index c = 0; c < k; ++c)
        if (count(c) > 0) centres.row(c) = sum.row(c) / count(c);
      if (!changed) break;
    }
    Matrix<double> resp = Matrix<double>::Zero(n, k);
    for (Index i = 0; i < n; ++i) resp(i, assign[static_cast<std::size_t>(i)]) = 1.0;
    ExPostGmm g;
    g.m_step(z, resp, o.reg);
    double previous = -std::numeric_limits<double>::infinity();
    for (Index it = 1; it <= o.max_iterations; ++it) {
      const double ll = g.e_step(z, resp);
      g.history_.push_back(ll);
      g.iterations_ = it;
      if (std::abs(ll - previous) < o.tol) {
        g.converged_ = true;
        break;
      }
      previous = ll;
      g.m_step(z, resp, o.reg);
    }
    return g;
  }

  /// log p(z) per row of the N × d `z` (nats): logsumexp_k [log π_k + log N(z; μ_k, Σ_k)].
  Vector<double> log_prob(const Matrix<double>& z) const {
    detail::require(z.cols() == dim(), "ExPostGmm::log_prob: points of " + std::to_string(z.cols()) + " dimensions for a " +
                                           std::to_string(dim()) + "-d mixture");
    const Matrix<double> lc = component_log_densities(z);
    Vector<double> out(z.rows());
    for (Index i = 0; i < z.rows(); ++i) out(i) = logsumexp(lc.row(i).data(), lc.cols());
    return out;
  }

  /// n draws from the mixture (n × d): a component k ~ π, then μ_k + L_k ε, ε ~ N(0, I).
  Matrix<double> sample(Index n, Rng& rng) const {
    detail::require(n >= 0, "ExPostGmm::sample: n must be >= 0");
    Matrix<double> out(n, dim());
    Vector<double> eps(dim());
    for (Index i = 0; i < n; ++i) {
      double u = rng.uniform();
      Index c = 0;
      while (c + 1 < components() && u > weights_(c)) u -= weights_(c), ++c;
      for (Index j = 0; j < dim(); ++j) eps(j) = rng.normal();
      out.row(i) = means_.row(c) + (chol_[static_cast<std::size_t>(c)] * eps).transpose();
    }
    return out;
  }

  Index components() const { return means_.rows(); }
  Index dim() const { return means_.cols(); }
  const Vector<double>& weights() const { return weights_; }     ///< π (sums to 1)
  const Matrix<double>& means() const { return means_; }         ///< K × d
  const Matrix<double>& covariance(Index k) const { return cov_[static_cast<std::size_t>(k)]; }  ///< d × d
  Index iterations() const { return iterations_; }
  bool converged() const { return converged_; }
  /// The mean log-likelihood per point after each E-step (nats): non-decreasing under EM.
  const std::vector<double>& log_likelihood_history() const { return history_; }

 private:
  Vector<double> weights_;
  Matrix<double> means_;
  std::vector<Matrix<double>> cov_, chol_;  // Σ_k and its lower Cholesky factor L_k
  Vector<double> log_norm_;                 // −½ (d log 2π + log det Σ_k) + log π_k
  Index iterations_ = 0;
  bool converged_ = false;
  std::vector<double> history_;

  static constexpr Index kChunk = 1024;

  /// N × K: log π_k + log N(z_i; μ_k, Σ_k), by triangular solves with L_k.
  Matrix<double> component_log_densities(const Matrix<double>& z) const {
    const Index n = z.rows(), k = components();
    Matrix<double> out(n, k);
    tbb::parallel_for(Index{0}, (n + kChunk - 1) / kChunk, [&](Index b) {
      const Index r0 = b * kChunk, len = std::min(kChunk, n - r0);
      for (Index c = 0; c < k; ++c) {
        Matrix<double> diff = (z.middleRows(r0, len).rowwise() - means_.row(c)).transpose();  // d × len
        chol_[static_cast<std::size_t>(c)].triangularView<Eigen::Lower>().solveInPlace(diff);
        for (Index i = 0; i < len; ++i) out(r0 + i, c) = log_norm_(c) - 0.5 * diff.col(i).squaredNorm();
      }
    });
    return out;
  }

  /// Responsibilities into `resp`; returns the mean log-likelihood per point.
  double e_step(const Matrix<double>& z, Matrix<double>& resp) const {
    const Index n = z.rows();
    resp = component_log_densities(z);
    std::vector<double> chunk_ll(static_cast<std::size_t>((n + kChunk - 1) / kChunk), 0.0);
    tbb::parallel_for(Index{0}, static_cast<Index>(chunk_ll.size()), [&](Index b) {
      double s = 0;
      for (Index i = b * kChunk; i < std::min(n, (b + 1) * kChunk); ++i) {
        const double l = logsumexp(resp.row(i).data(), resp.cols());
        resp.row(i) = (resp.row(i).array() - l).exp().matrix();
        s += l;
      }
      chunk_ll[static_cast<std::size_t>(b)] = s;
    });
    double total = 0;
    for (double s : chunk_ll) total += s;  // in order: independent of the thread count
    return total / static_cast<double>(n);
  }

  void m_step(const Matrix<double>& z, const Matrix<double>& resp, double reg) {
    const Index d = z.cols(), k = resp.cols();
    // scikit-learn's guard: an empty component keeps a tiny weight instead of dividing by 0.
    const Vector<double> nk = (resp.colwise().sum().transpose().array() + 10 * std::numeric_limits<double>::epsilon()).matrix();
    weights_ = nk / nk.sum();
    means_ = (resp.transpose() * z).array().colwise() / nk.array();
    cov_.assign(static_cast<std::size_t>(k), Matrix<double>());
    chol_.assign(static_cast<std::size_t>(k), Matrix<double>());
    log_norm_.resize(k);
    tbb::parallel_for(Index{0}, k, [&](Index c) {
      Matrix<double> diff = z.rowwise() - means_.row(c);
      Matrix<double> cov = (diff.array().colwise() * resp.col(c).array()).matrix().transpose() * diff / nk(c);
      cov = 0.5 * (cov + cov.transpose());
      cov.diagonal().array() += reg;
      Eigen::LLT<Eigen::MatrixXd> llt(cov);
      detail::require(llt.info() == Eigen::Success,
                      "ExPostGmm::fit: a covariance is not positive definite (raise GmmOptions::reg)");
      Matrix<double> l = llt.matrixL();
      double logdet = 0;
      for (Index j = 0; j < d; ++j) logdet += 2 * std::log(l(j, j));
      log_norm_(c) = std::log(weights_(c)) - 0.5 * (static_cast<double>(d) * std::log(2 * std::numbers::pi) + logdet);
      cov_[static_cast<std::size_t>(c)] = std::move(cov);
      chol_[static_cast<std::size_t>(c)] = std::move(l);
    });
  }
};

/// Settings of ExPostFlow::fit (defaults: the decoupled prior's flow, K = 6 affine coupling
/// blocks of width 64, and Adam at 1e-3).
struct FlowFitOptions {
  Index blocks = 6;      ///< coupling blocks K
  Index hidden = 64;     ///< width of each block's conditioner networks
  Index steps = 4000;    ///< Adam steps
  Index batch = 512;     ///< draws of q(z) per step (fresh draws every step)
  double lr = 1e-3;      ///< Adam learning rate (β 0.9, 0.999)
  std::uint64_t seed = 1;
};

/// A density p(z) = N(f(s(z)); 0, I) |det ∂f/∂u|_{u = s(z)} Π_j 1/σ_j on R^d: a fixed
/// standardisation s(z) = (z − m) / σ (m, σ: the mean and standard deviation of the data it
/// was fitted to, per dimension) followed by a coupling flow f (prior/priors.hpp), fitted by
/// maximum likelihood (docs/math.md "Ex-post samplers"). Parameters and arithmetic in double.
class ExPostFlow {
 public:
  using FlowPrior = Prior<Decoupled<AffineCouplingBlock, dynamic_blocks>, double>;

  /// Fits to the aggregate posterior of N posteriors q(z|x_i) = N(μ_i, diag exp(logvar_i))
  /// (N × d each, rows are points): each step draws `batch` indices uniformly and one
  /// z ~ q(z|x_i) for each, and takes an Adam step on the mean negative log-likelihood
  /// −(1/B) Σ log p(z) (nats). m and σ are q(z)'s exact mean and standard deviation per
  /// dimension. Deterministic for a seed (one thread; the batch is small). Throws
  /// dpvae::Error for mismatched shapes, no points, a non-finite value or bad options.
  static ExPostFlow fit_to_posteriors(const Matrix<double>& mu, const Matrix<double>& logvar, const FlowFitOptions& o = {}) {
    detail::require(mu.rows() == logvar.rows() && mu.cols() == logvar.cols(),
                    "ExPostFlow::fit: the means and log-variances differ in shape");
    detail::require(logvar.allFinite(), "ExPostFlow::fit: the log-variances are not all finite");
    return fit(mu, &logvar, o);
  }
  /// Fits to the N × d points `z` themselves (each step a uniform minibatch of them); m and σ
  /// are their mean and standard deviation. Throws as fit_to_posteriors.
  static ExPostFlow fit_to_points(const Matrix<double>& z, const FlowFitOptions& o = {}) { return fit(z, nullptr, o); }

  /// log p(z) per row of the n × d `z` (nats), exact (the flow's log-det and the
  /// standardisation's −Σ_j log σ_j included).
  Vector<double> log_prob(const Matrix<double>& z) const {
    check(z, "log_prob");
    return flow_.log_prob(standardise(z)).array() - log_scale_sum_;
  }
  /// log N(f(s(z)); 0, I) per row (nats): the density in the sampler's generation space,
  /// without the log-dets, the analogue of the decoupled prior's (docs/math.md "Leakage score").
  Vector<double> log_generation_density(const Matrix<double>& z) const {
    check(z, "log_generation_density");
    return log_standard_normal(flow_.forward(standardise(z)).first);
  }
  /// n draws (n × d): s⁻¹(f⁻¹(z0)), z0 ~ N(0, I).
  Matrix<double> sample(Index n, Rng& rng) const {
    detail::require(n >= 0, "ExPostFlow::sample: n must be >= 0");
    Matrix<double> u = flow_.sample(n, rng);
    return (u.array().rowwise() * scale_.transpose().array()).rowwise() + shift_.transpose().array();
  }
  /// The mean negative log-likelihood −(1/n) Σ log p(s(z_i)) of standardised points `u`
  /// (n × d; nats, without the standardisation's constant) and its gradient with respect to
  /// the flow's parameters, written to `grad` (num_parameters() values). The objective
  /// fit() minimises; exposed for the finite-difference test of its backward pass.
  double loss_and_gradient(const Matrix<double>& u, std::span<double> grad) {
    detail::require(static_cast<Index>(grad.size()) == flow_.num_parameters(), "ExPostFlow: gradient of the wrong size");
    const Index n = u.rows();
    std::fill(grad.begin(), grad.end(), 0.0);
    FlowPrior::Tape& t = tape_;
    flow_.forward(u, t.z0, t.logdet, t);
    const double loss = -(log_standard_normal(t.z0) + t.logdet).mean();
    // L = (1/n) Σ_i [½‖z0_i‖² + (d/2) log 2π − logdet_i]: ∂L/∂z0 = z0 / n, ∂L/∂logdet = −1/n.
    t.dz0 = t.z0 / static_cast<double>(n);
    t.dlogdet = Vector<double>::Constant(n, -1.0 / static_cast<double>(n));
    const std::span<double> own = flow_.gradients();
    flow_.bind(flow_.parameters(), grad);
    flow_.backward_forward(t, t.dz0, t.dlogdet, nullptr);
    flow_.bind(flow_.parameters(), own);
    return loss;
  }

  Index dim() const { return flow_.dim(); }
  Index num_parameters() const { return flow_.num_parameters(); }
  /// The flow's parameters (mutable, e.g. for a finite-difference test).
  std::span<double> parameters() { return flow_.parameters(); }
  const FlowPrior& flow() const { return flow_; }
  const Vector<double>& shift() const { return shift_; }  ///< m (d)
  const Vector<double>& scale() const { return scale_; }  ///< σ (d)
  /// The mean negative log-likelihood of each fitting step's batch (nats, in z: the
  /// standardisation's constant included).
  const std::vector<double>& loss_history() const { return history_; }
  /// s(z) = (z − m) / σ per row.
  Matrix<double> standardise(const Matrix<double>& z) const {
    return (z.array().rowwise() - shift_.transpose().array()).rowwise() / scale_.transpose().array();
  }

  /// An unfitted sampler (identity flow at initialisation, m = 0, σ = 1): for tests.
  ExPostFlow(Index dim, const FlowFitOptions& o)
      : flow_(dim, o.seed, o.hidden, o.blocks), shift_(Vector<double>::Zero(dim)), scale_(Vector<double>::Ones(dim)) {}
  ExPostFlow(const ExPostFlow& other)
      : flow_(other.flow_), shift_(other.shift_), scale_(other.scale_), log_scale_sum_(other.log_scale_sum_),
        history_(other.history_) {}
  ExPostFlow(ExPostFlow&&) noexcept = default;
  ExPostFlow& operator=(const ExPostFlow&) = delete;
  ExPostFlow& operator=(ExPostFlow&&) noexcept = default;

 private:
  FlowPrior flow_;
  Vector<double> shift_, scale_;
  double log_scale_sum_ = 0;
  FlowPrior::Tape tape_;
  std::vector<double> history_;

  void check(const Matrix<double>& z, const char* who) const {
    detail::require(z.cols() == dim(), std::string("ExPostFlow::") + who + ": points of " + std::to_string(z.cols()) +
                                           " dimensions for a " + std::to_string(dim()) + "-d flow");
  }

  static ExPostFlow fit(const Matrix<double>& mu, const Matrix<double>* logvar, const FlowFitOptions& o) {
    const Index n = mu.rows(), d = mu.cols();
    detail::require(n >= 2 && d >= 1, "ExPostFlow::fit: needs at least 2 points of dimension >= 1");
    detail::require(mu.allFinite(), "ExPostFlow::fit: the points are not all finite");
    detail::require(o.blocks >= 1 && o.hidden >= 1 && o.steps >= 0 && o.batch >= 1 && o.lr > 0 && std::isfinite(o.lr),
                    "ExPostFlow::fit: blocks, hidden and batch must be >= 1, steps >= 0 and lr > 0");
    ExPostFlow f(d, o);
    // q(z)'s moments: E z = mean μ_i; Var z_j = mean (μ_ij² + σ_ij²) − (E z_j)².
    f.shift_ = mu.colwise().mean().transpose();
    Vector<double> second = mu.array().square().colwise().mean().transpose();
    if (logvar) second += logvar->array().exp().colwise().mean().transpose().matrix();
    f.scale_ = (second - f.shift_.cwiseAbs2()).cwiseMax(0.0).cwiseSqrt();
    for (Index j = 0; j < d; ++j)
      if (!(f.scale_(j) > 1e-12)) f.scale_(j) = 1.0;  // a constant dimension: no rescaling
    f.log_scale_sum_ = f.scale_.array().log().sum();
    Adam<double> adam(static_cast<std::size_t>(f.num_parameters()), AdamConfig{.lr = o.lr});
    AlignedBuffer<double> grad(static_cast<std::size_t>(f.num_parameters()), 0.0);
    Rng rng(o.seed ^ 0xF1011ull);
    Matrix<double> z(o.batch, d);
    f.history_.reserve(static_cast<std::size_t>(o.steps));
    for (Index step = 0; step < o.steps; ++step) {
      for (Index r = 0; r < o.batch; ++r) {
        const auto i = static_cast<Index>(rng.below(static_cast<std::uint64_t>(n)));
        for (Index j = 0; j < d; ++j)
          z(r, j) = mu(i, j) + (logvar ? std::exp(0.5 * (*logvar)(i, j)) * rng.normal() : 0.0);
      }
      const double loss = f.loss_and_gradient(f.standardise(z), grad);
      detail::require(std::isfinite(loss), "ExPostFlow::fit: the loss is not finite at step " + std::to_string(step + 1) +
                                               " (lower FlowFitOptions::lr)");
      f.history_.push_back(loss + f.log_scale_sum_);
      adam.step(f.parameters(), grad);
    }
    return f;
  }
};

}  // namespace dpvae
