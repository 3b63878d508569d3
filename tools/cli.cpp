// tools/cli.cpp — implementation of tools/cli.hpp: the dpvae program's subcommands (train,
// sample, evaluate, compare, reproduce, ...), compiled once for dpvae and dpvae_mpi.
#include "cli.hpp"

#include "evaluation.hpp"
#include "feature_net.hpp"
#include "fid.hpp"
#include "figures.hpp"
#include "latents.hpp"
#include "reproduce.hpp"
#include "run_folder.hpp"
#include "train_loop.hpp"

#include <CLI/CLI.hpp>

#include <tbb/global_control.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

/// An integer option's check, run on its text before CLI11 converts it: the whole text a
/// decimal integer in [lo, hi], else "must be an integer in [lo, hi], not 'TEXT'". (CLI11's
/// Range calls "abc" out of range, and its conversion clamps 10^23 to the type's largest
/// value instead of refusing it.)
template <class T>
CLI::Validator integer_in(T lo, T hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& v) {
        T x{};
        const char* end = v.data() + v.size();
        const auto [p, ec] = std::from_chars(v.data(), end, x);
        if (ec != std::errc() || p != end || x < lo || x > hi)
          return "must be an integer in " + range + ", not '" + v + "'";
        return std::string();
      },
      range, "integer in " + range);
}

/// An error message on one line: control characters (a newline in a file name) shown as \n, \r,
/// \t or \xHH.
std::string one_line(const std::string& text) {
  std::string out;
  for (const char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '\n') out += "\\n";
    else if (ch == '\r') out += "\\r";
    else if (ch == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

/// The options of the image data sets (docs/data.md), shared by train and feature-net train.
void add_image_options(CLI::App* cmd, dpvae::cli::RunConfig& cfg) {
  cmd->add_option("--image-size", cfg.image_size,
                  "folder: centre-crop the largest square and resize to S x S (0: keep, all images one size); celeba: S (0: 64)")
      ->capture_default_str();
  cmd->add_option("--image-channels", cfg.image_channels, "folder: 3 (RGB; grey images replicated) or 1 (grey)")
      ->capture_default_str();
  cmd->add_option("--held-out", cfg.held_out, "folder, npy: fraction of the images held out as the test set")
      ->capture_default_str();
  cmd->add_option("--labels", cfg.labels, "npy: class labels, an .npy vector of N integers (optional)");
  cmd->add_flag("--skip-bad-images", cfg.skip_bad_images,
                "leave out unreadable or wrong-sized image files, with their count and first names (default: stop)");
}

/// Levenshtein distance between a and b.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// The figure writers write PNG whatever the name says: another extension is refused.
void require_png(const std::string& out) {
  std::string ext = std::filesystem::path(out).extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  dpvae::detail::require(ext == ".png", "--out " + out + ": the figure is written as PNG; name a .png file");
}

/// " (did you mean --beta?)" for the first unexpected "--option" in a parse error, when an
/// option of the subcommand in use is within a third of its length in edits; " (--x is an
/// option of train, reproduce)" when it belongs to other subcommands; "" otherwise.
std::string did_you_mean(const CLI::App& app, const std::string& message) {
  const auto at = message.find("--");
  if (message.find("not expected") == std::string::npos || at == std::string::npos) return "";
  std::string given = message.substr(at);
  given = given.substr(0, given.find_first_of(" ,=\n"));
  // The options of the subcommand in use (all subcommands when none was recognised).
  const std::vector<const CLI::App*> all = app.get_subcommands([](const CLI::App*) { return true; });
  std::vector<const CLI::App*> used;
  for (const CLI::App* sub : app.get_subcommands()) used.push_back(sub);
  if (used.empty()) used = all;
  std::string best;
  std::size_t best_d = given.size() / 3 + 1;
  for (const auto* sub : used)
    for (const auto* opt : sub->get_options())
      for (const auto& name : opt->get_lnames()) {
        const std::size_t d = edit_distance(given, "--" + name);
        if (d < best_d && d > 0) best_d = d, best = "--" + name;
      }
  if (!best.empty()) return " (did you mean " + best + "?)";
  std::string owners;  // an option of other subcommands: say whose
  for (const auto* sub : all)
    for (const auto* opt : sub->get_options())
      for (const auto& name : opt->get_lnames())
        if ("--" + name == given && owners.find(sub->get_name()) == std::string::npos)
          owners += (owners.empty() ? "" : ", ") + sub->get_name();
  return owners.empty() ? "" : " (" + given + " is an option of " + owners + ")";
}

int run(int argc, char** argv, dpvae::cli::Comm& comm) {
  using namespace dpvae::cli;
  CLI::App app{"dpvae: regularized VAEs with decoupled priors (Bhalodia et al., dpVAE)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dpvae 0.1.0");

  const CLI::Validator seed_value = integer_in<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max());

  // --- train -----------------------------------------------------------------------------
  RunConfig cfg;
  Overrides set;
  std::string out;
  bool resume = false;
  std::int64_t steps = 0;
  double lr = 0, lik_weight = 0;
  std::int64_t batch = 0;
  std::string likelihood;
  auto* train = app.add_subcommand("train", "train a model into a run folder");
  train->add_option("--dataset", cfg.dataset, "two-moons, mnist, fashion-mnist, svhn, celeba, idx:DIR, folder:DIR or npy:FILE")
      ->capture_default_str();
  train->add_option("--objective", cfg.objective, dpvae::objective_names())->capture_default_str();
  train->add_option("--prior", cfg.prior, "standard or decoupled")->capture_default_str();
  train->add_option("--preset", cfg.preset, "hyperparameters: default (the regularizers' papers) or official")
      ->capture_default_str();
  train->add_option("--steps", steps, "optimisation steps (with --resume: a new total)");
  train->add_option("--batch-size", batch, "batch size (preset: 100)");
  train->add_option("--out", out, "run folder")->required();
  train->add_option("--seed", cfg.seed, "random seed (>= 0)")->capture_default_str()->check(seed_value);
  train->add_option("--threads", cfg.threads, "worker threads (0 = all cores)")->capture_default_str();
  train->add_flag("--resume", resume, "continue the run in --out from its newest checkpoint");
  train->add_option("--data-root", cfg.data_root, "folder holding mnist/ and fashion-mnist/")->capture_default_str();
  // One flag per hyperparameter key of any objective, from the objectives' descriptions
  // (dpvae/objectives/registry.hpp); a flag the chosen objective lacks is refused.
  std::map<std::string, std::string> hyper_given;  // flag → text
  {
    std::map<std::string, std::string> help;  // flag → "objective: help [default, official]; …"
    for (const auto& info : dpvae::objective_infos())
      for (const auto& h : info.hyperparameters)
        help[h.flag] += (help[h.flag].empty() ? "" : "; ") + h.help + " (" + h.rule + "; default " + h.default_value +
                        ", official " + h.official_value + ")";
    for (const auto& [flag, text] : help) hyper_given[flag];
    for (const auto& [flag, text] : help) train->add_option(flag, hyper_given.at(flag), text);
  }
  train->add_option("--lr", lr, "Adam learning rate (preset: 1e-4)");
  train->add_option("--latent-dim", cfg.latent_dim, "latent dimension d (default: 2; 32 for colour images)");
  train->add_option("--flow-blocks", cfg.flow_blocks, "coupling blocks of the decoupled prior")->capture_default_str();
  train->add_option("--likelihood", likelihood, "bernoulli or gaussian (preset: bernoulli for images)");
  train->add_option("--likelihood-weight", lik_weight, "w of the Gaussian likelihood, σ² = 1/(2w)");
  train->add_option("--sample-every", cfg.sample_every, "steps between sample grids (0: five per run)");
  train->add_option("--checkpoint-every", cfg.checkpoint_every, "steps between checkpoints")->capture_default_str();
  train->add_option("--log-every", cfg.log_every, "steps between progress lines")->capture_default_str();
  train->add_option("--keep-checkpoints", cfg.keep_checkpoints, "checkpoints kept (the newest K)")->capture_default_str();
  train->add_flag("--skip-nonfinite", cfg.skip_nonfinite,
                  "skip and count steps whose loss or gradient is not finite (default: stop the run)");
  add_image_options(train, cfg);

  // --- sample ----------------------------------------------------------------------------
  std::string sample_run, sample_out;
  dpvae::Index sample_n = 64;
  std::uint64_t sample_seed = 1;
  auto* sample = app.add_subcommand("sample", "draw samples of a trained run");
  sample->add_option("run", sample_run, "run folder")->required();
  sample->add_option("--n", sample_n, "number of samples")->capture_default_str();
  sample->add_option("--out", sample_out, "PNG file")->required();
  sample->add_option("--seed", sample_seed, "random seed (>= 0)")->capture_default_str()->check(seed_value);

  bool sample_low = false, sample_high = false;
  dpvae::Index sample_candidates = 0, sample_posteriors = 0;
  sample->add_flag("--low-posterior", sample_low, "low-posterior samples: the prior draws with the lowest q(z)");
  sample->add_flag("--high-posterior", sample_high, "high-posterior samples: the q(z) draws with the lowest N(f(z); 0, I)");
  sample->add_option("--candidates", sample_candidates, "candidates scored for --low/--high-posterior (default 100 × n)");
  sample->add_option("--posteriors", sample_posteriors, "training posteriors in q(z) (0 = all)")->capture_default_str();
  std::string sample_sampler = "prior";
  sample->add_option("--sampler", sample_sampler,
                     "prior (the model's own); gmm: a 10-component Gaussian mixture fitted ex post to the training "
                     "encodings (Ghosh et al. 2020); flow: the library's coupling flow fitted ex post to q(z) (Dai & Wipf 2019)")
      ->capture_default_str();
  dpvae::Index sample_flow_steps = dpvae::FlowFitOptions{}.steps;
  sample->add_option("--flow-steps", sample_flow_steps, "--sampler flow: Adam steps of the flow's fit")
      ->capture_default_str()
      ->check(integer_in<dpvae::Index>(1, 10000000));

  // --- evaluate --------------------------------------------------------------------------
  std::string eval_run, eval_out, eval_figures, eval_feature_net;
  EvalOptions eval_opts;
  auto* evaluate_cmd = app.add_subcommand("evaluate", "every metric of the paper for a trained run (JSON)");
  evaluate_cmd->add_option("run", eval_run, "run folder")->required();
  evaluate_cmd->add_option("--out", eval_out, "metrics JSON file")->required();
  evaluate_cmd->add_option("--feature-net", eval_feature_net,
                           "FID feature net (safetensors; trained and saved there when missing; default "
                           "DATA_ROOT/feature-nets/DATASET.safetensors)");
  evaluate_cmd->add_option("--samples", eval_opts.samples, "generated samples for FID and FID(LP)")->capture_default_str();
  evaluate_cmd->add_option("--lp-candidates", eval_opts.lp_candidates, "prior draws scored for LP samples (0 = 10 × samples)")
      ->capture_default_str();
  evaluate_cmd->add_option("--posteriors", eval_opts.posteriors, "training posteriors in q(z) (0 = all)")->capture_default_str();
  evaluate_cmd->add_option("--skl-samples", eval_opts.skl_samples, "sKL samples per direction")->capture_default_str();
  evaluate_cmd->add_option("--nll-k", eval_opts.nll_k, "importance samples per test point")->capture_default_str();
  evaluate_cmd->add_option("--nll-points", eval_opts.nll_points, "test points for the NLL (0 = all)")->capture_default_str();
  evaluate_cmd->add_option("--leakage-samples", eval_opts.leakage_samples, "q(z) samples for the leakage score")
      ->capture_default_str();
  evaluate_cmd->add_option("--figures", eval_figures, "also write the run's figures into this folder");
  std::string eval_fid_weights;
  evaluate_cmd->add_option("--fid-weights", eval_fid_weights,
                           "FID Inception weights (scripts/convert-fid-inception.py): also standard FID, FID(LP) and KID");
  evaluate_cmd->add_option("--standard-fid-samples", eval_opts.standard_fid_samples,
                           "images per side of the standard FID (capped at --samples and the test set)")
      ->capture_default_str()->check(integer_in<std::int64_t>(2, 1000000));
  evaluate_cmd->add_option("--seed", eval_opts.seed, "random seed (>= 0)")->capture_default_str()->check(seed_value);
  evaluate_cmd->add_flag("--expost-gmm", eval_opts.expost_gmm,
                         "also every generation metric with a 10-component GMM fitted ex post to the training encodings in place of the prior");
  evaluate_cmd->add_flag("--expost-flow", eval_opts.expost_flow,
                         "also every generation metric with a coupling flow fitted ex post to q(z) in place of the prior");
  evaluate_cmd->add_option("--expost-flow-steps", eval_opts.expost_flow_steps, "Adam steps of the ex-post flow's fit")
      ->capture_default_str()->check(integer_in<std::int64_t>(1, 10000000));
  int eval_threads = 0;
  evaluate_cmd->add_option("--threads", eval_threads, "worker threads (0 = all cores)")->capture_default_str();

  // --- feature-net -----------------------------------------------------------------------
  auto* feature_cmd = app.add_subcommand("feature-net", "the domain feature network of FID");
  auto* feature_train = feature_cmd->add_subcommand("train", "train (or reuse) the FID feature net of a data set");
  feature_cmd->require_subcommand(1);
  RunConfig feature_cfg;
  std::string feature_out;
  FeatureNetOptions feature_opts;
  feature_train->add_option("--dataset", feature_cfg.dataset, "mnist, fashion-mnist, svhn, celeba, idx:DIR, folder:DIR or npy:FILE")
      ->required();
  add_image_options(feature_train, feature_cfg);
  feature_train->add_option("--data-root", feature_cfg.data_root, "folder holding mnist/ and fashion-mnist/")
      ->capture_default_str();
  feature_train->add_option("--out", feature_out, "safetensors file (default DATA_ROOT/feature-nets/DATASET.safetensors)");
  feature_train->add_option("--steps", feature_opts.steps, "training steps (batch 100)")->capture_default_str();
  feature_train->add_option("--seed", feature_opts.seed, "random seed (>= 0)")->capture_default_str()->check(seed_value);

  // --- reproduce -------------------------------------------------------------------------
  ReproduceOptions repro;
  std::string repro_out;
  auto* reproduce_cmd = app.add_subcommand("reproduce", "train and evaluate the 12 models of the paper's Table 1");
  reproduce_cmd->add_option("--dataset", repro.dataset, "mnist, fashion-mnist, two-moons, svhn, celeba, idx:DIR, folder:DIR or npy:FILE")->capture_default_str();
  add_image_options(reproduce_cmd, repro.images);
  reproduce_cmd->add_option("--budget", repro.budget, "quick (1,500 steps at lr 1e-3: under 40 minutes on 2 cores), converge (15,000 steps at the preset's lr: about an hour per seed on 2 cores), paper (100,000 steps per model), or tiny (seconds; for tests)")
      ->capture_default_str();
  reproduce_cmd->add_option("--preset", repro.preset, "official (the paper's settings) or default")->capture_default_str();
  reproduce_cmd->add_option("--data-root", repro.data_root, "folder holding mnist/, fashion-mnist/, svhn/, celeba/")->capture_default_str();
  reproduce_cmd->add_option("--out", repro_out, "output folder (an interrupted call resumes there)")->required();
  reproduce_cmd->add_option("--threads", repro.threads, "worker threads (0 = all cores)")->capture_default_str();
  reproduce_cmd->add_option("--seed", repro.seed, "random seed (>= 0): the first seed")->capture_default_str()->check(seed_value);
  reproduce_cmd->add_option("--seeds", repro.seeds, "models per objective and prior (seeds SEED, SEED + 1, ...): entries are mean ± sd")
      ->capture_default_str()->check(integer_in<std::int64_t>(1, 1000));
  reproduce_cmd->add_option("--steps", repro.steps, "training steps per model (default: the budget's)")->check(integer_in<std::int64_t>(1, 1000000000));
  reproduce_cmd->add_option("--fid-weights", repro.fid_weights,
                            "FID Inception weights (scripts/convert-fid-inception.py): standard FID and FID(LP) columns too");
  reproduce_cmd->add_option("--standard-fid-samples", repro.standard_fid_samples, "images per side of the standard FID")
      ->capture_default_str()->check(integer_in<std::int64_t>(2, 1000000));

  // --- compare ---------------------------------------------------------------------------
  std::vector<std::string> compare_runs;
  std::string compare_out;
  std::uint64_t compare_seed = 1;
  auto* compare = app.add_subcommand("compare", "draw the paper's Fig. 1 comparison of trained runs");
  compare->add_option("runs", compare_runs, "run folders")->required()->expected(1, 8);
  compare->add_option("--out", compare_out, "PNG file")->required();
  compare->add_option("--seed", compare_seed, "random seed (>= 0)")->capture_default_str()->check(seed_value);

  // --- fid, fid-features ------------------------------------------------------------------
  FidOptions fid_opts;
  int fid_threads = 0;
  auto* fid_cmd = app.add_subcommand("fid", "standard FID and KID between two image sets (FID Inception-v3)");
  fid_cmd->add_option("a", fid_opts.a, "images (a folder of png/jpg/bmp/pgm/ppm files, .npy N×H×W[×C], IDX, safetensors "
                      "'images' n×h×w×c in [0, 1], or a run folder: its samples), features (--features) or statistics")
      ->required();
  fid_cmd->add_option("b", fid_opts.b, "the second set, as A (optional with --save-stats)");
  fid_cmd->add_option("--weights", fid_opts.weights, "FID Inception weights (safetensors from scripts/convert-fid-inception.py)");
  fid_cmd->add_option("--save-stats", fid_opts.save_stats, "write A's statistics (mu, sigma) to this safetensors file");
  fid_cmd->add_option("--json", fid_opts.json_out, "also write the result as JSON");
  fid_cmd->add_flag("--features", fid_opts.features, "A and B hold features ('features' n×F), not images");
  fid_cmd->add_option("--batch-size", fid_opts.batch, "images per batch")->capture_default_str()->check(integer_in<std::int64_t>(1, 100000));
  fid_cmd->add_option("--samples", fid_opts.run_samples, "samples drawn from a run's prior when A or B is a run folder")
      ->capture_default_str()->check(integer_in<std::int64_t>(2, 1000000));
  fid_cmd->add_option("--seed", fid_opts.seed, "seed of a run's samples and of KID's subsets (>= 0)")->capture_default_str()->check(seed_value);
  fid_cmd->add_option("--kid-subsets", fid_opts.kid_subsets, "KID subsets")->capture_default_str()->check(integer_in<std::int64_t>(1, 100000));
  fid_cmd->add_option("--kid-subset-size", fid_opts.kid_subset_size, "KID subset size")->capture_default_str()->check(integer_in<std::int64_t>(2, 1000000));
  fid_cmd->add_option("--threads", fid_threads, "worker threads (0 = all cores)")->capture_default_str()->check(integer_in<std::int64_t>(0, 1024));
  FidFeaturesOptions fidf_opts;
  auto* fidf_cmd = app.add_subcommand("fid-features", "the FID Inception-v3 pool3 features of an image file");
  fidf_cmd->add_option("--weights", fidf_opts.weights, "FID Inception weights (safetensors)")->required();
  fidf_cmd->add_option("--images", fidf_opts.images, "safetensors file with 'images' n×h×w×c in [0, 1]")->required();
  fidf_cmd->add_option("--out", fidf_opts.out, "safetensors file for 'features' (n × 2048)")->required();
  fidf_cmd->add_option("--preprocessed-out", fidf_opts.preprocessed_out, "also write the network inputs (n×299×299×3)");
  fidf_cmd->add_option("--batch-size", fidf_opts.batch, "images per batch")->capture_default_str()->check(integer_in<std::int64_t>(1, 100000));
  fidf_cmd->add_option("--threads", fid_threads, "worker threads (0 = all cores)")->capture_default_str()->check(integer_in<std::int64_t>(0, 1024));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dpvae: error: " << e.what() << did_you_mean(app, e.what()) << " (see dpvae --help)\n";
    return 2;
  }

  if (*train) {
    absolute_data_paths(cfg);
    for (const auto& [flag, text] : hyper_given)
      if (train->count(flag) > 0) {
        std::string key = flag.substr(2);
        std::replace(key.begin(), key.end(), '-', '_');
        set.insert(key);
        cfg.hyper[key] = text;
      }
    for (const char* key : {"lr", "batch_size", "likelihood", "likelihood_weight", "latent_dim"}) {
      std::string flag = std::string("--") + key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (train->count(flag) > 0) set.insert(key);
    }
    if (set.count("lr")) cfg.lr = lr;
    if (set.count("batch_size")) cfg.batch_size = batch;
    if (set.count("likelihood")) cfg.likelihood = likelihood;
    if (set.count("likelihood_weight")) cfg.likelihood_weight = lik_weight;
    if (resume) {
      // A run's settings live in RUN/config.json; only the length and the threads may change.
      // The run's own command with --resume added is accepted: each setting it gives must
      // equal the stored one, compared in the config that command would give a new run.
      RunConfig given = cfg;
      given.validate();
      apply_preset(given, set);
      given.validate();
      std::vector<std::string> options;
      for (const auto* opt : train->get_options())
        if (opt->count() > 0) options.push_back(opt->get_name());
      require_same_settings(given, options, out);
    }
    if (!resume) {
      dpvae::detail::require(train->count("--steps") > 0, "--steps is required for a new run");
      cfg.steps = steps;
      cfg.validate();  // names a bad value (or a flag the objective lacks) before the preset fills the rest
      apply_preset(cfg, set);
      cfg.validate();
    } else if (train->count("--steps") > 0) {
      dpvae::detail::require(steps > 0, "--steps must be positive (got " + std::to_string(steps) + ")");
    }
    const int threads_override = resume && train->count("--threads") > 0 ? cfg.threads : -1;
    return dpvae::cli::train(cfg, out, resume, steps, threads_override, &comm);
  }
  if (*sample) {
    dpvae::detail::require(sample_n >= 1 && sample_n <= 4096, "--n must be in [1, 4096]");
    dpvae::detail::require(!(sample_low && sample_high), "give only one of --low-posterior and --high-posterior");
    dpvae::detail::require(sample_low || sample_high || (sample->count("--candidates") == 0 && sample->count("--posteriors") == 0),
                           "--candidates and --posteriors need --low-posterior or --high-posterior");
    dpvae::detail::require(sample_posteriors >= 0, "--posteriors must be >= 0");
    dpvae::detail::require(sample_sampler == "prior" || sample_sampler == "gmm" || sample_sampler == "flow",
                           "unknown --sampler '" + sample_sampler + "' (expected prior, gmm or flow)");
    dpvae::detail::require(sample_sampler == "prior" || (!sample_low && !sample_high),
                           "--sampler " + sample_sampler +
                               " draws from the ex-post sampler; --low-posterior and --high-posterior score the model's prior");
    dpvae::detail::require(sample_sampler == "flow" || sample->count("--flow-steps") == 0, "--flow-steps needs --sampler flow");
    require_png(sample_out);
    auto r = load_run(sample_run);
    if (sample_sampler == "gmm") {
      const dpvae::ExPostGmm g = fit_expost_gmm(*r.model, r.data);
      std::cout << "dpvae: ex-post GMM of " << g.components() << " components fitted to " << r.data.train.rows()
                << " training encodings in " << g.iterations() << " EM iterations (mean log-likelihood "
                << g.log_likelihood_history().back() << " nats" << (g.converged() ? "" : ", not converged") << ")\n";
      dpvae::Rng rng(sample_seed);
      write_latent_samples(r, *r.model, g.sample(sample_n, rng).cast<float>(), "ex-post GMM samples", sample_out);
    } else if (sample_sampler == "flow") {
      dpvae::FlowFitOptions fo;
      fo.seed = sample_seed;
      fo.steps = sample_flow_steps;
      const dpvae::ExPostFlow f = fit_expost_flow(*r.model, r.data, fo);
      std::cout << "dpvae: ex-post flow of " << fo.blocks << " coupling blocks fitted to q(z) of " << r.data.train.rows()
                << " training posteriors in " << fo.steps << " steps (last batch's NLL " << f.loss_history().back()
                << " nats)\n";
      dpvae::Rng rng(sample_seed);
      write_latent_samples(r, *r.model, f.sample(sample_n, rng).cast<float>(), "ex-post flow samples", sample_out);
    } else if (sample_low || sample_high) {
      const dpvae::Index candidates = sample->count("--candidates") > 0 ? sample_candidates : 100 * sample_n;
      write_posterior_samples(r, sample_low, candidates, sample_n, sample_posteriors, sample_seed, sample_out);
    } else {
      write_samples(r, *r.model, sample_n, sample_seed, sample_out);
    }
    std::cout << "dpvae: wrote " << sample_out << "\n";
    return 0;
  }
  if (*evaluate_cmd) {
    dpvae::detail::require(eval_threads >= 0 && eval_threads <= 1024, "--threads must be in [0, 1024]");
    dpvae::detail::require(eval_opts.posteriors >= 0 && eval_opts.nll_points >= 0 && eval_opts.lp_candidates >= 0,
                           "--posteriors, --nll-points and --lp-candidates must be >= 0");
    dpvae::detail::require(eval_opts.nll_k >= 1 && eval_opts.nll_k <= 1000000, "--nll-k must be in [1, 10^6]");
    dpvae::detail::require(eval_opts.skl_samples >= 2 && eval_opts.skl_samples <= 1000000, "--skl-samples must be in [2, 10^6]");
    dpvae::detail::require(eval_opts.leakage_samples >= 1 && eval_opts.leakage_samples <= 1000000,
                           "--leakage-samples must be in [1, 10^6]");
    std::optional<tbb::global_control> threads;
    if (eval_threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(eval_threads));
    eval_opts.feature_net = eval_feature_net;
    eval_opts.figures = eval_figures;
    eval_opts.fid_weights = eval_fid_weights;
    auto r = load_run(eval_run);
    const auto j = evaluate(r, eval_opts, eval_out);
    std::cout << "dpvae: " << j["model"].get<std::string>() << " at step " << j["step"] << ": FID " << j["fid"]["value"]
              << ", FID(LP) " << j["fid_lp"]["value"] << " (" << j["feature_space"]["name"].get<std::string>() << ")";
    if (j.contains("fid_inception"))
      std::cout << ", standard FID " << j["fid_inception"]["value"] << ", FID(LP) " << j["fid_lp_inception"]["value"]
                << " (FID Inception, " << j["fid_inception"]["generated"] << " vs " << j["fid_inception"]["real"] << ")";
    std::cout << ", sKL " << j["skl"]["value"] << ", NLL " << j["nll"]["nats"] << " nats; wrote " << eval_out << "\n";
    return 0;
  }
  if (*feature_cmd) {
    absolute_data_paths(feature_cfg);
    feature_cfg.validate();
    dpvae::detail::require(feature_cfg.dataset != "two-moons", "two-moons needs no feature net (FID uses the 2-D points)");
    dpvae::detail::require(feature_opts.steps >= 1 && feature_opts.steps <= 10000000, "--steps must be in [1, 10^7]");
    const auto data = load_data(feature_cfg);
    const std::filesystem::path path =
        feature_out.empty() ? default_feature_net(feature_cfg) : std::filesystem::path(feature_out);
    const auto space = feature_space(data, path, feature_opts);
    std::cout << "dpvae: " << space.name << " in " << path.string() << "\n";
    return 0;
  }
  if (*reproduce_cmd) {
    dpvae::detail::require(repro.threads >= 0 && repro.threads <= 1024, "--threads must be in [0, 1024]");
    repro.out = repro_out;
    dpvae::cli::RunConfig paths = repro.images;
    paths.dataset = repro.dataset;
    absolute_data_paths(paths);
    repro.dataset = paths.dataset;
    repro.images.labels = paths.labels;
    return reproduce(repro, comm);
  }
  if (*fid_cmd || *fidf_cmd) {
    std::optional<tbb::global_control> threads;
    if (fid_threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(fid_threads));
    return *fid_cmd ? fid(fid_opts) : fid_features(fidf_opts);
  }
  if (*compare) {
    std::vector<LoadedRun> runs;
    for (const auto& r : compare_runs) runs.push_back(load_run(r));
    require_png(compare_out);
    write_comparison(runs, compare_seed, compare_out);
    std::cout << "dpvae: wrote " << compare_out << "\n";
    return 0;
  }
  return 2;
}

}  // namespace

namespace dpvae::cli {

void configure_heap() {
#if defined(__GLIBC__)
  // Evaluation calls the networks on 100 rows at a time, each call with fresh activations of
  // about 10 MB. glibc gives freed blocks of that size back to the kernel, so every call
  // page-faults its memory in again (half of the importance-sampled NLL's time:
  // benchmarks/results/summary.md). Keep blocks of up to 32 MiB in the heap and trim it
  // only beyond 1 GiB free; peak memory is unchanged.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int cli_main(int argc, char** argv, Comm& comm) {
  try {
    return run(argc, argv, comm);
  } catch (const dpvae::Error& e) {
    std::cerr << "dpvae: error: " << one_line(e.what()) << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << "dpvae: error: out of memory\n";
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "dpvae: error: " << one_line(e.what()) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "dpvae: error: " << one_line(e.what()) << "\n";
  }
  comm.abort(2);  // data-parallel: the other ranks may wait in a collective; end them all
  return 2;
}

}  // namespace dpvae::cli
