// dpvae/objectives/dip.hpp — DIP-VAE-I and DIP-VAE-II: loss = R + KL + λ_od·Σ_{j≠k} C_jk² +
// λ_d·Σ_j (C_jj − 1)², with C = Cov[μ] (I) or E[Σ] + Cov[μ] (II) over the batch (Kumar,
// Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent Concepts from
// Unlabeled Observations", ICLR 2018, eqs. 6 and 7 as disentanglement_lib implements them;
// docs/math.md "DIP-VAE-I and DIP-VAE-II"). The penalty acts on the encoder means μ in the
// representation space z; KL is the prior's (the decoupled KL under the decoupled prior).
#pragma once

#include "dpvae/objectives/common.hpp"

namespace dpvae {

/// DIP-VAE's covariance penalty, a batch statistic added once to the per-sample loss (nats;
/// docs/math.md "DIP-VAE-I and DIP-VAE-II"). mu is n × d (rows are points), n ≥ 1:
///     m = (1/n) Σ_i μ_i,   Cov[μ] = (1/n) Σ_i (μ_i − m)(μ_i − m)ᵀ   (population normalisation)
///     C = Cov[μ]                                      (DIP-VAE-I: logvar == nullptr)
///     C = Cov[μ] + diag((1/n) Σ_i σ²_i), σ² = exp(log σ²)  (DIP-VAE-II: logvar is n × d)
///     P = λ_od Σ_{j≠k} C_jk² + λ_d Σ_j (C_jj − 1)²
/// With G = ∂P/∂C (G_jk = 2 λ_od C_jk for j ≠ k, G_jj = 2 λ_d (C_jj − 1); symmetric), it ADDS
///     ∂P/∂μ_i = (2/n) G (μ_i − m)          to the rows of *dmu     (when dmu is given)
///     ∂P/∂log σ²_ij = G_jj σ²_ij / n        to *dlogvar (n × d)    (DIP-VAE-II, when given)
/// and returns P. Computed in double whatever T is.
template <class T>
double dip_penalty(const Matrix<T>& mu, const Matrix<T>* logvar, double lambda_od, double lambda_d,
                   Matrix<T>* dmu = nullptr, Matrix<T>* dlogvar = nullptr) {
  const Index n = mu.rows(), d = mu.cols();
  detail::require(n >= 1, "dip: the penalty needs at least one point");
  detail::require(logvar == nullptr || (logvar->rows() == n && logvar->cols() == d),
                  "dip: μ and log σ² have different shapes");
  const double inv_n = 1.0 / static_cast<double>(n);
  const Matrix<double> mu_d = mu.template cast<double>();
  const Eigen::RowVectorXd mean = mu_d.colwise().mean();
  const Matrix<double> centred = mu_d.rowwise() - mean;                  // n × d
  Matrix<double> c = inv_n * (centred.transpose() * centred);             // d × d, Cov[μ]
  Matrix<double> var;                                                     // σ², n × d (II only)
  if (logvar != nullptr) {
    var = logvar->template cast<double>().array().exp().matrix();
    c.diagonal() += var.colwise().mean().transpose();                     // + E[Σ]
  }
  double off = 0, diag = 0;
  Matrix<double> g(d, d);                                                 // ∂P/∂C
  for (Index j = 0; j < d; ++j)
    for (Index k = 0; k < d; ++k) {
      if (j == k) {
        diag += (c(j, j) - 1) * (c(j, j) - 1);
        g(j, j) = 2 * lambda_d * (c(j, j) - 1);
      } else {
        off += c(j, k) * c(j, k);
        g(j, k) = 2 * lambda_od * c(j, k);
      }
    }
  // Row i of centred · G is (G (μ_i − m))ᵀ, G being symmetric.
  if (dmu != nullptr) *dmu += ((2 * inv_n) * (centred * g)).template cast<T>();
  if (logvar != nullptr && dlogvar != nullptr)
    *dlogvar += (inv_n * (var.array().rowwise() * g.diagonal().transpose().array())).matrix().template cast<T>();
  return lambda_od * off + lambda_d * diag;
}

namespace objective {

/// What DIP-VAE-I (Second = false) and DIP-VAE-II (Second = true) share: the KL with weight 1,
/// the penalty, and the official run. The official code has no DIP-VAE: OfficialRun::exists
/// is false (--preset official refuses it) and the official values equal the defaults.
template <class T, bool Second>
struct DipBase : ObjectiveBase<T> {
  static constexpr OfficialRun official_run{1e-4, 100, 1.0, /*exists=*/false};

  template <class P>
  struct Workspace {
    typename P::Tape kl;
  };
  /// Terms (nats): "kl" (mean KL, weight 1), "dip" (the penalty P, added once), and
  /// "latent" = kl + dip. Accumulates the KL's gradients (through the prior) and the
  /// penalty's ∂P/∂μ (and ∂P/∂log σ² for DIP-VAE-II) into g.
  template <class Self, class P>
  static Terms dip_latent_loss(const Self& self, const LatentBatch<T>& b, const P& prior, LatentGrads<T>& g,
                               Workspace<P>& ws) {
    const double kl = detail::kl_term(b, prior, ws.kl, 1.0, g);
    const double p = dip_penalty(b.mu, Second ? &b.logvar : nullptr, self.lambda_od, self.lambda_d, &g.dmu,
                                 Second ? &g.dlogvar : nullptr);
    return {{"kl", kl}, {"dip", p}, {"latent", kl + p}};
  }
};

/// DIP-VAE-I: C = Cov_batch[μ]; defaults λ_od = 10, λ_d = 10 λ_od = 100 (docs/math.md
/// "DIP-VAE-I and DIP-VAE-II" says why).
template <class T>
struct DipI : DipBase<T, false> {
  static constexpr const char* name = "dip-i";
  static constexpr const char* display_standard = "DIP-VAE-I";
  static constexpr const char* display_decoupled = "DIP-dpVAE-I";
  double lambda_od = 10.0, lambda_d = 100.0;
  static constexpr auto hyperparameters() {
    return std::tuple{
        hyperparameter("lambda_od", &DipI::lambda_od, "dip-i: the weight λ_od of Σ_{j≠k} C_jk², C = Cov[μ]", 0.0,
                       kInf, 10.0),
        hyperparameter("lambda_d", &DipI::lambda_d, "dip-i: the weight λ_d of Σ_j (C_jj − 1)², C = Cov[μ]", 0.0,
                       kInf, 100.0)};
  }
  void validate() const { validate_hyperparameters(*this); }

  /// "kl", "dip" and "latent" = kl + dip (nats), with their gradients (DipBase::dip_latent_loss).
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g,
                    typename DipBase<T, false>::template Workspace<P>& ws) {
    return DipBase<T, false>::dip_latent_loss(*this, b, prior, g, ws);
  }
};

/// DIP-VAE-II: C = Cov_batch[μ] + diag(mean_batch σ²); defaults λ_od = λ_d = 10
/// (docs/math.md "DIP-VAE-I and DIP-VAE-II" says why).
template <class T>
struct DipII : DipBase<T, true> {
  static constexpr const char* name = "dip-ii";
  static constexpr const char* display_standard = "DIP-VAE-II";
  static constexpr const char* display_decoupled = "DIP-dpVAE-II";
  double lambda_od = 10.0, lambda_d = 10.0;
  static constexpr auto hyperparameters() {
    return std::tuple{
        hyperparameter("lambda_od", &DipII::lambda_od,
                       "dip-ii: the weight λ_od of Σ_{j≠k} C_jk², C = E[Σ] + Cov[μ]", 0.0, kInf, 10.0),
        hyperparameter("lambda_d", &DipII::lambda_d, "dip-ii: the weight λ_d of Σ_j (C_jj − 1)², C = E[Σ] + Cov[μ]",
                       0.0, kInf, 10.0)};
  }
  void validate() const { validate_hyperparameters(*this); }

  /// "kl", "dip" and "latent" = kl + dip (nats), with their gradients (DipBase::dip_latent_loss).
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g,
                    typename DipBase<T, true>::template Workspace<P>& ws) {
    return DipBase<T, true>::dip_latent_loss(*this, b, prior, g, ws);
  }
};

}  // namespace objective
}  // namespace dpvae
