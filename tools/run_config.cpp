#include "run_config.hpp"

#include <cmath>
#include <utility>
#include <set>

namespace dpvae::cli {

using nlohmann::json;

json RunConfig::to_json() const {
  return json{{"dataset", dataset},
              {"data_root", data_root},
              {"objective", objective},
              {"prior", prior},
              {"preset", preset},
              {"steps", steps},
              {"batch_size", batch_size},
              {"seed", seed},
              {"threads", threads},
              {"lr", lr},
              {"beta", hyper.beta},
              {"gamma", hyper.gamma},
              {"alpha", hyper.alpha},
              {"lambda", hyper.lambda},
              {"c_max", hyper.c_max},
              {"capacity_steps", hyper.capacity_steps},
              {"kernel", hyper.kernel},
              {"discriminator_lr", hyper.discriminator_adam.lr},
              {"discriminator_beta1", hyper.discriminator_adam.beta1},
              {"discriminator_beta2", hyper.discriminator_adam.beta2},
              {"latent_dim", latent_dim},
              {"flow_blocks", flow_blocks},
              {"likelihood", likelihood},
              {"likelihood_weight", likelihood_weight},
              {"sample_every", sample_every},
              {"checkpoint_every", checkpoint_every},
              {"log_every", log_every},
              {"keep_checkpoints", keep_checkpoints},
              {"skip_nonfinite", skip_nonfinite}};
}

RunConfig RunConfig::from_json(const json& j, const std::string& where) {
  dpvae::detail::require(j.is_object(), where + ": not a JSON object");
  RunConfig c;
  const json ref = c.to_json();
  for (auto it = j.begin(); it != j.end(); ++it)
    dpvae::detail::require(ref.contains(it.key()), where + ": unknown key '" + it.key() + "'");
  auto get = [&](const char* key, auto& out) {
    if (!j.contains(key)) dpvae::detail::fail(where + ": missing key '" + std::string(key) + "'");
    using V = std::decay_t<decltype(out)>;
    if constexpr (std::is_integral_v<V>) {
      const json& v = j.at(key);
      constexpr const char* kind = std::is_signed_v<V> ? "' must be an integer" : "' must be a non-negative integer";
      dpvae::detail::require(v.is_number_integer() && (std::is_signed_v<V> || v.is_number_unsigned()),
                             where + ": key '" + std::string(key) + kind);
      // nlohmann's get<V>() narrows silently: reject values V cannot hold.
      const bool fits = v.is_number_unsigned() ? std::in_range<V>(v.get<std::uint64_t>())
                                               : std::in_range<V>(v.get<std::int64_t>());
      dpvae::detail::require(fits, where + ": key '" + std::string(key) + "' is out of range (" + v.dump() + ")");
    }
    try {
      out = j.at(key).get<V>();
    } catch (const json::exception&) {
      dpvae::detail::fail(where + ": key '" + std::string(key) + "' has the wrong type");
    }
  };
  get("dataset", c.dataset);
  get("data_root", c.data_root);
  get("objective", c.objective);
  get("prior", c.prior);
  get("preset", c.preset);
  get("steps", c.steps);
  get("batch_size", c.batch_size);
  get("seed", c.seed);
  get("threads", c.threads);
  get("lr", c.lr);
  get("beta", c.hyper.beta);
  get("gamma", c.hyper.gamma);
  get("alpha", c.hyper.alpha);
  get("lambda", c.hyper.lambda);
  get("c_max", c.hyper.c_max);
  get("capacity_steps", c.hyper.capacity_steps);
  get("kernel", c.hyper.kernel);
  get("discriminator_lr", c.hyper.discriminator_adam.lr);
  get("discriminator_beta1", c.hyper.discriminator_adam.beta1);
  get("discriminator_beta2", c.hyper.discriminator_adam.beta2);
  get("latent_dim", c.latent_dim);
  get("flow_blocks", c.flow_blocks);
  get("likelihood", c.likelihood);
  get("likelihood_weight", c.likelihood_weight);
  get("sample_every", c.sample_every);
  get("checkpoint_every", c.checkpoint_every);
  get("log_every", c.log_every);
  get("keep_checkpoints", c.keep_checkpoints);
  // Added after the first release: run folders written before it lack the key (false).
  if (j.contains("skip_nonfinite")) {
    dpvae::detail::require(j.at("skip_nonfinite").is_boolean(), where + ": key 'skip_nonfinite' must be true or false");
    c.skip_nonfinite = j.at("skip_nonfinite").get<bool>();
  }
  try {
    c.validate();
  } catch (const Error& e) {
    dpvae::detail::fail(where + ": " + e.what());
  }
  return c;
}

void RunConfig::validate() const {
  using dpvae::detail::require;
  static const std::set<std::string> objectives{"vae", "beta-h", "beta-b", "beta-tc", "factor", "info"};
  require(objectives.count(objective) == 1,
          "unknown objective '" + objective + "' (expected vae, beta-h, beta-b, beta-tc, factor or info)");
  require(prior == "standard" || prior == "decoupled", "unknown prior '" + prior + "' (expected standard or decoupled)");
  require(preset == "default" || preset == "official", "unknown preset '" + preset + "' (expected default or official)");
  require(dataset == "two-moons" || dataset == "mnist" || dataset == "fashion-mnist" || dataset.rfind("idx:", 0) == 0,
          "unknown dataset '" + dataset + "' (expected two-moons, mnist, fashion-mnist or idx:DIR)");
  require(steps > 0 && steps <= 1000000000, "--steps must be in [1, 10^9] (got " + std::to_string(steps) + ")");
  require(batch_size >= 2 && batch_size <= 100000, "--batch-size must be in [2, 100000] (got " + std::to_string(batch_size) + ")");
  require(threads >= 0 && threads <= 1024, "--threads must be in [0, 1024] (0 = all cores)");
  require(std::isfinite(lr) && lr > 0 && lr < 1, "--lr must be in (0, 1)");
  auto nonneg = [&](double v, const char* name) {
    require(std::isfinite(v) && v >= 0, std::string("--") + name + " must be finite and >= 0 (got " + std::to_string(v) + ")");
  };
  nonneg(hyper.beta, "beta");
  nonneg(hyper.gamma, "gamma");
  nonneg(hyper.c_max, "c-max");
  require(std::isfinite(hyper.capacity_steps) && hyper.capacity_steps > 0, "--capacity-steps must be positive");
  if (objective == "info") {
    require(std::isfinite(hyper.alpha) && hyper.alpha <= 1, "--alpha must be <= 1 for info (the KL weight is 1 − alpha)");
    require(std::isfinite(hyper.lambda) && hyper.alpha + hyper.lambda - 1 >= 0, "--alpha + --lambda − 1 (the MMD weight) must be >= 0");
  } else {
    nonneg(hyper.alpha, "alpha");
    nonneg(hyper.lambda, "lambda");
  }
  require(hyper.kernel == "rbf" || hyper.kernel == "imq", "--kernel must be rbf or imq");
  hyper.discriminator_adam.validate("the discriminator's Adam");
  require(latent_dim >= 1 && latent_dim <= 1024, "--latent-dim must be in [1, 1024]");
  require(flow_blocks >= 1 && flow_blocks <= 64, "--flow-blocks must be in [1, 64]");
  require(likelihood == "bernoulli" || likelihood == "gaussian", "--likelihood must be bernoulli or gaussian");
  require(std::isfinite(likelihood_weight) && likelihood_weight > 0, "--likelihood-weight must be positive");
  require(sample_every >= 0, "--sample-every must be >= 0");
  require(checkpoint_every >= 1, "--checkpoint-every must be >= 1");
  require(log_every >= 1, "--log-every must be >= 1");
  require(keep_checkpoints >= 1 && keep_checkpoints <= 1000000, "--keep-checkpoints must be in [1, 10^6] (got " +
                                                                   std::to_string(keep_checkpoints) + ")");
}

ModelConfig RunConfig::model_config(const Architecture& arch, double dataset_size) const {
  ModelConfig m;
  m.architecture = arch;
  m.likelihood = likelihood == "gaussian" ? Likelihood::gaussian(likelihood_weight) : Likelihood::bernoulli();
  m.adam = AdamConfig{lr, 0.9, 0.999, 1e-8};
  m.dataset_size = dataset_size;
  m.flow_blocks = flow_blocks;
  m.seed = seed;
  return m;
}

void apply_preset(RunConfig& c, const Overrides& set) {
  const bool images = c.dataset != "two-moons";
  Hyper h;
  double lr = 1e-4;
  std::int64_t batch = 100;
  std::string lik = images ? "bernoulli" : "gaussian";
  double w = images ? 1.0 : 50.0;
  const std::string& o = c.objective;
  if (c.preset == "default") {
    // The regularizers' own papers, per sample (SPEC.md "Conventions and defaults").
    if (o == "beta-h") h.beta = 5;
    if (o == "beta-b") h.gamma = 1000, h.c_max = 25, h.capacity_steps = 1e5;
    if (o == "beta-tc") h.alpha = 1, h.beta = 6, h.gamma = 1;
    if (o == "factor") h.gamma = 40, h.discriminator_adam = {1e-4, 0.5, 0.9, 1e-8};
    if (o == "info") h.alpha = 0, h.lambda = 1000;
  } else if (c.preset == "official") {
    // The official code's config/<objective>/mnist.json, its batch-summed terms divided by
    // the batch size B so that every weight acts per sample (SPEC.md "official").
    lik = "gaussian";
    if (o == "vae") w = 1, batch = 100;
    if (o == "beta-h") w = 1, batch = 24, h.beta = 5;
    if (o == "beta-b") w = 100, batch = 24, lr = 1e-3, h.gamma = 15, h.c_max = 25.0 / 24.0, h.capacity_steps = 1e5;
    if (o == "beta-tc") w = 10, batch = 100, h.alpha = 0.01, h.beta = 0.04, h.gamma = 0.15;
    if (o == "factor") w = 1, batch = 24, h.gamma = 1000.0 / 24.0, h.discriminator_adam = {1e-4, 0.9, 0.999, 1e-8};
    if (o == "info") w = 10, batch = 24, h.alpha = 0, h.lambda = 1 + 999.0 / 24.0;
  } else {
    dpvae::detail::fail("unknown preset '" + c.preset + "' (expected default or official)");
  }
  if (!set.lr) c.lr = lr;
  if (!set.batch_size) c.batch_size = batch;
  if (!set.likelihood) c.likelihood = lik;
  if (!set.likelihood_weight) c.likelihood_weight = w;
  if (!set.beta) c.hyper.beta = h.beta;
  if (!set.gamma) c.hyper.gamma = h.gamma;
  if (!set.alpha) c.hyper.alpha = h.alpha;
  if (!set.lambda) c.hyper.lambda = h.lambda;
  if (!set.c_max) c.hyper.c_max = h.c_max;
  c.hyper.capacity_steps = h.capacity_steps;
  c.hyper.discriminator_adam = h.discriminator_adam;
}

Architecture Data::architecture(Index latent_dim) const {
  if (images) return Architecture::conv_images(height, width, channels, latent_dim);
  return Architecture::mlp(train.cols(), latent_dim);
}

Data load_data(const RunConfig& cfg) {
  Data d;
  d.name = cfg.dataset;
  if (cfg.dataset == "two-moons") {
    auto tm = data::make_two_moons(cfg.seed);
    d.train = tm.train;
    d.test = tm.test;
    d.train_labels = tm.train_labels;
    d.test_labels = tm.test_labels;
    d.train_position = tm.train_position;
    d.test_position = tm.test_position;
    return d;
  }
  std::filesystem::path dir;
  if (cfg.dataset.rfind("idx:", 0) == 0) {
    dir = cfg.dataset.substr(4);
  } else {
    dir = std::filesystem::path(cfg.data_root) / cfg.dataset;
    const std::string hint = cfg.dataset == "mnist" ? "run scripts/fetch-mnist.sh " + dir.string()
                                                    : "run scripts/fetch-fashion-mnist.sh " + dir.string();
    dpvae::detail::require(std::filesystem::is_directory(dir),
                           "no " + cfg.dataset + " data in " + dir.string() + " (" + hint + ", or pass --data-root)");
  }
  auto set = data::load_idx_dataset(dir, cfg.dataset);
  d.images = true;
  d.height = set.train.height;
  d.width = set.train.width;
  d.channels = set.train.channels;
  d.train = std::move(set.train.images);
  d.test = std::move(set.test.images);
  d.train_labels = std::move(set.train.labels);
  d.test_labels = std::move(set.test.labels);
  return d;
}

}  // namespace dpvae::cli
