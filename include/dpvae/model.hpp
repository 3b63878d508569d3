// dpvae/model.hpp — the statically composed model DpVae<Regularizer, Prior, Encoder, Decoder>.
//
//     dpvae::DpVae<dpvae::BetaTC, dpvae::Coupling<6>> model(config);   // β-TC-dpVAE
//     dpvae::DpVae<dpvae::BetaTC, dpvae::Prior<dpvae::StandardNormal>> vae(config);  // β-TCVAE
//
// Data flows one way: x → encoder → (μ, log σ²) → z = μ + σ ⊙ ε → decoder → likelihood,
// with the regularizer's latent terms asking the prior; then the hand-written backward
// passes and one Adam step over the model's one flat parameter buffer, laid out as
// [encoder | decoder | prior ψ]. An objective with parameters of its own (FactorVAE's
// discriminator) keeps them, with their optimiser, and takes its auxiliary step through the
// objective interface (objectives/common.hpp); the model names no objective.
//
// The model does no I/O: its state (tensors, counts, RNG) and the settings that fix its
// math are enumerated by visit_state; io/checkpoint.hpp writes and reads checkpoints over it.
#pragma once

#include "dpvae/nn/architecture.hpp"
#include "dpvae/nn/likelihood.hpp"
#include "dpvae/nn/optim.hpp"
#include "dpvae/objectives.hpp"
#include "dpvae/prior.hpp"

#include <tbb/parallel_invoke.h>

#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace dpvae {

/// What an encoder or decoder policy provides: a Network-like type built from an Architecture.
template <class N>
concept NetworkPolicy = requires(N& net, const N& cn, const Matrix<typename N::Scalar>& x,
                                 typename N::Tape& tape, Matrix<typename N::Scalar>* dx, Rng& rng,
                                 std::span<typename N::Scalar> s) {
  typename N::Scalar;
  { cn.num_parameters() } -> std::convertible_to<Index>;
  { cn.input_size() } -> std::convertible_to<Index>;
  { cn.output_size() } -> std::convertible_to<Index>;
  net.bind(s, s);
  cn.init(rng);
  { cn.forward(x, tape) } -> std::convertible_to<const Matrix<typename N::Scalar>&>;
  cn.backward(tape, x, dx);
  requires std::constructible_from<N, const Architecture&>;
};

/// Run-time settings of a model (hyperparameters of the objective live in the objective).
/// Start from images() or vectors(): they set the architecture, the likelihood that suits
/// the data and the data-set size together. The defaults of a bare ModelConfig are the paper's
/// MNIST networks with the Bernoulli likelihood, and no data-set size.
struct ModelConfig {
  Architecture architecture;
  Likelihood likelihood;
  AdamConfig adam;
  double dataset_size = 0;       // M, the number of training points (0: not set); β-TCVAE's
                                 // minibatch-weighted sampling needs it and refuses 0
  Index flow_hidden = 64;        // width of each flow block's nets (FlowBlockConfig::hidden)
  Index flow_blocks = 6;         // coupling blocks, for any Prior<Decoupled<Block, dynamic_blocks>>
  double logvar_min = -30.0;     // log σ² is clamped to [logvar_min, logvar_max]
  double logvar_max = 20.0;
  std::uint64_t seed = 0;
  /// Images of height × width × channels (one per row, channels last, values in [0, 1]):
  /// the paper's convolutional networks and the Bernoulli likelihood; `dataset_size` training images.
  static ModelConfig images(Index height, Index width, Index channels, Index latent_dim, double dataset_size) {
    ModelConfig c;
    c.architecture = Architecture::conv_images(height, width, channels, latent_dim);
    c.likelihood = Likelihood::bernoulli();
    c.dataset_size = dataset_size;
    c.validate();
    return c;
  }
  /// Real-valued vectors of `dim` values: the paper's two-moons MLP (dim → 100 → 50 → 2d) and
  /// the Gaussian likelihood with noise standard deviation `noise_sd` (weight w = 1/(2 sd²);
  /// the paper's two-moons uses sd = 0.1, w = 50); `dataset_size` training points.
  static ModelConfig vectors(Index dim, Index latent_dim, double dataset_size, double noise_sd = 0.1) {
    detail::require(std::isfinite(noise_sd) && noise_sd > 0, "ModelConfig::vectors: the noise sd must be positive");
    ModelConfig c;
    c.architecture = Architecture::mlp(dim, latent_dim);
    c.likelihood = Likelihood::gaussian(1.0 / (2.0 * noise_sd * noise_sd));
    c.dataset_size = dataset_size;
    c.validate();
    return c;
  }
  /// Every field as (key, text) pairs, numbers in their shortest round-trip form, so that
  /// from_entries(entries()) rebuilds an equal config. A checkpoint records them as
  /// "config.<key>" (io/checkpoint.hpp), which lets dpvae::load_model rebuild the model.
  std::vector<std::pair<std::string, std::string>> entries() const {
    using detail::format_number;
    const auto num = [](Index v) { return std::to_string(v); };
    std::vector<std::pair<std::string, std::string>> e;
    const Architecture& a = architecture;
    e.emplace_back("architecture", a.name());
    if (a.kind == Architecture::Kind::conv) {
      e.emplace_back("architecture.height", num(a.height));
      e.emplace_back("architecture.width", num(a.width));
      e.emplace_back("architecture.channels", num(a.channels));
      e.emplace_back("architecture.conv_channels", num(a.conv_channels));
      e.emplace_back("architecture.fc_width", num(a.fc_width));
      if (a.activation == Activation::leaky_relu) {  // absent: ReLU (and in checkpoints from before the choice)
        e.emplace_back("architecture.activation", "leaky_relu");
        e.emplace_back("architecture.leaky_slope", format_number(a.leaky_slope));
      }
    } else {
      e.emplace_back("architecture.data_dim", num(a.data_dim));
      std::string h;
      for (Index w : a.hidden) h += (h.empty() ? "" : ",") + num(w);
      e.emplace_back("architecture.hidden", h);
    }
    e.emplace_back("latent_dim", num(a.latent_dim));
    e.emplace_back("likelihood", likelihood.name());
    if (likelihood.kind == Likelihood::Kind::gaussian) e.emplace_back("likelihood.weight", format_number(likelihood.weight));
    e.emplace_back("adam.lr", format_number(adam.lr));
    e.emplace_back("adam.beta1", format_number(adam.beta1));
    e.emplace_back("adam.beta2", format_number(adam.beta2));
    e.emplace_back("adam.eps", format_number(adam.eps));
    e.emplace_back("dataset_size", format_number(dataset_size));
    e.emplace_back("flow_hidden", num(flow_hidden));
    e.emplace_back("flow_blocks", num(flow_blocks));
    e.emplace_back("logvar_min", format_number(logvar_min));
    e.emplace_back("logvar_max", format_number(logvar_max));
    e.emplace_back("seed", std::to_string(seed));
    return e;
  }
  /// The config whose entries() are `get(key)` for each key; `get` returns nullptr for a
  /// missing key. Throws dpvae::Error naming the first missing or malformed entry (as
  /// `where` + ": config." + key …), or the rule the rebuilt config breaks (validate()).
  template <class Get>
  static ModelConfig from_entries(Get&& get, const std::string& where) {
    const auto text = [&](const std::string& key) -> const std::string& {
      const std::string* v = get(key);
      if (v == nullptr) detail::fail(where + ": the entry config." + key + " is missing");
      return *v;
    };
    const auto bad = [&](const std::string& key) {
      detail::fail(where + ": the entry config." + key + " = '" + text(key) + "' is not a valid value");
    };
    const auto real = [&](const std::string& key) {
      const std::string& s = text(key);
      double v = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v)) bad(key);
      return v;
    };
    const auto whole = [&](const std::string& key, std::string_view s) {
      long long v = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) bad(key);
      return static_cast<Index>(v);
    };
    const auto count = [&](const std::string& key) {  // sizes: positive and at most 2^20
      const Index v = whole(key, text(key));
      if (v < 1 || v > (Index(1) << 20)) bad(key);
      return v;
    };
    ModelConfig c;
    const std::string& kind = text("architecture");
    if (kind == "conv") {
      c.architecture = Architecture::conv_images(count("architecture.height"), count("architecture.width"),
                                                 count("architecture.channels"), count("latent_dim"));
      c.architecture.conv_channels = count("architecture.conv_channels");
      c.architecture.fc_width = count("architecture.fc_width");
      if (const std::string* act = get(std::string("architecture.activation")); act != nullptr) {
        if (*act == "relu") c.architecture.activation = Activation::relu;
        else if (*act == "leaky_relu") {
          c.architecture.activation = Activation::leaky_relu;
          c.architecture.leaky_slope = real("architecture.leaky_slope");
          if (!(c.architecture.leaky_slope > 0 && c.architecture.leaky_slope < 1)) bad("architecture.leaky_slope");
        } else bad("architecture.activation");
      }
    } else if (kind == "mlp") {
      std::vector<Index> hidden;
      const std::string& h = text("architecture.hidden");
      for (std::size_t b = 0; b <= h.size();) {
        const std::size_t e = std::min(h.find(',', b), h.size());
        const Index w = whole("architecture.hidden", std::string_view(h).substr(b, e - b));
        if (w < 1 || w > (Index(1) << 20)) bad("architecture.hidden");
        hidden.push_back(w);
        b = e + 1;
      }
      c.architecture = Architecture::mlp(count("architecture.data_dim"), count("latent_dim"), std::move(hidden));
    } else {
      bad("architecture");
    }
    const std::string& lik = text("likelihood");
    if (lik == "bernoulli") c.likelihood = Likelihood::bernoulli();
    else if (lik == "gaussian") {
      const double w = real("likelihood.weight");
      if (!(w > 0)) bad("likelihood.weight");
      c.likelihood = Likelihood::gaussian(w);
    }
    else bad("likelihood");
    c.adam.lr = real("adam.lr");
    c.adam.beta1 = real("adam.beta1");
    c.adam.beta2 = real("adam.beta2");
    c.adam.eps = real("adam.eps");
    c.dataset_size = real("dataset_size");
    c.flow_hidden = count("flow_hidden");
    c.flow_blocks = count("flow_blocks");
    c.logvar_min = real("logvar_min");
    c.logvar_max = real("logvar_max");
    {
      const std::string& s = text("seed");
      const auto r = std::from_chars(s.data(), s.data() + s.size(), c.seed);
      if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) bad("seed");
    }
    try {
      c.validate();
    } catch (const Error& e) {
      detail::fail(where + ": the recorded config is not valid: " + e.what());
    }
    return c;
  }
  void validate() const {
    architecture.validate();
    adam.validate();
    detail::require(std::isfinite(dataset_size) && dataset_size >= 0, "the data-set size must be >= 0 (0: not set)");
    detail::require(flow_hidden >= 1, "the coupling nets need a positive width");
    detail::require(flow_blocks >= 1, "the coupling flow needs at least one block");
    detail::require(logvar_min < logvar_max, "the log-variance range is empty");
  }
};

/// A step whose loss or gradient is not finite.
class NumericalError : public Error {
 public:
  using Error::Error;
};

namespace detail {
/// A regularizer policy names its objective for any scalar: `template <class T> using policy`.
template <class R>
concept RegularizerType = requires { typename R::template policy<float>; typename R::template policy<double>; };

/// The paper's encoder/decoder for the prior's scalar type, or void when the prior is not one.
template <class P>
struct default_networks {
  using encoder = void;
  using decoder = void;
};
template <class P>
  requires requires { typename P::Scalar; }
struct default_networks<P> {
  using encoder = Encoder<typename P::Scalar>;
  using decoder = Decoder<typename P::Scalar>;
};

/// Which component of DpVae<Reg, PriorT, Enc, Dec> does not fit (0: all do). Each check runs
/// only once the ones before hold, so a mistake is named once, by one static_assert.
template <class Reg, class P, class E, class D>
constexpr int model_mismatch() {
  if constexpr (!RegularizerType<Reg>) return 1;
  else if constexpr (!PriorType<P>) return 2;
  else if constexpr (!NetworkPolicy<E>) return 3;
  else if constexpr (!NetworkPolicy<D>) return 4;
  else if constexpr (!std::same_as<typename E::Scalar, typename P::Scalar> ||
                     !std::same_as<typename D::Scalar, typename P::Scalar>) return 5;
  else if constexpr (!RegularizerPolicy<typename Reg::template policy<typename P::Scalar>, typename P::Scalar, P>)
    return 6;
  else return 0;
}

/// What DpVae derives from when a component does not fit: nothing, so that the static_assert
/// naming the component is the only error.
struct InvalidModel {
  template <class... A>
  explicit InvalidModel(A&&...) {}
};

template <class Reg, class PriorT, class Enc, class Dec>
class Model;
}  // namespace detail

/// The model: DpVae<Regularizer, Prior[, Encoder, Decoder]> (the class comment is at the
/// top of this file). Every template parameter is checked first, with one message each.
template <class Reg, class PriorT = Coupling<6>, class Enc = typename detail::default_networks<PriorT>::encoder,
          class Dec = typename detail::default_networks<PriorT>::decoder>
class DpVae : public std::conditional_t<detail::model_mismatch<Reg, PriorT, Enc, Dec>() == 0,
                                        detail::Model<Reg, PriorT, Enc, Dec>, detail::InvalidModel> {
  static constexpr int mismatch = detail::model_mismatch<Reg, PriorT, Enc, Dec>();
  static_assert(mismatch != 1,
                "DpVae<Reg, …>: Reg must be a regularizer policy such as dpvae::BetaTC (a type with "
                "`template <class T> using policy`); the common slip is naming the objective itself, "
                "dpvae::objective::BetaTC<float>: write dpvae::BetaTC");
  static_assert(mismatch != 2,
                "DpVae<…, PriorT>: PriorT must be a prior (dpvae::PriorType) such as dpvae::Coupling<6> or "
                "dpvae::Prior<dpvae::StandardNormal>; the common slip is passing a family tag "
                "(dpvae::StandardNormal, dpvae::AffineCoupling<6>): write dpvae::Prior<Tag>");
  static_assert(mismatch != 3, "DpVae<…, Enc, …>: the encoder must model dpvae::NetworkPolicy (e.g. dpvae::Encoder<T>)");
  static_assert(mismatch != 4, "DpVae<…, Dec>: the decoder must model dpvae::NetworkPolicy (e.g. dpvae::Decoder<T>)");
  static_assert(mismatch != 5, "DpVae: the encoder, decoder and prior must share one scalar type (float or double)");
  static_assert(mismatch != 6,
                "DpVae<Reg, …>: Reg::policy<T> must model dpvae::RegularizerPolicy (objectives/common.hpp; "
                "docs/extending.md \"Add a regularizer\")");
  using Base = std::conditional_t<mismatch == 0, detail::Model<Reg, PriorT, Enc, Dec>, detail::InvalidModel>;

 public:
  using Base::Base;
};

namespace detail {
template <class Reg, class PriorT, class Enc, class Dec>
class Model {
 public:
  using Scalar = typename PriorT::Scalar;
  using T = Scalar;
  using PriorType_ = PriorT;
  using Objective = typename Reg::template policy<T>;
  using Workspace = typename Objective::template Workspace<PriorT>;

  static constexpr bool is_decoupled = PriorT::is_decoupled;

  explicit Model(const ModelConfig& config, Objective objective = {})
      : config_(config),
        objective_(std::move(objective)),
        encoder_(config.architecture),
        decoder_(config.architecture),
        prior_(make_prior(config)),
        rng_(config.seed) {
    config_.validate();
    objective_.validate();
    if constexpr (requires { Objective::uses_dataset_size; })
      detail::require(config_.dataset_size >= 1, std::string(Objective::name) +
                                                     ": set ModelConfig::dataset_size, the number of training points "
                                                     "(its estimator of log q(z) depends on it)");
    const Index ne = encoder_.num_parameters(), nd = decoder_.num_parameters(), np = prior_.num_parameters();
    params_.assign(static_cast<std::size_t>(ne + nd + np), T(0));
    grads_.assign(params_.size(), T(0));
    std::span<T> p(params_), g(grads_);
    encoder_.bind(p.subspan(0, static_cast<std::size_t>(ne)), g.subspan(0, static_cast<std::size_t>(ne)));
    decoder_.bind(p.subspan(static_cast<std::size_t>(ne), static_cast<std::size_t>(nd)),
                  g.subspan(static_cast<std::size_t>(ne), static_cast<std::size_t>(nd)));
    prior_.bind(p.subspan(static_cast<std::size_t>(ne + nd)), g.subspan(static_cast<std::size_t>(ne + nd)));
    Rng init_rng(config.seed ^ 0x5EEDC0DEull);
    encoder_.init(init_rng);
    decoder_.init(init_rng);
    prior_.init(init_rng);
    objective_.setup(latent_dim(), init_rng);
    adam_ = Adam<T>(params_.size(), config.adam);
  }
  /// Not copyable (one model owns its buffers and the networks' views of them); movable:
  /// the buffers' storage moves with them, so every view stays valid.
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  // --- access --------------------------------------------------------------------------
  const ModelConfig& config() const { return config_; }
  Index latent_dim() const { return config_.architecture.latent_dim; }
  Index data_dim() const { return config_.architecture.input_size(); }
  Objective& objective() { return objective_; }
  const Objective& objective() const { return objective_; }
  PriorT& prior() { return prior_; }
  const PriorT& prior() const { return prior_; }
  const Enc& encoder() const { return encoder_; }
  const Dec& decoder() const { return decoder_; }
  /// The flat parameter buffer [encoder | decoder | prior] and its gradient buffer.
  std::span<T> parameters() { return params_; }
  std::span<T> gradients() { return grads_; }
  Adam<T>& optimizer() { return adam_; }
  Rng& rng() { return rng_; }
  std::uint64_t step() const { return step_; }
  static constexpr const char* objective_name() { return Objective::name; }
  static constexpr const char* prior_name() { return PriorT::Family::name; }

  // --- inference -----------------------------------------------------------------------
  /// The posterior q(z|x) = N(μ, diag exp(log σ²)) of a batch x (n × D): (μ, log σ²), n × d.
  std::pair<Matrix<T>, Matrix<T>> encode(const Matrix<T>& x) const {
    check_data(x);
    typename Enc::Tape tape;
    const Matrix<T>& h = encoder_.forward(x, tape);
    const Index d = latent_dim();
    return {h.leftCols(d), h.rightCols(d).cwiseMax(T(config_.logvar_min)).cwiseMin(T(config_.logvar_max))};
  }
  /// The decoder output for latents z (n × d): logits (Bernoulli) or means (Gaussian).
  Matrix<T> decode_raw(const Matrix<T>& z) const {
    detail::require(z.rows() >= 1, "decode: the latents have no rows");
    detail::require(z.cols() == latent_dim(), "decode: latents have " + std::to_string(z.cols()) +
                                                  " columns, the latent dimension is " + std::to_string(latent_dim()));
    typename Dec::Tape tape;
    return decoder_.forward(z, tape);
  }
  /// E[x|z] for latents z (n × d): n × D probabilities (Bernoulli) or means (Gaussian).
  Matrix<T> decode(const Matrix<T>& z) const { return config_.likelihood.mean(decode_raw(z)); }
  /// log p_θ(x_i|z_i) per row, with the likelihood's normaliser (nats; x n × D, z n × d):
  /// Bernoulli −Σ_j [softplus(l_j) − x_j l_j]; Gaussian −w‖x − x̂‖² − (D/2) log(π/w).
  Vector<double> log_likelihood(const Matrix<T>& x, const Matrix<T>& z) const {
    check_data(x);
    detail::require(x.rows() == z.rows(), "log_likelihood: x and z have different numbers of rows");
    const Vector<T> loss = config_.likelihood.loss(x, decode_raw(z));
    return (-loss.template cast<double>().array() - config_.likelihood.log_normalizer(data_dim())).matrix();
  }
  /// log p_ψ(z) per row (nats): the prior's exact density, with the flow's log-det.
  Vector<double> log_prior(const Matrix<T>& z) const { return prior_.log_prob(z).template cast<double>(); }
  /// n random samples: z0 ~ N(0, I), z = f⁻¹(z0), decoded to E[x|z] (docs/math.md "Sampling").
  /// Throws dpvae::Error for n < 1.
  Matrix<T> sample(Index n, Rng& rng) const {
    detail::require(n >= 1, "sample: the number of samples must be >= 1 (got " + std::to_string(n) + ")");
    return decode(prior_.sample(n, rng));
  }

  // --- training ------------------------------------------------------------------------
  /// Forward and hand-written backward pass on the batch x (n × D) without an update:
  /// fills gradients() with ∂loss/∂parameters and returns the named per-sample terms
  /// ("loss" first, then "recon" and the objective's terms; nats). Draws ε (and the
  /// objective's prior samples) from rng(). Throws NumericalError naming the step and the
  /// term (steps counted from 1) when the loss or a gradient is not finite.
  Terms compute_gradients(const Matrix<T>& x) {
    check_data(x);
    check_domain(x);
    objective_.validate();  // hyperparameters may have been changed through objective()
    const Index n = x.rows(), d = latent_dim();
    if (n < 2) detail::fail("a training batch needs at least 2 points");
    std::fill(grads_.begin(), grads_.end(), T(0));
    const Matrix<T>& h = encoder_.forward(x, enc_tape_);
    mu_ = h.leftCols(d);
    logvar_ = h.rightCols(d).cwiseMax(T(config_.logvar_min)).cwiseMin(T(config_.logvar_max));
    if (shard_total_ > 0) {  // data-parallel: this batch is rows [offset, offset + n) of the whole
      detail::require(shard_offset_ + n <= shard_total_, "compute_gradients: the shard runs past the sharded batch");
      noise_.resize(shard_total_, d);
      rng_.fill_normal(std::span<T>(noise_.data(), static_cast<std::size_t>(noise_.size())));
      eps_ = noise_.middleRows(shard_offset_, n);
    } else {
      eps_.resize(n, d);
      rng_.fill_normal(std::span<T>(eps_.data(), static_cast<std::size_t>(eps_.size())));
    }
    std_ = (T(0.5) * logvar_.array()).exp().matrix();
    z_ = mu_ + std_.cwiseProduct(eps_);
    // Given z, the decoder's pass (reconstruction term, its gradients, ∂/∂z) and the latent
    // terms (the objective's estimators and the prior's flow) are independent and write
    // disjoint state: their own tapes, their own slices of the gradient buffer, and only the
    // latent side draws from rng_. They run as two tasks, so the flow's small, mostly
    // serial operations overlap the decoder's parallel convolutions; each side is
    // deterministic by itself, so the results do not depend on the number of threads.
    Vector<T> recon;
    Terms latent;
    latent_grads_.reset(n, d);
    const LatentBatch<T> batch{mu_, logvar_, z_, step_, config_.dataset_size};
    tbb::parallel_invoke(
        [&] {
          const Matrix<T>& out = decoder_.forward(z_, dec_tape_);
          recon = config_.likelihood.loss(x, out);
          const Vector<T> weights = Vector<T>::Constant(n, T(1) / T(n));
          config_.likelihood.gradient(x, out, weights, dout_);
          decoder_.backward(dec_tape_, dout_, &dz_);
        },
        [&] { latent = objective_.latent_loss(batch, prior_, rng_, latent_grads_, workspace_); });
    dz_ += latent_grads_.dz;
    dh_.resize(n, 2 * d);
    dh_.leftCols(d) = latent_grads_.dmu + dz_;
    dh_.rightCols(d) = latent_grads_.dlogvar + (T(0.5) * dz_.array() * eps_.array() * std_.array()).matrix();
    // The clamp passes no gradient where it is active.
    const auto raw_logvar = h.rightCols(d).array();
    dh_.rightCols(d) = ((raw_logvar >= T(config_.logvar_min)) && (raw_logvar <= T(config_.logvar_max)))
                           .select(dh_.rightCols(d).array(), T(0)).matrix();
    encoder_.backward(enc_tape_, dh_, nullptr);

    const double recon_mean = static_cast<double>(recon.mean());
    double latent_total = 0;
    for (const auto& [k, v] : latent)
      if (k == "latent") latent_total = v;
    Terms terms;
    terms.emplace_back("loss", recon_mean + latent_total);
    terms.emplace_back("recon", recon_mean);
    for (const auto& kv : latent)
      if (kv.first != "latent") terms.push_back(kv);
    // Name the first non-finite term after the total (the total inherits it).
    for (std::size_t i = 0; i < terms.size(); ++i) {
      const auto& [k, v] = terms[(i + 1) % terms.size()];
      if (!std::isfinite(v))
        throw NumericalError("step " + std::to_string(step_ + 1) + ": the loss term '" + k + "' is not finite (" +
                             std::to_string(v) + ")");
    }
    check_gradients();
    return terms;
  }

  /// One optimisation step on the batch x (n × D): compute_gradients, one Adam step over
  /// the flat buffer, then the objective's auxiliary step if it has one (FactorVAE's
  /// discriminator, on this step's z). Returns the terms of compute_gradients (plus the
  /// auxiliary step's, e.g. "discriminator"). Every loss and gradient (the auxiliary ones
  /// too) is checked before any update: on NumericalError the parameters, every optimiser
  /// state and step() are unchanged (the RNG has advanced), so a caller may skip_step().
  Terms train_step(const Matrix<T>& x) {
    Terms terms = prepare_step(x);
    apply_step();
    return terms;
  }

  /// The first half of train_step: compute_gradients, then the objective's auxiliary
  /// gradients, all checked; nothing is updated. Between the halves a data-parallel caller
  /// all-reduces gradients() and objective_gradients().
  Terms prepare_step(const Matrix<T>& x) {
    Terms terms = compute_gradients(x);
    const Terms aux = objective_.auxiliary_prepare(z_, rng_);
    for (const auto& [k, v] : aux)
      if (!std::isfinite(v))
        throw NumericalError("step " + std::to_string(step_ + 1) + ": the loss term '" + k + "' is not finite (" +
                             std::to_string(v) + ")");
    for (const T g : objective_.auxiliary_gradients())
      if (!std::isfinite(g))
        throw NumericalError("step " + std::to_string(step_ + 1) + ": a gradient of the " + auxiliary_name() +
                             " is not finite");
    terms.insert(terms.end(), aux.begin(), aux.end());
    return terms;
  }
  /// The second half of train_step: one Adam step of the model on gradients(), the
  /// objective's auxiliary step on objective_gradients(), and the step count.
  void apply_step() {
    adam_.step(params_, grads_);
    objective_.auxiliary_apply();
    ++step_;
  }
  /// The gradients of the objective's own parameters (FactorVAE's discriminator), filled by
  /// prepare_step; empty for the other objectives.
  std::span<T> objective_gradients() { return objective_.auxiliary_gradients(); }
  /// Data-parallel training (tools/comm.hpp): the batches given to compute_gradients are rows
  /// [offset, offset + n) of batches of `total` rows split across processes. Every process
  /// then draws the whole batch's noise ε (total × d, from the same RNG stream) and uses its
  /// own rows, so the mean of the shards' gradients equals one process's gradient on the
  /// whole batch (for objectives whose terms are per-sample means) and every process's RNG
  /// stays in step with the others. total = 0 turns it off. Throws Error for offset ∉ [0, total].
  void set_noise_shard(Index offset, Index total) {
    detail::require(offset >= 0 && total >= 0 && offset <= total, "set_noise_shard: the offset lies outside the batch");
    shard_offset_ = offset;
    shard_total_ = total;
  }

  /// Counts a step without an update (a step whose train_step threw NumericalError and
  /// that the caller chose to skip): step() advances, so schedules keyed on the step
  /// (β-VAE-B's capacity) stay on time; parameters and Adam states are untouched.
  void skip_step() { ++step_; }

  /// The posterior sample z = μ + σ ⊙ ε of the last compute_gradients call (n × d).
  const Matrix<T>& last_latent_sample() const { return z_; }

  // --- state -----------------------------------------------------------------------------
  /// Enumerates the model's whole state for a checkpoint visitor v (io/checkpoint.hpp):
  ///   v.tensor(name, std::span<T>, shape)   parameter tensors encoder.*, decoder.*, prior.*
  ///                                         (together the flat buffer, in order), Adam's
  ///                                         moments optimizer.m/v, the objective's own
  ///   v.words(name, std::span<uint64_t>)    the RNG state (rng.state)
  ///   v.count(name, uint64_t&)              step and optimizer.step (and the objective's)
  /// A reading visitor writes through the spans and references; the model then takes the
  /// counts. The settings that fix the math are settings(), the parameter layout identity().
  template <class V>
  void visit_state(V& v) {
    detail::visit_buffer_tensors(v, std::span<T>(params_), [&](auto&& f) { visit_parameter_tensors(f); });
    const std::vector<std::int64_t> flat{static_cast<std::int64_t>(params_.size())};
    v.tensor("optimizer.m", adam_.first_moment(), flat);
    v.tensor("optimizer.v", adam_.second_moment(), flat);
    std::array<std::uint64_t, 6> st = rng_.state();
    v.words("rng.state", std::span<std::uint64_t>(st));
    objective_.visit_state(v);
    std::uint64_t step = step_, adam_step = adam_.steps();
    v.count("step", step);
    v.count("optimizer.step", adam_step);
    rng_.set_state(st);
    adam_.set_steps(adam_step);
    step_ = step;
  }

  /// (name, value) of every setting that changes the model's math: the objective and each
  /// of its hyperparameters (objective.<key>), the prior with its blocks, the architecture,
  /// the latent size, the likelihood, the log-variance clamp, the scalar type, and the
  /// data-set size where the objective's estimator uses it. A checkpoint records them and
  /// loading into a model that differs in any is refused, naming it (io/checkpoint.hpp).
  std::vector<std::pair<std::string, std::string>> settings() const {
    std::vector<std::pair<std::string, std::string>> s;
    s.emplace_back("objective", Objective::name);
    for (auto& [k, v] : hyperparameter_values(objective_)) s.emplace_back("objective." + k, v);
    s.emplace_back("prior", prior_.describe());
    const Architecture& a = config_.architecture;
    s.emplace_back("architecture", a.name());
    s.emplace_back("input_size", std::to_string(a.input_size()));
    s.emplace_back("latent_dim", std::to_string(a.latent_dim));
    const Likelihood& lik = config_.likelihood;
    s.emplace_back("likelihood", lik.kind == Likelihood::Kind::gaussian
                                     ? "gaussian(w=" + detail::format_number(lik.weight) + ")"
                                     : std::string("bernoulli"));
    s.emplace_back("logvar_range", "[" + detail::format_number(config_.logvar_min) + ", " +
                                       detail::format_number(config_.logvar_max) + "]");
    s.emplace_back("scalar", sizeof(T) == 4 ? "f32" : "f64");
    if constexpr (requires { Objective::uses_dataset_size; })
      s.emplace_back("dataset_size", detail::format_number(config_.dataset_size));
    return s;
  }

  /// A string naming everything that fixes the parameter layout.
  std::string identity() const {
    const Architecture& a = config_.architecture;
    std::string s = std::string(Objective::name) + "/" + PriorT::Family::name + "/" + a.name() + "/d=" +
                    std::to_string(a.latent_dim) + "/in=" + std::to_string(a.input_size());
    if constexpr (PriorT::is_decoupled)
      s += "/K=" + std::to_string(prior_.flow().num_blocks()) + "/h=" + std::to_string(config_.flow_hidden);
    s += "/" + std::string(sizeof(T) == 4 ? "f32" : "f64");
    return s;
  }

  /// Calls f(name, offset, shape) for every parameter tensor of the flat buffer, in order:
  /// the encoder's, the decoder's, then the prior's (prior.block<k>.…, named by its blocks).
  template <class F>
  void visit_parameter_tensors(F&& f) const {
    const Index ne = encoder_.num_parameters(), nd = decoder_.num_parameters();
    encoder_.visit_tensors("encoder", [&](const std::string& n, Index o, const auto& s) { f(n, o, s); });
    decoder_.visit_tensors("decoder", [&](const std::string& n, Index o, const auto& s) { f(n, ne + o, s); });
    prior_.visit_tensors("prior", [&](const std::string& n, Index o, const auto& s) { f(n, ne + nd + o, s); });
  }

 private:
  static PriorT make_prior(const ModelConfig& c) {
    if constexpr (PriorT::is_decoupled) return PriorT(c.architecture.latent_dim, c.seed, c.flow_hidden, c.flow_blocks);
    else return PriorT(c.architecture.latent_dim, c.seed);
  }
  std::string auxiliary_name() const {
    if constexpr (requires { Objective::auxiliary_name; }) return Objective::auxiliary_name;
    else return std::string(Objective::name) + " objective's own parameters";
  }
  /// The Bernoulli likelihood is a density for x in [0, 1] only: other data would train to a
  /// meaningless loss without any error. One pass over the batch (negligible beside a step).
  void check_domain(const Matrix<T>& x) const {
    if (config_.likelihood.kind != Likelihood::Kind::bernoulli || x.size() == 0) return;
    const T lo = x.minCoeff(), hi = x.maxCoeff();
    if (!(lo >= T(0) && hi <= T(1)))  // the message is built only on failure (every step runs this)
      detail::fail("the Bernoulli likelihood needs data in [0, 1], this batch has values in [" +
                   detail::format_number(static_cast<double>(lo)) + ", " +
                   detail::format_number(static_cast<double>(hi)) +
                   "] (real-valued data: ModelConfig::vectors or Likelihood::gaussian(w))");
  }
  void check_data(const Matrix<T>& x) const {
    if (x.rows() < 1) detail::fail("the batch has no rows");
    if (x.cols() != data_dim())
      detail::fail("the data have " + std::to_string(x.cols()) + " values per point, the model expects " +
                   std::to_string(data_dim()));
  }
  void check_gradients() const {
    const Index ne = encoder_.num_parameters(), nd = decoder_.num_parameters();
    for (std::size_t i = 0; i < grads_.size(); ++i)
      if (!std::isfinite(grads_[i])) {
        const auto ii = static_cast<Index>(i);
        const char* part = ii < ne ? "encoder" : (ii < ne + nd ? "decoder" : "prior");
        throw NumericalError("step " + std::to_string(step_ + 1) + ": a gradient of the " + part + " is not finite");
      }
  }

  ModelConfig config_;
  Objective objective_;
  Enc encoder_;
  Dec decoder_;
  PriorT prior_;
  AlignedBuffer<T> params_, grads_;
  Adam<T> adam_;
  Rng rng_;
  std::uint64_t step_ = 0;
  Index shard_offset_ = 0, shard_total_ = 0;  // set_noise_shard
  Matrix<T> noise_;
  // per-step buffers, reused
  typename Enc::Tape enc_tape_;
  typename Dec::Tape dec_tape_;
  Matrix<T> mu_, logvar_, eps_, std_, z_, dout_, dz_, dh_;
  LatentGrads<T> latent_grads_;
  Workspace workspace_;  // the objective's scratch (its prior passes)
};

}  // namespace detail

/// The model with the standard normal prior (the regularizer's original VAE).
template <class Reg, class T = float>
using StandardVae = DpVae<Reg, Prior<StandardNormal, T>>;
/// The model with the paper's decoupled prior (6 coupling blocks).
template <class Reg, class T = float>
using DecoupledVae = DpVae<Reg, Coupling<6, T>>;

}  // namespace dpvae
