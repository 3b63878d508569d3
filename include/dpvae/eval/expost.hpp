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
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/eval/metrics.hpp"
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

}  // namespace dpvae
