#include "run_config.hpp"

#include <dpvae/data/npy.hpp>
#include <dpvae/images/datasets.hpp>

#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <utility>

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
         {"skip_nonfinite", skip_nonfinite},
         {"image_size", image_size},
         {"image_channels", image_channels},
         {"held_out", held_out},
         {"labels", labels},
         {"skip_bad_images", skip_bad_images}};
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
  // The image data-set keys came later still: each is optional.
  for (const char* key : {"image_size", "image_channels", "held_out", "labels", "skip_bad_images"})
    if (j.contains(key)) {
      if (std::string(key) == "image_size") get(key, c.image_size);
      else if (std::string(key) == "image_channels") get(key, c.image_channels);
      else if (std::string(key) == "held_out") get(key, c.held_out);
      else if (std::string(key) == "labels") get(key, c.labels);
      else {
        dpvae::detail::require(j.at(key).is_boolean(), where + ": key 'skip_bad_images' must be true or false");
        c.skip_bad_images = j.at(key).get<bool>();
      }
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
  const auto prefixed = [&](const char* p) { return dataset.rfind(p, 0) == 0 && dataset.size() > std::string(p).size(); };
  require(dataset == "two-moons" || dataset == "mnist" || dataset == "fashion-mnist" || dataset == "svhn" ||
              dataset == "celeba" || prefixed("idx:") || prefixed("folder:") || prefixed("npy:"),
          "unknown dataset '" + dataset + "' (expected two-moons, mnist, fashion-mnist, svhn, celeba, idx:DIR, folder:DIR or npy:FILE)");
  // The conv network needs sides that are multiples of 4 from 16 (its strides round-trip); above 256 its first fully connected layer
  // alone exceeds 130 M parameters (docs/data.md "Networks and likelihood for colour images").
  require(image_size == 0 || (image_size >= 16 && image_size <= 256 && image_size % 4 == 0),
          "--image-size must be 0 (keep) or a multiple of 4 in [16, 256] (got " + std::to_string(image_size) + ")");
  require(image_size == 0 || dataset == "celeba" || prefixed("folder:"),
          "--image-size goes with --dataset celeba or folder:DIR (the other sets have one size)");
  require(dataset != "celeba" || image_size == 0 || image_size <= 140,
          "--image-size for celeba must be at most 140, the crop (got " + std::to_string(image_size) + ")");
  require(image_channels == 1 || image_channels == 3, "--image-channels must be 1 or 3");
  require(image_channels == 3 || prefixed("folder:"), "--image-channels goes with --dataset folder:DIR");
  require(std::isfinite(held_out) && held_out > 0 && held_out < 1, "--held-out must be in (0, 1)");
  require(labels.empty() || prefixed("npy:"), "--labels goes with --dataset npy:FILE");
  require(labels.find('\n') == std::string::npos, "--labels: the file name holds a newline");
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

bool colour_dataset(const RunConfig& c) {
  if (c.dataset == "svhn" || c.dataset == "celeba") return true;
  if (c.dataset.rfind("folder:", 0) == 0) return c.image_channels == 3;
  if (c.dataset.rfind("npy:", 0) != 0) return false;
  // An array's channels are in its header; an unreadable file is named by load_data.
  try {
    const dpvae::data::NpyArray a = dpvae::data::read_npy_header(c.dataset.substr(4));
    return a.shape.size() == 4 && a.shape[3] == 3;
  } catch (const Error&) {
    return false;
  }
}

void absolute_data_paths(RunConfig& c) {
  const auto absolute = [](const std::string& p) {
    std::error_code ec;
    std::filesystem::path a = std::filesystem::absolute(p, ec);
    if (ec) return p;
    a = a.lexically_normal();
    std::string s = a.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  for (const char* kind : {"folder:", "npy:", "idx:"}) {
    const std::string prefix = kind;
    if (c.dataset.rfind(prefix, 0) == 0 && c.dataset.size() > prefix.size()) {
      c.dataset = prefix + absolute(c.dataset.substr(prefix.size()));
      break;
    }
  }
  if (!c.labels.empty()) c.labels = absolute(c.labels);
}

void apply_preset(RunConfig& c, const Overrides& set) {
  const ObjectiveInfo& info = objective_info(c.objective);
  const bool images = c.dataset != "two-moons";
  const bool colour = colour_dataset(c);
  HyperparameterValues h;
  double lr = 1e-4;
  std::int64_t batch = 100;
  std::string lik = images ? "bernoulli" : "gaussian";
  double w = images ? 1.0 : 50.0;
  if (c.preset == "default") {
    // The regularizers' own papers, per sample (docs/math.md "Conventions and defaults").
    h = info.defaults();
    // Colour images: a Gaussian of σ = 0.1 per value (w = 1/(2σ²) = 50) (docs/data.md
    // "Networks and likelihood for colour images").
    if (colour) lik = "gaussian", w = 50.0;
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
  // SVHN and CelebA: the paper's batch of 50 (appendix C) under either preset (the official
  // code has configs for MNIST only).
  if (c.dataset == "svhn" || c.dataset == "celeba") batch = 50;
  if (!set.count("lr")) c.lr = lr;
  if (!set.count("batch_size")) c.batch_size = batch;
  if (!set.count("likelihood")) c.likelihood = lik;
  if (!set.count("likelihood_weight")) c.likelihood_weight = w;
  if (!set.count("latent_dim")) c.latent_dim = colour ? 32 : 2;
  for (auto& [key, value] : h)
    if (set.count(key) && c.hyper.count(key)) value = c.hyper.at(key);
  for (const auto& [key, value] : c.hyper)
    if (!h.count(key)) h[key] = value;  // not this objective's: refused by validate(), naming it
  c.hyper = std::move(h);
}

Architecture Data::architecture(Index latent_dim) const {
  // The paper's appendix C: ReLU for MNIST and SVHN, LeakyReLU for CelebA (slope 0.2, DCGAN's).
  if (images && name == "celeba") return Architecture::conv_images(height, width, channels, latent_dim, Activation::leaky_relu, 0.2);
  if (images) return Architecture::conv_images(height, width, channels, latent_dim);
  return Architecture::mlp(train.cols(), latent_dim);
}

namespace {

/// The progress of a long decode on one terminal line: "decoding: 120000 / 202599 images".
std::function<void(Index, Index)> decode_progress(const std::string& what) {
  auto last = std::make_shared<Index>(-1);
  return [what, last](Index done, Index total) {
    if (total < 2000 || done == *last) return;  // small sets decode in a blink
    *last = done;
    std::cerr << "\r" << what << ": " << done << " / " << total << " images" << (done == total ? "\n" : "") << std::flush;
  };
}

/// Where the decoded set came from or went: "decoded set read from PATH" and the like.
void report_cache(const images::DecodeReport& r) {
  if (!r.cache.empty()) std::cout << "decoded set " << r.cache << "\n";
}

void report_skipped(const images::DecodeReport& r) {
  if (r.skipped == 0) return;
  // Progress, so stdout: stderr holds only an error's one line.
  std::cout << "--skip-bad-images: left out " << r.skipped << " image file" << (r.skipped == 1 ? "" : "s") << ":";
  for (const std::string& e : r.first_skipped) std::cout << "\n  " << e;
  if (r.skipped > static_cast<Index>(r.first_skipped.size())) std::cout << "\n  ...";
  std::cout << std::endl;
}

void set_images(Data& d, data::ImageArray train, data::ImageArray test) {
  d.images = true;
  d.height = train.height, d.width = train.width, d.channels = train.channels;
  d.train_labels = train.labels;
  d.test_labels = test.labels;
  d.train = Points(std::move(train));
  d.test = Points(std::move(test));
}

}  // namespace

Data load_image_data(const RunConfig& cfg) {
  namespace fs = std::filesystem;
  Data d;
  d.name = cfg.dataset;
  images::DecodeOptions o;
  o.skip_bad = cfg.skip_bad_images;
  o.cache = true;  // decoded once, then read back while the sources are unchanged (docs/data.md)
  if (cfg.dataset == "svhn") {
    const fs::path dir = fs::path(cfg.data_root) / "svhn";
    for (const char* f : {"train_32x32.mat", "test_32x32.mat"})
      dpvae::detail::require(fs::exists(dir / f), "no SVHN file " + (dir / f).string() + " (run scripts/fetch-svhn.sh " +
                                                      dir.string() + ", or pass --data-root)");
    data::ImageArray train = images::read_svhn_mat(dir / "train_32x32.mat");  // in order: the first bad file is named
    set_images(d, std::move(train), images::read_svhn_mat(dir / "test_32x32.mat"));
    return d;
  }
  if (cfg.dataset == "celeba") {
    o.progress = decode_progress("decoding CelebA");
    images::Celeba c = images::load_celeba(fs::path(cfg.data_root) / "celeba", cfg.image_size > 0 ? cfg.image_size : 64, o);
    report_cache(c.report);
    report_skipped(c.report);
    set_images(d, std::move(c.train), std::move(c.test));
    return d;
  }
  data::ImageArray all;
  if (cfg.dataset.rfind("folder:", 0) == 0) {
    const fs::path dir = cfg.dataset.substr(7);
    o.channels = static_cast<int>(cfg.image_channels);
    if (cfg.image_size > 0) {
      o.geometry.crop_height = o.geometry.crop_width = -1;  // the largest centred square
      o.geometry.height = o.geometry.width = cfg.image_size;
    }
    o.progress = decode_progress("decoding " + dir.string());
    images::ImageFolder f = images::load_image_folder(dir, o);
    report_cache(f.report);
    report_skipped(f.report);
    all = std::move(f.images);
  } else {
    const std::string file = cfg.dataset.substr(4);
    all = data::images_from_npy(data::read_npy(file), file);
    if (!cfg.labels.empty()) all.labels = data::labels_from_npy(data::read_npy(cfg.labels), all.count, cfg.labels);
  }
  dpvae::detail::require(all.height >= 16 && all.width >= 16,
                         cfg.dataset + ": images of " + std::to_string(all.width) + " × " + std::to_string(all.height) +
                             " pixels are too small for the conv network (at least 16 × 16" +
                             (cfg.dataset.rfind("folder:", 0) == 0 ? std::string("; pass --image-size)") : std::string(")")));
  auto [train, test] = data::split_held_out(std::move(all), cfg.held_out, kHeldOutSeed);
  set_images(d, std::move(train), std::move(test));
  return d;
}

Data load_data(const RunConfig& cfg) {
  Data d;
  d.name = cfg.dataset;
  if (cfg.dataset == "two-moons") {
    auto tm = data::make_two_moons(cfg.seed);
    d.train = Points(tm.train);
    d.test = Points(tm.test);
    d.train_labels = tm.train_labels;
    d.test_labels = tm.test_labels;
    d.train_position = tm.train_position;
    d.test_position = tm.test_position;
    return d;
  }
  if (cfg.dataset == "svhn" || cfg.dataset == "celeba" || cfg.dataset.rfind("folder:", 0) == 0 ||
      cfg.dataset.rfind("npy:", 0) == 0)
    return load_image_data(cfg);
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
  d.train = Points(std::move(set.train.images));
  d.test = Points(std::move(set.test.images));
  d.train_labels = std::move(set.train.labels);
  d.test_labels = std::move(set.test.labels);
  return d;
}

}  // namespace dpvae::cli
