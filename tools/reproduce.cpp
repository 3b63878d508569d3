// tools/reproduce.cpp — implementation of tools/reproduce.hpp.
#include "reproduce.hpp"

#include "evaluation.hpp"
#include "feature_net.hpp"
#include "figures.hpp"
#include "io_util.hpp"
#include "train_loop.hpp"

#include <dpvae/eval/inception.hpp>

#include <tbb/global_control.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::require;
using json = nlohmann::json;

namespace {

/// What a --budget spends: training steps per model, the metrics' sample counts, and the
/// feature net's training steps.
struct Budget {
  std::int64_t steps;
  EvalOptions eval;
  std::int64_t feature_steps;
};

/// The budget `name` (tiny, quick or paper) for a data set.
Budget budget_for(const std::string& name, const std::string& dataset) {
  Budget b;
  if (name == "paper") {
    b.steps = 100000;
    b.feature_steps = 6000;
    b.eval.samples = 10000;
    b.eval.nll_k = 1000;
    b.eval.nll_points = 0;
    return b;
  }
  require(name == "quick" || name == "tiny", "unknown --budget '" + name + "' (expected quick or paper)");
  if (name == "tiny") {  // the test suite's budget: a few seconds per model
    b.steps = 40;
    b.feature_steps = 30;
    b.eval = EvalOptions{.samples = 200, .lp_candidates = 2000, .posteriors = 500, .skl_samples = 300, .nll_k = 10,
                         .nll_points = 20, .leakage_samples = 300};
    return b;
  }
  b.steps = dataset == "two-moons" ? 5000 : 1500;
  b.feature_steps = 1500;
  b.eval = EvalOptions{.samples = 5000, .lp_candidates = 50000, .posteriors = 0, .skl_samples = 5000, .nll_k = 100,
                       .nll_points = 500, .leakage_samples = 3000};
  return b;
}

/// The objectives of the paper's Table 1: every listed regularizer the official code has
/// (dpvae::Regularizers, in list order; DIP-VAE and later additions are not in the paper).
const std::vector<std::string> kObjectives = [] {
  std::vector<std::string> names;
  for (const auto& info : objective_infos())
    if (info.official_run.exists) names.push_back(info.name);
  return names;
}();
const std::vector<std::string> kPriors{"standard", "decoupled"};

/// A table cell: a number with `precision` decimals, or "–" when there is none.
std::string fmt(const json& v, int precision = 2) {
  if (v.is_null() || !v.is_number()) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v.get<double>();
  return s.str();
}

}  // namespace

int reproduce(const ReproduceOptions& o) {
  {
    RunConfig probe = o.images;  // the data sets and image options of `train` (an unknown one is named with the list)
    probe.dataset = o.dataset;
    probe.validate();
  }
  require(o.preset == "official" || o.preset == "default", "unknown --preset '" + o.preset + "' (expected official or default)");
  require(!o.out.empty(), "--out is required");
  const Budget b = budget_for(o.budget, o.dataset);
  std::error_code ec;
  fs::create_directories(o.out / "runs", ec);
  fs::create_directories(o.out / "figures", ec);
  require(!ec && fs::is_directory(o.out), "cannot create " + o.out.string() + ": " + ec.message());
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<tbb::global_control> threads;
  if (o.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(o.threads));

  // Every run of one table shares the seed; each objective has one setting for both priors.
  auto config_for = [&](const std::string& objective, const std::string& prior) {
    RunConfig c;
    c.dataset = o.dataset;
    c.data_root = o.data_root;
    c.image_size = o.images.image_size;
    c.image_channels = o.images.image_channels;
    c.held_out = o.images.held_out;
    c.labels = o.images.labels;
    c.skip_bad_images = o.images.skip_bad_images;
    c.objective = objective;
    c.prior = prior;
    c.preset = o.preset;
    c.steps = b.steps;
    c.seed = o.seed;
    c.threads = o.threads;
    c.checkpoint_every = std::max<std::int64_t>(100, b.steps / 10);
    c.log_every = std::max<std::int64_t>(50, b.steps / 10);
    Overrides set;
    if (o.budget != "paper") {
      // Short runs: Adam at 1e-3 (the preset's 1e-4 is tuned for 100,000 steps) and
      // β-VAE-B's capacity reaching C_max at the end of the run, as it does in the paper.
      c.lr = 1e-3;
      set.insert("lr");
    }
    apply_preset(c, set);
    if (o.budget != "paper" && c.hyper.count("capacity_steps")) c.hyper["capacity_steps"] = std::to_string(b.steps);
    c.validate();
    return c;
  };

  // 1. The FID feature space (trained once, reused).
  RunConfig probe_cfg = config_for("vae", "standard");
  const Data data = load_data(probe_cfg);
  const fs::path feature_net = o.out / "feature-net.safetensors";
  FeatureNetOptions fo;
  fo.steps = b.feature_steps;
  fo.seed = o.seed;
  const FeatureSpace space = feature_space(data, feature_net, fo);

  // 2. Train (or resume, or reuse) and evaluate the paper's models (each objective × both priors).
  EvalOptions eo = b.eval;
  eo.seed = o.seed;
  eo.feature_net = feature_net;
  eo.fid_weights = o.fid_weights;
  eo.standard_fid_samples = o.standard_fid_samples;
  std::map<std::string, json> results;
  for (const auto& obj : kObjectives)
    for (const auto& prior : kPriors) {
      const std::string stem = obj + "-" + prior;
      const fs::path dir = o.out / "runs" / stem;
      const fs::path metrics = dir / "metrics.json";
      const RunConfig c = config_for(obj, prior);
      std::cout << "reproduce: [" << stem << "] " << display_name(c) << "  (" << static_cast<long long>(seconds_since(t0))
                << " s elapsed)" << std::endl;
      if (fs::exists(dir / "config.json")) train(c, dir, true, 0);
      else train(c, dir, false, c.steps);
      if (fs::exists(metrics)) {
        try {
          std::ifstream in(metrics);
          results[stem] = json::parse(in);
          if (results[stem].value("step", std::uint64_t{0}) == static_cast<std::uint64_t>(c.steps) &&
              (o.fid_weights.empty() || results[stem].contains("fid_inception"))) {
            std::cout << "reproduce: reusing " << metrics.string() << "\n";
            continue;
          }
        } catch (const json::exception&) {
        }
      }
      LoadedRun run = load_run(dir);
      eo.figures = o.out / "figures" / "runs";
      results[stem] = evaluate(run, eo, metrics);
    }

  // 3. The table (paper Table 1 for this data set), VAE and dpVAE rows paired.
  std::ostringstream md, csv;
  const json& any = results.begin()->second;
  md << "# dpvae reproduce: " << o.dataset << ", budget " << o.budget << ", preset " << o.preset << "\n\n";
  md << "Each model trained " << b.steps << " steps (seed " << o.seed << ", latent dimension " << probe_cfg.latent_dim
     << (o.budget == "paper" ? "" : ", Adam lr 1e-3 for the short budget") << "). FID in the "
     << any["feature_space"]["name"].get<std::string>() << ": " << any["fid"]["generated"] << " generated vs "
     << any["fid"]["real"] << " held-out; FID(LP): the " << any["fid_lp"]["generated"] << " lowest-q(z) of "
     << any["fid_lp"]["candidates"] << " prior draws, q(z) from " << any["fid_lp"]["posteriors"]
     << " training posteriors. sKL: " << any["skl"]["kl_q_p"]["samples"]
     << " samples per direction, in z. NLL: importance sampling, K = " << any["nll"]["k"] << ", "
     << any["nll"]["points"] << " test points, nats (" << any["nll"]["note"].get<std::string>()
     << "). Probe: linear (softmax) probe accuracy on the posterior means, test set.\n\n";
  const bool standard = !o.fid_weights.empty();
  if (standard)
    md << "Standard FID: " << FidInception::kFeatureSpace << ", " << any["fid_inception"]["generated"]
       << " generated (random; LP: evenly spaced through the LP samples) vs the first " << any["fid_inception"]["real"]
       << " test images; FID is biased upwards at these counts (KID, in metrics.json, is not).\n\n";
  md << "| model | FID ↓ | FID(LP) ↓ |" << (standard ? " FID Inception ↓ | FID(LP) Inception ↓ |" : "")
     << " sKL ↓ | NLL (nats) ↓ | probe acc. ↑ | LS(τ=−10) | in region |\n";
  md << "|---|---:|---:|" << (standard ? "---:|---:|" : "") << "---:|---:|---:|---:|---:|\n";
  csv << "objective,prior,model,steps,fid,fid_lp,skl,nll_nats,nll_bits_per_dim,probe_accuracy,leakage_tau_minus10,"
         "leakage_fraction_minus10,mig,fid_inception,fid_lp_inception\n";
  for (const auto& obj : kObjectives)
    for (const auto& prior : kPriors) {
      const json& r = results.at(obj + "-" + prior);
      json ls = nullptr, frac = nullptr;
      for (const auto& p : r["leakage"]["curve"])
        if (p["tau"].get<double>() == -10.0) ls = p["score"], frac = p["fraction"];
      const json probe = r.contains("probe") ? r["probe"]["test_accuracy"] : json(nullptr);
      const json mig = r.contains("mig") ? r["mig"]["value"] : json(nullptr);
      md << "| " << r["model"].get<std::string>() << " | " << fmt(r["fid"]["value"]) << " | " << fmt(r["fid_lp"]["value"]);
      if (standard) md << " | " << fmt(r["fid_inception"]["value"]) << " | " << fmt(r["fid_lp_inception"]["value"]);
      md << " | " << fmt(r["skl"]["value"]) << " | " << fmt(r["nll"]["nats"]) << " | " << fmt(probe, 4) << " | "
         << fmt(ls) << " | " << fmt(frac, 3) << " |\n";
      csv << obj << "," << prior << ",\"" << r["model"].get<std::string>() << "\"," << r["step"] << ","
          << r["fid"]["value"] << "," << r["fid_lp"]["value"] << "," << r["skl"]["value"] << "," << r["nll"]["nats"] << ","
          << r["nll"]["bits_per_dim"] << "," << probe.dump() << "," << ls.dump() << "," << frac.dump() << "," << mig.dump() << ","
          << (r.contains("fid_inception") ? r["fid_inception"]["value"].dump() : "null") << ","
          << (r.contains("fid_lp_inception") ? r["fid_lp_inception"]["value"].dump() : "null") << "\n";
    }
  md << "\nWith the decoupled prior (dpVAE row vs the VAE row above it):\n\n";
  md << "| objective | FID lower | FID(LP) lower | sKL lower | probe acc. change |\n|---|---|---|---|---:|\n";
  int fid_wins = 0, lp_wins = 0, skl_wins = 0;
  for (const auto& obj : kObjectives) {
    const json& s = results.at(obj + "-standard");
    const json& dp = results.at(obj + "-decoupled");
    auto lower = [&](const char* key) { return dp[key]["value"].get<double>() < s[key]["value"].get<double>(); };
    const bool a = lower("fid"), l = lower("fid_lp"), k = lower("skl");
    fid_wins += a, lp_wins += l, skl_wins += k;
    std::string dprobe = "–";
    if (s.contains("probe") && dp.contains("probe"))
      dprobe = fmt(dp["probe"]["test_accuracy"].get<double>() - s["probe"]["test_accuracy"].get<double>(), 4);
    md << "| " << obj << " | " << (a ? "yes" : "no") << " | " << (l ? "yes" : "no") << " | " << (k ? "yes" : "no")
       << " | " << dprobe << " |\n";
  }
  const std::string of = " of " + std::to_string(kObjectives.size());
  md << "| **total** | " << fid_wins << of << " | " << lp_wins << of << " | " << skl_wins << of << " | |\n";
  md << "\nFigures: figures/fig5-*.png (random | low-posterior samples, VAE vs dpVAE), figures/fig4-leakage.png, "
        "figures/fig3-*.png (q(z), p(z), LP/HP samples for 2-D latents), figures/fig6-*.png (traversals), "
        "figures/fig8-*.png (single-dimension sweeps), figures/runs/ (every run's own figures).\n";

  // 4. The paired figures.
  std::cout << "reproduce: drawing the figures" << std::endl;
  std::vector<LeakageCurves> leakage;
  for (const auto& obj : kObjectives) {
    const LoadedRun vae = load_run(o.out / "runs" / (obj + "-standard"));
    const LoadedRun dp = load_run(o.out / "runs" / (obj + "-decoupled"));
    write_pair_figures(vae, dp, obj, o.seed, o.out / "figures");
    leakage.push_back({display_name(vae.config), display_name(dp.config), results.at(obj + "-standard")["leakage"]["curve"],
                       results.at(obj + "-decoupled")["leakage"]["curve"]});
  }
  write_leakage_figure(leakage, o.out / "figures" / "fig4-leakage.png");
  md << "\nWall time of this reproduce call, figures included: " << static_cast<long long>(seconds_since(t0))
     << " s (runs and evaluations reused from an earlier call are not counted again).\n";
  write_text_atomic(o.out / "table.md", md.str());
  write_text_atomic(o.out / "table.csv", csv.str());
  std::cout << md.str();
  std::cout << "reproduce: wrote " << (o.out / "table.md").string() << ", table.csv and figures/ in "
            << static_cast<long long>(seconds_since(t0)) << " s\n";
  return 0;
}

}  // namespace dpvae::cli
