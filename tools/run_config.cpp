#include "run_config.hpp"

#include <cmath>
#include <utility>
#include <set>

namespace dpvae::cli {

using nlohmann::json;

namespace {
/// A hyperparameter's text value as JSON: a number for numeric ones, else the string.
json hyper_to_json(const HyperparameterInfo& h, const std::string& text) {
  if (!h.numeric) return text;
  if (text.find_first_not_of("-0123456789") == std::string::npos) return std::stoll(text);
  return std::stod(text);
}
}  // namespace

json RunConfig::to_json() const {
  json j{{"dataset", dataset},
         {"data_root", data_root},
         {"objective", objective},
         {"prior", prior},
         {"preset", preset},
         {"steps", steps},
         {"batch_size", batch_size},
         {"seed", seed},
         {"threads", threads},
         {"lr", lr},
         {"latent_dim", latent_dim},
         {"flow_blocks", flow_blocks},
         {"likelihood", likelihood},
         {"likelihood_weight", likelihood_weight},
         {"sample_every", sample_every},
         {"checkpoint_every", checkpoint_every},
         {"log_every", log_every},
         {"keep_checkpoints", keep_checkpoints},
         {"skip_nonfinite", skip_nonfinite}};
  // The objective's hyperparameters, flat (as config.json has always had them).
  for (const auto& info : objective_infos())
    if (info.name == objective)
      for (const auto& h : info.hyperparameters)
        if (auto it = hyper.find(h.key); it != hyper.end()) j[h.key] = hyper_to_json(h, it->second);
  return j;
}

RunConfig RunConfig::from_json(const json& j, const std::string& where) {
  dpvae::detail::require(j.is_object(), where + ": not a JSON object");
  RunConfig c;
  const json ref = c.to_json();
  // Every objective's hyperparameter keys are known: run folders written before the
  // settings were derived from the objectives' descriptions hold all of them.
  const std::set<std::string> hyper_keys = all_hyperparameter_keys();
  for (auto it = j.begin(); it != j.end(); ++it)
    dpvae::detail::require(ref.contains(it.key()) || hyper_keys.count(it.key()),
                           where + ": unknown key '" + it.key() + "'");
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
    const ObjectiveInfo& info = objective_info(c.objective);
    // The objective's own keys; a missing one (a run folder older than the hyperparameter)
    // takes its default, which is what that run trained with.
    for (const auto& h : info.hyperparameters) {
      if (!j.contains(h.key)) continue;
      const json& v = j.at(h.key);
      if (h.numeric) {
        dpvae::detail::require(v.is_number(), "key '" + h.key + "' must be a number");
        c.hyper[h.key] = v.is_number_integer() ? (v.is_number_unsigned() ? std::to_string(v.get<std::uint64_t>())
                                                                         : std::to_string(v.get<std::int64_t>()))
                                               : dpvae::detail::format_number(v.get<double>());
      } else {
        dpvae::detail::require(v.is_string(), "key '" + h.key + "' must be " + h.rule);
        c.hyper[h.key] = v.get<std::string>();
      }
    }
    c.validate();
  } catch (const Error& e) {
    dpvae::detail::fail(where + ": " + e.what());
  }
  return c;
}

void RunConfig::validate() const {
  using dpvae::detail::require;
  objective_info(objective).check(hyper);  // unknown objective; hyperparameters it lacks; ranges
  require(prior == "standard" || prior == "decoupled", "unknown prior '" + prior + "' (expected standard or decoupled)");
  require(preset == "default" || preset == "official", "unknown preset '" + preset + "' (expected default or official)");
  require(dataset == "two-moons" || dataset == "mnist" || dataset == "fashion-mnist" || dataset.rfind("idx:", 0) == 0,
          "unknown dataset '" + dataset + "' (expected two-moons, mnist, fashion-mnist or idx:DIR)");
  require(steps > 0 && steps <= 1000000000, "--steps must be in [1, 10^9] (got " + std::to_string(steps) + ")");
  require(batch_size >= 2 && batch_size <= 100000, "--batch-size must be in [2, 100000] (got " + std::to_string(batch_size) + ")");
  require(threads >= 0 && threads <= 1024, "--threads must be in [0, 1024] (0 = all cores)");
  require(std::isfinite(lr) && lr > 0 && lr < 1, "--lr must be in (0, 1)");
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
  const ObjectiveInfo& info = objective_info(c.objective);
  const bool images = c.dataset != "two-moons";
  HyperparameterValues h;
  double lr = 1e-4;
  std::int64_t batch = 100;
  std::string lik = images ? "bernoulli" : "gaussian";
  double w = images ? 1.0 : 50.0;
  if (c.preset == "default") {
    // The regularizers' own papers, per sample (docs/math.md "Conventions and defaults").
    h = info.defaults();
  } else if (c.preset == "official") {
    dpvae::detail::require(info.official_run.exists, "--preset official: the official code has no " + info.name +
                                                         " (use --preset default)");
    // The official code's config/<objective>/mnist.json, its batch-summed terms divided by
    // the batch size B so that every weight acts per sample (docs/math.md "The official code").
    h = info.officials();
    lik = "gaussian";
    lr = info.official_run.lr;
    batch = info.official_run.batch_size;
    w = info.official_run.likelihood_weight;
  } else {
    dpvae::detail::fail("unknown preset '" + c.preset + "' (expected default or official)");
  }
  if (!set.count("lr")) c.lr = lr;
  if (!set.count("batch_size")) c.batch_size = batch;
  if (!set.count("likelihood")) c.likelihood = lik;
  if (!set.count("likelihood_weight")) c.likelihood_weight = w;
  for (auto& [key, value] : h)
    if (set.count(key) && c.hyper.count(key)) value = c.hyper.at(key);
  for (const auto& [key, value] : c.hyper)
    if (!h.count(key)) h[key] = value;  // not this objective's: refused by validate(), naming it
  c.hyper = std::move(h);
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
