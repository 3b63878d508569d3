// tools/any_model.hpp — the command-line program's view of a model: one of the twelve
// statically typed DpVae<Regularizer, Prior> types behind a small virtual interface, so
// that the program's loops are compiled once and each model type once (models_*.cpp).
#pragma once

#include <dpvae/dpvae.hpp>

#include <memory>
#include <string>

namespace dpvae::cli {

/// Objective hyperparameters (per sample; SPEC.md "Conventions and defaults").
struct Hyper {
  double beta = 5.0;             // β-VAE-H β; β-TCVAE β (TC weight)
  double gamma = 1000.0;         // β-VAE-B γ; β-TCVAE γ (DWKL weight); FactorVAE γ
  double alpha = 1.0;            // β-TCVAE α (MI weight); InfoVAE α
  double lambda = 1000.0;        // InfoVAE λ
  double c_max = 25.0;           // β-VAE-B capacity (nats)
  double capacity_steps = 1e5;   // β-VAE-B: steps for C to reach c_max
  std::string kernel = "rbf";    // InfoVAE MMD kernel: rbf or imq
  AdamConfig discriminator_adam{1e-4, 0.5, 0.9, 1e-8};
};

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

/// The model for an objective name (vae, beta-h, beta-b, beta-tc, factor, info) and a prior
/// name (standard, decoupled). Throws dpvae::Error for unknown names or invalid values.
std::unique_ptr<AnyModel> make_model(const std::string& objective, const std::string& prior, const ModelConfig& config,
                                     const Hyper& hyper);

namespace detail {
template <class Model>
class ModelAdapter final : public AnyModel {
 public:
  ModelAdapter(const ModelConfig& c, typename Model::Objective o) : m_(c, std::move(o)) {}
  Terms train_step(const Matrix<float>& x) override { return m_.train_step(x); }
  void skip_step() override { m_.skip_step(); }
  Terms prepare_step(const Matrix<float>& x) override { return m_.prepare_step(x); }
  void apply_step() override { m_.apply_step(); }
  std::span<float> gradients() override { return m_.gradients(); }
  std::span<float> objective_gradients() override { return m_.objective_gradients(); }
  void set_noise_shard(Index offset, Index total) override { m_.set_noise_shard(offset, total); }
  std::pair<Matrix<float>, Matrix<float>> encode(const Matrix<float>& x) const override { return m_.encode(x); }
  Matrix<float> decode(const Matrix<float>& z) const override { return m_.decode(z); }
  Matrix<float> prior_sample(Index n, Rng& rng) const override { return m_.prior().sample(n, rng); }
  Vector<float> prior_log_prob(const Matrix<float>& z) const override { return m_.prior().log_prob(z); }
  Matrix<float> prior_forward(const Matrix<float>& z) const override { return m_.prior().forward(z).first; }
  Matrix<float> prior_inverse(const Matrix<float>& z0) const override { return m_.prior().inverse(z0); }
  Vector<double> log_likelihood(const Matrix<float>& x, const Matrix<float>& z) const override {
    return m_.log_likelihood(x, z);
  }
  Vector<double> log_prior(const Matrix<float>& z) const override { return m_.log_prior(z); }
  void write_state(io::File& f) const override { m_.write_state(f); }
  void read_state(const io::File& f, const std::string& path) override { m_.read_state(f, path); }
  std::uint64_t step() const override { return m_.step(); }
  std::string identity() const override { return m_.identity(); }
  Index latent_dim() const override { return m_.latent_dim(); }
  bool decoupled() const override { return Model::is_decoupled; }
  std::span<float> parameters() override { return m_.parameters(); }

 private:
  Model m_;
};

template <class Reg>
std::unique_ptr<AnyModel> make_for(const std::string& prior, const ModelConfig& c, typename Reg::template policy<float> o) {
  using Decoupled = DpVae<Reg, Prior<AffineCoupling<dynamic_blocks>>>;
  using Standard = DpVae<Reg, Prior<StandardNormal>>;
  if (prior == "decoupled") return std::make_unique<ModelAdapter<Decoupled>>(c, std::move(o));
  if (prior == "standard") return std::make_unique<ModelAdapter<Standard>>(c, std::move(o));
  dpvae::detail::fail("unknown prior '" + prior + "' (expected standard or decoupled)");
}

std::unique_ptr<AnyModel> make_vae(const std::string& prior, const ModelConfig& c, const Hyper& h);
std::unique_ptr<AnyModel> make_beta_h(const std::string& prior, const ModelConfig& c, const Hyper& h);
std::unique_ptr<AnyModel> make_beta_b(const std::string& prior, const ModelConfig& c, const Hyper& h);
std::unique_ptr<AnyModel> make_beta_tc(const std::string& prior, const ModelConfig& c, const Hyper& h);
std::unique_ptr<AnyModel> make_factor(const std::string& prior, const ModelConfig& c, const Hyper& h);
std::unique_ptr<AnyModel> make_info(const std::string& prior, const ModelConfig& c, const Hyper& h);
}  // namespace detail

}  // namespace dpvae::cli
