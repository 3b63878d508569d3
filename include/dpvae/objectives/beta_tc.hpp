// dpvae/objectives/beta_tc.hpp — β-TCVAE: loss = R + α·I + β·TC + γ·DWKL with
// minibatch-weighted (mws) or minibatch stratified (mss) sampling of log q(z) and its
// marginals (Chen et al. 2018; docs/math.md "β-TCVAE"):
//   I    = mean[log q(z|x) − log q(z)],
//   TC   = mean[log q(z) − log Π_k q(z_k)],
//   DWKL = mean[log Π_k q(z_k) − log p(z)];
// with the decoupled prior log p includes the flow's log-det and DWKL may be negative.
// I + TC + DWKL = the mean one-sample KL, logged as "kl".
#pragma once

#include "dpvae/objectives/common.hpp"

namespace dpvae::objective {

template <class T>
struct BetaTC : ObjectiveBase<T> {
  static constexpr const char* name = "beta-tc";
  static constexpr const char* display_standard = "β-TCVAE";
  static constexpr const char* display_decoupled = "β-TC-dpVAE";
  static constexpr OfficialRun official_run{1e-4, 100, 10.0};
  /// The estimator's log q(z) needs the data-set size M (ModelConfig::dataset_size).
  static constexpr bool uses_dataset_size = true;
  double alpha = 1.0, beta = 6.0, gamma = 1.0;
  TcEstimator tc_estimator = TcEstimator::mws;
  static constexpr auto hyperparameters() {
    return std::tuple{
        hyperparameter("alpha", &BetaTC::alpha, "beta-tc: the mutual-information weight α", 0.0, kInf, 0.01),
        hyperparameter("beta", &BetaTC::beta, "beta-tc: the total-correlation weight β", 0.0, kInf, 0.04),
        hyperparameter("gamma", &BetaTC::gamma, "beta-tc: the dimension-wise KL weight γ", 0.0, kInf, 0.15),
        choice("tc_estimator", &BetaTC::tc_estimator,
               "beta-tc: the estimator of log q(z) and its marginals, mws (minibatch-weighted) or mss "
               "(minibatch stratified; docs/math.md \"β-TCVAE\")",
               TcEstimator::mws)};
  }
  void validate() const { validate_hyperparameters(*this); }

  template <class P>
  struct Workspace {
    typename P::Tape flow;
  };
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g, Workspace<P>& ws) {
    const Index n = b.z.rows(), d = b.z.cols();
    const Vector<T> log_qzx = log_gaussian_diag(b.z, b.mu, b.logvar);
    mws_.forward(b.z, b.mu, b.logvar, b.dataset_size, tc_estimator);
    prior.forward(b.z, z0_, logdet_, ws.flow);
    const Vector<T> log_pz =
        (-T(0.5) * z0_.rowwise().squaredNorm().array() - T(0.5 * kLog2Pi * static_cast<double>(d)) + logdet_.array()).matrix();
    const double mi = static_cast<double>((log_qzx - mws_.log_qz()).mean());
    const double tc = static_cast<double>((mws_.log_qz() - mws_.log_prod_qz()).mean());
    const double dwkl = static_cast<double>((mws_.log_prod_qz() - log_pz).mean());
    const T inv_n = T(1) / T(n);
    const T a = static_cast<T>(alpha), be = static_cast<T>(beta), ga = static_cast<T>(gamma);
    // ∂L/∂log q(z|x) = α/n: ∂/∂z = −(z − μ)/σ², ∂/∂μ = (z − μ)/σ², ∂/∂log σ² = −½ + ½(z − μ)²/σ².
    const auto diff = ((b.z - b.mu).array() * (-b.logvar.array()).exp()).eval();
    g.dz.array() -= a * inv_n * diff;
    g.dmu.array() += a * inv_n * diff;
    g.dlogvar.array() += a * inv_n * (T(0.5) * (b.z - b.mu).array() * diff - T(0.5));
    // ∂L/∂log q(z) = (β − α)/n, ∂L/∂log Π q(z_k) = (γ − β)/n.
    mws_.backward(b.z, b.mu, b.logvar, Vector<T>::Constant(n, (be - a) * inv_n),
                  Vector<T>::Constant(n, (ga - be) * inv_n), g.dz, g.dmu, g.dlogvar);
    // ∂L/∂log p(z) = c = −γ/n, log p = −½‖f(z)‖² + logdet + const.
    const T c = -ga * inv_n;
    dz0_ = (-c * z0_.array()).matrix();
    prior.backward_forward(ws.flow, dz0_, Vector<T>::Constant(n, c), &dz_);
    g.dz += dz_;
    return {{"kl", mi + tc + dwkl}, {"mi", mi}, {"tc", tc}, {"dwkl", dwkl},
            {"latent", alpha * mi + beta * tc + gamma * dwkl}};
  }

 private:
  MinibatchWeighted<T> mws_;
  Matrix<T> z0_, dz0_, dz_;
  Vector<T> logdet_;
};

}  // namespace dpvae::objective
