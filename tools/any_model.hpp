// tools/any_model.hpp — the command-line program's view of a model: one of the statically
// typed DpVae<Regularizer, Prior> types (every regularizer of dpvae::Regularizers × both
// priors) behind a small virtual interface, so that the program's loops are compiled once
// and each model type once (one generated translation unit per regularizer: tools/CMakeLists.txt).
#pragma once

#include <dpvae/dpvae.hpp>

#include <memory>
#include <string>

namespace dpvae::cli {

class AnyModel {
 public:
  virtual ~AnyModel() = default;
  virtual Terms train_step(const Matrix<float>& x) = 0;
  /// Counts a skipped step (after train_step threw NumericalError): step() advances only.
  virtual void skip_step() = 0;
  /// train_step in two halves for data-parallel training (DpVae::prepare_step, apply_step).
  virtual Terms prepare_step(const Matrix<float>& x) = 0;
  virtual void apply_step() = 0;
  virtual std::span<float> gradients() = 0;
  virtual std::span<float> objective_gradients() = 0;
  virtual void set_noise_shard(Index offset, Index total) = 0;
  /// (μ, log σ²) of q(z|x), n × d each.
  virtual std::pair<Matrix<float>, Matrix<float>> encode(const Matrix<float>& x) const = 0;
  /// E[x|z], n × D.
  virtual Matrix<float> decode(const Matrix<float>& z) const = 0;
  /// z = f⁻¹(z0), z0 ~ N(0, I): samples of the prior in the representation space.
  virtual Matrix<float> prior_sample(Index n, Rng& rng) const = 0;
  virtual Vector<float> prior_log_prob(const Matrix<float>& z) const = 0;
  virtual Matrix<float> prior_forward(const Matrix<float>& z) const = 0;
  virtual Matrix<float> prior_inverse(const Matrix<float>& z0) const = 0;
  /// log p_θ(x|z) per row with the likelihood's normaliser, and log p_ψ(z) (nats; DpVae's).
  virtual Vector<double> log_likelihood(const Matrix<float>& x, const Matrix<float>& z) const = 0;
  virtual Vector<double> log_prior(const Matrix<float>& z) const = 0;
  virtual void write_state(io::File& f) const = 0;
  virtual void read_state(const io::File& f, const std::string& path) = 0;
  virtual std::uint64_t step() const = 0;
  virtual std::string identity() const = 0;
  virtual Index latent_dim() const = 0;
  virtual bool decoupled() const = 0;
  virtual std::span<float> parameters() = 0;
};

/// The model for an objective name (any of dpvae::Regularizers) and a prior name (standard,
/// decoupled), with the objective's hyperparameters set from `hyper` (the rest at their
/// defaults). Throws dpvae::Error for unknown names, a hyperparameter the objective does not
/// have, or an invalid value.
std::unique_ptr<AnyModel> make_model(const std::string& objective, const std::string& prior, const ModelConfig& config,
                                     const HyperparameterValues& hyper);

/// make_model for one regularizer; defined in model_factory.hpp and instantiated once per
/// regularizer in its own generated translation unit.
template <class Reg>
std::unique_ptr<AnyModel> make_for(const std::string& prior, const ModelConfig& c, const HyperparameterValues& hyper);

}  // namespace dpvae::cli
