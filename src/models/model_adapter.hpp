// src/models/model_adapter.hpp — the definition of make_for<Reg>: both priors' model types of
// one regularizer behind AnyModel. Included only by the generated per-regularizer translation
// units of dpvae::models (CMakeLists.txt), so that each model type is compiled once.
#pragma once

#include <dpvae/any_model.hpp>

namespace dpvae::detail {

template <class Model>
class ModelAdapter final : public AnyModel {
 public:
  ModelAdapter(const ModelConfig& c, typename Model::Objective o) : m_(c, std::move(o)) {}
  std::string objective_name() const override { return Model::objective_name(); }
  std::string prior_name() const override { return Model::prior_name(); }
  bool decoupled() const override { return Model::is_decoupled; }
  const ModelConfig& config() const override { return m_.config(); }
  HyperparameterValues hyperparameters() const override {
    HyperparameterValues v;
    for_each_hyperparameter<typename Model::Objective>(
        [&](const auto& h) { v[h.key] = hyperparameter_text(m_.objective(), h); });
    return v;
  }
  void set_hyperparameters(const HyperparameterValues& values) override {
    // Set in place and restore the previous values if one is refused (copying the objective
    // would copy FactorVAE's discriminator with views into the original's buffers).
    HyperparameterValues before = hyperparameters();
    try {
      apply_hyperparameters(m_.objective(), values);
      m_.objective().validate();
    } catch (...) {
      apply_hyperparameters(m_.objective(), before);
      throw;
    }
  }
  std::vector<std::pair<std::string, std::string>> settings() const override { return m_.settings(); }
  std::string identity() const override { return m_.identity(); }
  Index latent_dim() const override { return m_.latent_dim(); }
  Index data_dim() const override { return m_.data_dim(); }
  std::uint64_t step() const override { return m_.step(); }

  Terms train_step(const Matrix<float>& x) override { return m_.train_step(x); }
  void skip_step() override { m_.skip_step(); }
  Terms prepare_step(const Matrix<float>& x) override { return m_.prepare_step(x); }
  void apply_step() override { m_.apply_step(); }
  std::span<float> gradients() override { return m_.gradients(); }
  std::span<float> objective_gradients() override { return m_.objective_gradients(); }
  void set_noise_shard(Index offset, Index total) override { m_.set_noise_shard(offset, total); }
  std::span<float> parameters() override { return m_.parameters(); }

  std::pair<Matrix<float>, Matrix<float>> encode(const Matrix<float>& x) const override { return m_.encode(x); }
  Matrix<float> decode(const Matrix<float>& z) const override { return m_.decode(z); }
  Matrix<float> sample(Index n, Rng& rng) const override { return m_.sample(n, rng); }
  Matrix<float> prior_sample(Index n, Rng& rng) const override { return m_.prior().sample(n, rng); }
  Vector<float> prior_log_prob(const Matrix<float>& z) const override { return m_.prior().log_prob(z); }
  Matrix<float> prior_forward(const Matrix<float>& z) const override { return m_.prior().forward(z).first; }
  Matrix<float> prior_inverse(const Matrix<float>& z0) const override { return m_.prior().inverse(z0); }
  Vector<double> log_likelihood(const Matrix<float>& x, const Matrix<float>& z) const override {
    return m_.log_likelihood(x, z);
  }
  Vector<double> log_prior(const Matrix<float>& z) const override { return m_.log_prior(z); }

  void write_state(io::File& f) const override { write_checkpoint(m_, f); }
  void read_state(const io::File& f, const std::string& path) override { read_checkpoint(m_, f, path); }

 private:
  Model m_;
};

/// make_model for one regularizer (both priors); instantiated once per regularizer.
template <class Reg>
std::unique_ptr<AnyModel> make_for(const std::string& prior, const ModelConfig& c, const HyperparameterValues& hyper) {
  using Decoupled = DpVae<Reg, Prior<AffineCoupling<dynamic_blocks>>>;
  using Standard = DpVae<Reg, Prior<StandardNormal>>;
  typename Reg::template policy<float> o;
  apply_hyperparameters(o, hyper);
  if (prior == "decoupled") return std::make_unique<ModelAdapter<Decoupled>>(c, std::move(o));
  if (prior == "standard") return std::make_unique<ModelAdapter<Standard>>(c, std::move(o));
  fail("unknown prior '" + prior + "' (expected standard or decoupled)");
}

}  // namespace dpvae::detail
