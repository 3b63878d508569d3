// dpvae/any_model.hpp — the library's models chosen at run time, precompiled: every
// regularizer of dpvae::Regularizers × both priors (float) behind one interface, AnyModel,
// built by name (make_model) or from a checkpoint alone (load_model).
//
//     auto model = dpvae::load_model("run/model.safetensors");  // type, config, state: all from the file
//     dpvae::Rng rng(1);
//     dpvae::Matrix<float> x = model->sample(16, rng);
//
// Unlike the rest of dpvae this part is compiled: link dpvae::models (a static library built
// with dpvae; CMake option DPVAE_MODELS). A translation unit that includes only this header
// compiles in seconds, where one that instantiates a DpVae type takes 15–20 s (g++ 12, -O2),
// so a program that needs the common models through one interface builds fast. For a model
// type of your own (another encoder, a double model, Coupling<K> with K fixed at compile
// time) use DpVae directly (dpvae/model.hpp); its checkpoints load here as long as they are
// one of the types below (docs/extending.md "Use the precompiled models").
#pragma once

#include "dpvae/io/checkpoint.hpp"
#include "dpvae/io/safetensors.hpp"
#include "dpvae/model.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dpvae {

/// A model DpVae<Reg, Prior<StandardNormal>> or DpVae<Reg, Prior<AffineCoupling<dynamic_blocks>>>
/// (config().flow_blocks coupling blocks), Reg any of dpvae::Regularizers, float, behind
/// virtual functions. Each function is DpVae's of the same name (model.hpp states the math,
/// the shapes and what throws); rows are points throughout.
class AnyModel {
 public:
  virtual ~AnyModel() = default;

  // --- what the model is -------------------------------------------------------------------
  /// The objective's name ("beta-tc", …; objective_infos()) and the prior's ("standard", "decoupled").
  virtual std::string objective_name() const = 0;
  virtual std::string prior_name() const = 0;
  virtual bool decoupled() const = 0;
  virtual const ModelConfig& config() const = 0;
  /// The objective's hyperparameters (key → value text), as the checkpoint records them.
  virtual HyperparameterValues hyperparameters() const = 0;
  /// Sets the objective's hyperparameters named in `values` (the others keep theirs). Throws
  /// dpvae::Error for a key the objective does not have or a value outside its range, with
  /// the command line's one-line message; the model is unchanged then.
  virtual void set_hyperparameters(const HyperparameterValues& values) = 0;
  /// DpVae::settings(): every setting that changes the math, as load() compares them.
  virtual std::vector<std::pair<std::string, std::string>> settings() const = 0;
  virtual std::string identity() const = 0;
  virtual Index latent_dim() const = 0;
  virtual Index data_dim() const = 0;
  virtual std::uint64_t step() const = 0;

  // --- training ----------------------------------------------------------------------------
  /// One Adam step on the batch x (n × D); the named terms (nats). Throws NumericalError
  /// (nothing updated) or dpvae::Error for a batch that does not fit.
  virtual Terms train_step(const Matrix<float>& x) = 0;
  /// Counts a skipped step (after train_step threw NumericalError): step() advances only.
  virtual void skip_step() = 0;
  /// train_step in two halves for data-parallel training (DpVae::prepare_step, apply_step).
  virtual Terms prepare_step(const Matrix<float>& x) = 0;
  virtual void apply_step() = 0;
  virtual std::span<float> gradients() = 0;
  virtual std::span<float> objective_gradients() = 0;
  virtual void set_noise_shard(Index offset, Index total) = 0;
  /// The flat parameter buffer [encoder | decoder | prior].
  virtual std::span<float> parameters() = 0;

  // --- inference -----------------------------------------------------------------------------
  /// (μ, log σ²) of q(z|x), n × d each.
  virtual std::pair<Matrix<float>, Matrix<float>> encode(const Matrix<float>& x) const = 0;
  /// E[x|z], n × D.
  virtual Matrix<float> decode(const Matrix<float>& z) const = 0;
  /// n samples decoded to E[x|z]: z0 ~ N(0, I), z = f⁻¹(z0) (docs/math.md "Sampling"); n ≥ 1.
  virtual Matrix<float> sample(Index n, Rng& rng) const = 0;
  /// z = f⁻¹(z0), z0 ~ N(0, I): samples of the prior in the representation space, n × d.
  virtual Matrix<float> prior_sample(Index n, Rng& rng) const = 0;
  /// log p_ψ(z) per row (nats, the flow's log-det included), in the model's float.
  virtual Vector<float> prior_log_prob(const Matrix<float>& z) const = 0;
  /// z0 = f(z) and z = f⁻¹(z0) (the identity for the standard prior).
  virtual Matrix<float> prior_forward(const Matrix<float>& z) const = 0;
  virtual Matrix<float> prior_inverse(const Matrix<float>& z0) const = 0;
  /// log p_θ(x|z) per row with the likelihood's normaliser, and log p_ψ(z) (nats, double).
  virtual Vector<double> log_likelihood(const Matrix<float>& x, const Matrix<float>& z) const = 0;
  virtual Vector<double> log_prior(const Matrix<float>& z) const = 0;

  // --- state ---------------------------------------------------------------------------------
  /// write_checkpoint / read_checkpoint (io/checkpoint.hpp) on an io::File.
  virtual void write_state(io::File& f) const = 0;
  virtual void read_state(const io::File& f, const std::string& path) = 0;
  /// dpvae::save / dpvae::load: atomic write; a load refuses another model's file naming the
  /// first difference, and leaves the model unchanged then.
  void save(const std::filesystem::path& path) const {
    io::File f;
    write_state(f);
    io::save(path, f);
  }
  void load(const std::filesystem::path& path) { read_state(io::load(path), path.string()); }
};

/// The model of an objective named at run time (any of dpvae::Regularizers: objective_infos())
/// and a prior ("standard" or "decoupled", with config.flow_blocks coupling blocks), with the
/// objective's hyperparameters set from `hyper` (the rest at their defaults), initialised
/// from config.seed. Throws dpvae::Error for an unknown name (listing the known ones), a
/// hyperparameter the objective does not have, an invalid value or config.
std::unique_ptr<AnyModel> make_model(const std::string& objective, const std::string& prior, const ModelConfig& config,
                                     const HyperparameterValues& hyper = {});

/// The ModelConfig recorded in a checkpoint's "config.<key>" metadata (io/checkpoint.hpp).
/// Throws dpvae::Error naming `path` and the first missing or malformed entry, or saying that
/// the file predates recorded configs (then build the model and call dpvae::load).
ModelConfig checkpoint_config(const io::File& file, const std::string& path);

/// Rebuilds the model a checkpoint was saved from — its objective, prior, hyperparameters and
/// config all read from the file — and restores its whole state (parameters, Adam moments,
/// RNG, step), so that it continues bit-identically to the saved model. Throws dpvae::Error
/// naming `path` and the problem: not readable, not a dpvae checkpoint, a model type outside
/// this set (a double model, another encoder), a missing or malformed entry.
std::unique_ptr<AnyModel> load_model(const std::filesystem::path& path);

}  // namespace dpvae
