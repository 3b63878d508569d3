// tools/reproduce.cpp — implementation of tools/reproduce.hpp.
#include "reproduce.hpp"

#include "evaluation.hpp"
#include "feature_net.hpp"
#include "figures.hpp"
#include "io_util.hpp"
#include "paper_table1.hpp"
#include "run_folder.hpp"
#include "train_loop.hpp"

#include <dpvae/eval/inception.hpp>

#include <tbb/global_control.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
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
  /// Adam at the preset's learning rate (paper, converge); otherwise at 1e-3 (quick, tiny).
  bool preset_lr = true;
};

/// The budget `name` (tiny, quick, converge or paper) for a data set.
Budget budget_for(const std::string& name, const std::string& dataset) {
  Budget b;
  if (name == "converge") {
    // The preset's own learning rates (1e-4, β-VAE-B 1e-3), at which every objective of the
    // official preset keeps its posterior open on MNIST where 1e-3 closes InfoVAE's
    // (benchmarks/results/reproduce-mnist/README.md: how the length was found), and the quick
    // budget's metric counts.
    b.steps = 15000;
    b.feature_steps = 1500;
    b.eval = EvalOptions{.samples = 5000, .lp_candidates = 50000, .posteriors = 0, .skl_samples = 5000, .nll_k = 100,
                         .nll_points = 500, .leakage_samples = 3000};
    return b;
  }
  if (name == "paper") {
    b.steps = 100000;
    b.feature_steps = 6000;
    b.eval.samples = 10000;
    b.eval.nll_k = 1000;
    b.eval.nll_points = 0;
    return b;
  }
  require(name == "quick" || name == "tiny", "unknown --budget '" + name + "' (expected quick, converge, paper or tiny)");
  b.preset_lr = false;
  if (name == "tiny") {  // the test suite's budget: a few seconds per model
    b.steps = 40;
    b.feature_steps = 30;
    b.eval = EvalOptions{.samples = 200, .lp_candidates = 2000, .posteriors = 500, .skl_samples = 300, .nll_k = 10,
                         .nll_points = 20, .leakage_samples = 300, .expost_flow_steps = 100};
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

/// A table cell: a number with `precision` decimals, or "–" when there is none. A value that
/// rounds to zero prints as 0.00, not -0.00.
std::string fmt(const json& v, int precision = 2) {
  if (v.is_null() || !v.is_number()) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v.get<double>();
  std::string out = s.str();
  if (out.size() > 1 && out[0] == '-' && out.find_first_not_of("0.", 1) == std::string::npos) out.erase(0, 1);
  return out;
}

}  // namespace

int reproduce(const ReproduceOptions& o, Comm& comm) {
  {
    RunConfig probe = o.images;  // the data sets and image options of `train` (an unknown one is named with the list)
    probe.dataset = o.dataset;
    probe.validate();
  }
  require(o.preset == "official" || o.preset == "default", "unknown --preset '" + o.preset + "' (expected official or default)");
  require(!o.out.empty(), "--out is required");
  Budget b = budget_for(o.budget, o.dataset);
  require(o.seeds >= 1 && o.seeds <= 1000, "--seeds must be in [1, 1000]");
  require(o.steps >= 0 && o.steps <= 1000000000, "--steps must be in [1, 10^9]");
  if (o.steps > 0) b.steps = o.steps;
  std::error_code ec;
  fs::create_directories(o.out / "runs", ec);
  fs::create_directories(o.out / "figures", ec);
  require(!ec && fs::is_directory(o.out), "cannot create " + o.out.string() + ": " + ec.message());
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<tbb::global_control> threads;
  if (o.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(o.threads));

  // Every run of one table shares the seed; each objective has one setting for both priors.
  auto config_for = [&](const std::string& objective, const std::string& prior, std::uint64_t seed) {
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
    c.seed = seed;
    c.threads = o.threads;
    c.checkpoint_every = std::max<std::int64_t>(100, b.steps / 10);
    c.log_every = std::max<std::int64_t>(50, b.steps / 10);
    Overrides set;
    if (!b.preset_lr) {
      // Short runs (quick, tiny): Adam at 1e-3 (the preset's 1e-4 is tuned for 100,000 steps).
      c.lr = 1e-3;
      set.insert("lr");
    }
    apply_preset(c, set);
    // Shorter budgets: β-VAE-B's capacity reaches C_max at the end of the run, as it does
    // in the paper.
    if (o.budget != "paper" && c.hyper.count("capacity_steps")) c.hyper["capacity_steps"] = std::to_string(b.steps);
    c.validate();
    return c;
  };

  const int rank = comm.rank(), ranks = comm.size();
  // Progress lines name the rank when there are several.
  const std::string tag = ranks > 1 ? "reproduce[" + std::to_string(rank) + "/" + std::to_string(ranks) + "]: " : "reproduce: ";

  // 1. The FID feature space (trained once by rank 0, reused by every rank and later call).
  RunConfig probe_cfg = config_for("vae", "standard", o.seed);
  const Data data = load_data(probe_cfg);
  const fs::path feature_net = o.out / "feature-net.safetensors";
  FeatureNetOptions fo;
  fo.steps = b.feature_steps;
  fo.seed = o.seed;
  if (rank == 0) feature_space(data, feature_net, fo);
  comm.barrier();
  if (rank != 0) feature_space(data, feature_net, fo);

  // 2. Train (or resume, or reuse) and evaluate the paper's models (each objective × both priors).
  EvalOptions eo = b.eval;
  eo.seed = o.seed;
  eo.feature_net = feature_net;
  eo.fid_weights = o.fid_weights;
  eo.standard_fid_samples = o.standard_fid_samples;
  // results[stem][i]: the metrics of seed o.seed + i. The first seed's runs live in
  // runs/<objective>-<prior> (as with one seed), the others in runs/<objective>-<prior>-seed<S>,
  // so that raising --seeds later reuses every run already made.
  const auto run_dir = [&](const std::string& stem, int i) {
    return o.out / "runs" / (i == 0 ? stem : stem + "-seed" + std::to_string(o.seed + static_cast<std::uint64_t>(i)));
  };
  struct Job {
    int seed_index;
    std::string objective, prior;
    fs::path dir;
    RunConfig config;
  };
  std::vector<Job> jobs;
  for (int i = 0; i < o.seeds; ++i)
    for (const auto& obj : kObjectives)
      for (const auto& prior : kPriors) {
        const std::string stem = obj + "-" + prior;
        jobs.push_back({i, obj, prior, run_dir(stem, i), config_for(obj, prior, o.seed + static_cast<std::uint64_t>(i))});
      }
  // The metrics a run folder already holds for this job, when they are complete.
  const auto reusable = [&](const Job& job) -> std::optional<json> {
    const fs::path metrics = job.dir / "metrics.json";
    if (!fs::exists(metrics)) return std::nullopt;
    try {
      std::ifstream in(metrics);
      json r = json::parse(in);
      if (r.value("step", std::uint64_t{0}) == static_cast<std::uint64_t>(job.config.steps) &&
          (o.fid_weights.empty() || r.contains("fid_inception")) && r.contains("fid_lp_minibatch") &&
          (job.prior != "standard" || (r.contains("expost_gmm") && r.contains("expost_flow"))))
        return r;
    } catch (const json::exception&) {
    }
    return std::nullopt;
  };
  // Train (or resume, or reuse) and evaluate one model.
  const auto run_job = [&](const Job& job) -> json {
    const RunConfig& c = job.config;
    std::cout << tag << "[" << job.dir.filename().string() << "] " << display_name(c) << ", seed " << c.seed << "  ("
              << static_cast<long long>(seconds_since(t0)) << " s elapsed)" << std::endl;
    if (fs::exists(job.dir / "config.json") && list_checkpoints(job.dir).empty()) {
      // Stopped after writing config.json and before its first checkpoint: nothing trained
      // was kept, so the model starts again from scratch (a resume would find nothing).
      std::error_code ec;
      fs::remove(job.dir / "config.json", ec);
      dpvae::detail::require(!ec, "cannot restart " + job.dir.string() + ": " + ec.message());
    }
    if (fs::exists(job.dir / "config.json")) {
      // A run already there must be the one this call asks for: the same settings, the
      // number of steps included (β-VAE-B's capacity schedule and the checkpoint spacing
      // follow it), so that a table never describes other models than it says.
      json stored = read_run_config(job.dir).to_json(), wanted = c.to_json();
      for (const char* k : {"threads", "data_root"}) stored.erase(k), wanted.erase(k);
      for (auto it = wanted.begin(); it != wanted.end(); ++it)
        if (!stored.contains(it.key()) || stored[it.key()] != it.value())
          dpvae::detail::fail(job.dir.string() + " holds a run with " + it.key() + " = " +
                              (stored.contains(it.key()) ? stored[it.key()].dump() : std::string("(none)")) +
                              " where this reproduce asks for " + it.value().dump() + "; use another --out");
      train(c, job.dir, true, 0);
    } else {
      train(c, job.dir, false, c.steps);
    }
    if (std::optional<json> r = reusable(job)) {
      std::cout << tag << "reusing " << (job.dir / "metrics.json").string() << "\n";
      return *r;
    }
    LoadedRun run = load_run(job.dir);
    EvalOptions e = eo;
    e.figures = o.out / "figures" / "runs";
    e.seed = c.seed;
    e.expost_gmm = e.expost_flow = job.prior == "standard";  // the fixes a standard-prior user would reach for, measured alike
    return evaluate(run, e, job.dir / "metrics.json");
  };
  // Deal the jobs out: longest first (a model's steps × batch size; a job whose metrics are
  // complete costs nothing, a half-trained one its full length), each to the rank with the
  // least work so far (lowest rank on ties). Every rank computes the same assignment from
  // the same files.
  std::vector<int> owner(jobs.size(), 0);
  if (ranks > 1) {
    std::vector<double> cost(jobs.size());
    for (std::size_t j = 0; j < jobs.size(); ++j)
      cost[j] = reusable(jobs[j]) ? 0.0 : static_cast<double>(jobs[j].config.steps) * static_cast<double>(jobs[j].config.batch_size);
    std::vector<std::size_t> order(jobs.size());
    for (std::size_t j = 0; j < order.size(); ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t c) { return cost[a] > cost[c]; });
    std::vector<double> load(static_cast<std::size_t>(ranks), 0.0);
    for (std::size_t j : order) {
      const auto least = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
      owner[j] = static_cast<int>(least);
      load[least] += cost[j];
    }
  }
  json mine = json::object();  // job index → metrics, this rank's jobs
  for (std::size_t j = 0; j < jobs.size(); ++j)
    if (owner[j] == rank) mine[std::to_string(j)] = run_job(jobs[j]);
  // Rank 0 gathers every rank's metrics (as text: the same parse for one rank or many, so the
  // table cannot depend on how the jobs were dealt out), then writes the table alone.
  const std::vector<std::string> gathered = comm.gather_to_root(mine.dump());
  if (rank != 0) return 0;
  std::map<std::string, std::vector<json>> results;
  std::size_t gathered_jobs = 0;
  for (const std::string& text : gathered) {
    const json part = json::parse(text);
    for (const auto& [key, r] : part.items()) {
      const Job& job = jobs.at(static_cast<std::size_t>(std::stoul(key)));
      std::vector<json>& slot = results[job.objective + "-" + job.prior];
      slot.resize(static_cast<std::size_t>(o.seeds));
      slot[static_cast<std::size_t>(job.seed_index)] = r;
      ++gathered_jobs;
    }
  }
  require(gathered_jobs == jobs.size(), "reproduce: the ranks returned " + std::to_string(gathered_jobs) + " of " +
                                            std::to_string(jobs.size()) + " models");

  // 3. The table (paper Table 1 for this data set), VAE and dpVAE rows paired; each entry the
  // mean ± standard deviation (ddof 1) over the seeds, each verdict counted on paired seeds.
  std::ostringstream md, csv;
  const json& any = results.begin()->second.front();
  const std::size_t n_seeds = static_cast<std::size_t>(o.seeds);
  md << "# dpvae reproduce: " << o.dataset << ", budget " << o.budget << ", preset " << o.preset << "\n\n";
  md << "Each model trained " << b.steps << " steps (";
  if (o.seeds == 1) md << "seed " << o.seed;
  else md << o.seeds << " seeds, " << o.seed << " to " << o.seed + n_seeds - 1 << "; every entry the mean ± standard deviation over them";
  md << ", latent dimension " << probe_cfg.latent_dim
     << (b.preset_lr ? ", Adam at the preset's learning rate" : ", Adam lr 1e-3 for the short budget") << "). FID in the "
     << any["feature_space"]["name"].get<std::string>() << ": " << any["fid"]["generated"] << " generated vs "
     << any["fid"]["real"] << " held-out; FID(LP): the " << any["fid_lp"]["generated"] << " lowest-q(z) of "
     << any["fid_lp"]["candidates"] << " prior draws, q(z) from " << any["fid_lp"]["posteriors"]
     << " training posteriors. sKL: " << any["skl"]["kl_q_p"]["samples"]
     << " samples per direction, in z. NLL: importance sampling, K = " << any["nll"]["k"] << ", "
     << any["nll"]["points"] << " test points, nats (" << any["nll"]["note"].get<std::string>()
     << "). Probe: linear (softmax) probe accuracy on the posterior means, test set. FID(LP), minibatch q: the same "
        "fraction of draws kept, scored per group of B training posteriors (B = the run's batch size), the official "
        "code's estimate of q(z). \"+ ex-post GMM\": the standard-prior model sampled from a 10-component Gaussian "
        "mixture fitted to its training encodings (posterior means) after training (Ghosh et al. 2020); \"+ ex-post "
        "flow\": the same model sampled from the library's coupling flow (6 blocks) fitted after training to q(z) "
        "(Dai & Wipf 2019's two-stage idea); every metric on the same counts, NLL and leakage with the sampler's "
        "density as the prior.\n\n";
  const bool standard = !o.fid_weights.empty();
  if (standard)
    md << "Standard FID: " << FidInception::kFeatureSpace << ", " << any["fid_inception"]["generated"]
       << " generated (random; LP: evenly spaced through the LP samples) vs the first " << any["fid_inception"]["real"]
       << " test images; FID is biased upwards at these counts (KID, in metrics.json, is not).\n\n";
  // One metric of one run: its value, or null.
  using Pick = std::function<json(const json&)>;
  const Pick fid = [](const json& r) { return r["fid"]["value"]; };
  const Pick fid_lp = [](const json& r) { return r["fid_lp"]["value"]; };
  const Pick skl = [](const json& r) { return r["skl"]["value"]; };
  const Pick nll = [](const json& r) { return r["nll"]["nats"]; };
  const Pick probe = [](const json& r) { return r.contains("probe") ? r["probe"]["test_accuracy"] : json(nullptr); };
  const Pick fid_inc = [](const json& r) { return r.contains("fid_inception") ? r["fid_inception"]["value"] : json(nullptr); };
  const Pick fid_lp_inc = [](const json& r) {
    return r.contains("fid_lp_inception") ? r["fid_lp_inception"]["value"] : json(nullptr);
  };
  const auto leakage_at = [](const json& r, bool fraction) {
    for (const auto& p : r["leakage"]["curve"])
      if (p["tau"].get<double>() == -10.0) return fraction ? p["fraction"] : p["score"];
    return json(nullptr);
  };
  const Pick ls = [&](const json& r) { return leakage_at(r, false); };
  const Pick frac = [&](const json& r) { return leakage_at(r, true); };
  // "mean ± sd" over the seeds (the mean alone for one seed; "–" when a seed lacks the value).
  const auto cell = [&](const std::vector<json>& runs, const Pick& pick, int precision) -> std::string {
    std::vector<double> v;
    for (const json& r : runs) {
      const json x = pick(r);
      if (!x.is_number()) return "–";
      v.push_back(x.get<double>());
    }
    double mean = 0;
    for (double x : v) mean += x / static_cast<double>(v.size());
    if (v.size() < 2) return fmt(mean, precision);
    double ss = 0;
    for (double x : v) ss += (x - mean) * (x - mean);
    return fmt(mean, precision) + " ± " + fmt(std::sqrt(ss / static_cast<double>(v.size() - 1)), precision);
  };
  // A sampler's metric of one run: the prior's (key ""), or an ex-post sampler's ("expost_gmm", ...).
  const auto of = [](const std::string& key, const Pick& pick) -> Pick {
    return [key, pick](const json& r) { return key.empty() ? pick(r) : (r.contains(key) ? pick(r[key]) : json(nullptr)); };
  };
  const Pick fid_lp_mb = [](const json& r) { return r.contains("fid_lp_minibatch") ? r["fid_lp_minibatch"]["value"] : json(nullptr); };
  const bool paper = paper_table1(o.dataset, "vae", "standard").has_value();
  md << "| model | FID ↓ | FID(LP) ↓ | FID(LP), minibatch q ↓ |" << (standard ? " FID Inception ↓ | FID(LP) Inception ↓ |" : "")
     << " sKL ↓ | NLL (nats) ↓ | probe acc. ↑ | LS(τ=−10) | in region |"
     << (paper ? " paper: FID | FID(LP) | sKL |" : "") << "\n";
  md << "|---|---:|---:|---:|" << (standard ? "---:|---:|" : "") << "---:|---:|---:|---:|---:|" << (paper ? "---:|---:|---:|" : "")
     << "\n";
  const auto table_row = [&](const std::string& label, const std::vector<json>& runs, const std::string& key,
                             const std::optional<PaperEntry>& p) {
    md << "| " << label << " | " << cell(runs, of(key, fid), 2) << " | " << cell(runs, of(key, fid_lp), 2) << " | "
       << cell(runs, of(key, fid_lp_mb), 2);
    if (standard) md << " | " << cell(runs, of(key, fid_inc), 2) << " | " << cell(runs, of(key, fid_lp_inc), 2);
    md << " | " << cell(runs, of(key, skl), 2) << " | " << cell(runs, of(key, nll), 2) << " | "
       << (key.empty() ? cell(runs, probe, 4) : std::string("(same)")) << " | " << cell(runs, of(key, ls), 2) << " | "
       << cell(runs, of(key, frac), 3) << " |";
    if (paper) {
      if (p) md << " " << fmt(p->fid, 1) << " | " << fmt(p->fid_lp, 1) << " | " << fmt(p->skl, 2) << " |";
      else md << " | | |";
    }
    md << "\n";
  };
  csv << "objective,prior,sampler,model,seed,steps,fid,fid_lp,fid_lp_minibatch,skl,nll_nats,nll_bits_per_dim,probe_accuracy,"
         "leakage_tau_minus10,leakage_fraction_minus10,mig,fid_inception,fid_lp_inception\n";
  const std::vector<std::pair<std::string, std::string>> expost{{"expost_gmm", "ex-post GMM"}, {"expost_flow", "ex-post flow"}};
  for (const auto& obj : kObjectives)
    for (const auto& prior : kPriors) {
      const std::vector<json>& runs = results.at(obj + "-" + prior);
      const std::string name = runs.front()["model"].get<std::string>();
      table_row(name, runs, "", paper_table1(o.dataset, obj, prior));
      std::vector<std::pair<std::string, std::string>> samplers{{"", "prior"}};
      if (prior == "standard")  // the same models, sampled from the ex-post samplers
        for (const auto& [key, label] : expost)
          if (runs.front().contains(key)) {
            table_row(name + " + " + label, runs, key, std::nullopt);
            samplers.emplace_back(key, label);
          }
      for (std::size_t i = 0; i < runs.size(); ++i)
        for (const auto& [key, label] : samplers) {
          const json& r = runs[i];
          const json mig = r.contains("mig") ? r["mig"]["value"] : json(nullptr);
          csv << obj << "," << prior << ",\"" << label << "\",\"" << r["model"].get<std::string>() << "\"," << o.seed + i << ","
              << r["step"] << "," << of(key, fid)(r).dump() << "," << of(key, fid_lp)(r).dump() << "," << of(key, fid_lp_mb)(r).dump()
              << "," << of(key, skl)(r).dump() << "," << of(key, nll)(r).dump() << ","
              << (key.empty() ? r["nll"]["bits_per_dim"] : r[key]["nll"]["bits_per_dim"]).dump() << ","
              << (key.empty() ? probe(r) : json(nullptr)).dump() << "," << of(key, ls)(r).dump() << ","
              << of(key, frac)(r).dump() << "," << mig.dump() << "," << of(key, fid_inc)(r).dump() << ","
              << of(key, fid_lp_inc)(r).dump() << "\n";
        }
    }
  if (paper)
    md << "\nThe paper's columns: its Table 1 for " << o.dataset
       << " (FID in the Inception-v3 feature space on 10,000 samples after 100,000 steps; sKL in z). They compare with "
          "the FID Inception columns only in kind, not in value, unless this table was made at the paper budget with "
          "--fid-weights; the domain-feature FIDs are on another scale.\n";
  md << "\nWith the decoupled prior (dpVAE row vs the VAE row above it)"
     << (o.seeds > 1 ? ", on paired seeds (the same seed for both priors): on how many seeds the dpVAE's value is lower, "
                       "and the mean change of the probe accuracy"
                     : "")
     << ":\n\n";
  md << "| objective | FID lower | FID(LP) lower | FID(LP), minibatch q, lower | sKL lower | probe acc. change |\n"
        "|---|---|---|---|---|---:|\n";
  int fid_wins = 0, lp_wins = 0, lp_mb_wins = 0, skl_wins = 0;
  // Seeds on which run a's value is lower than run b's (pairs compared on the same seed).
  const auto lower = [&](const std::vector<json>& a, const std::vector<json>& b, const Pick& pa, const Pick& pb) {
    int k = 0;
    for (std::size_t i = 0; i < n_seeds; ++i) {
      const json x = pa(a[i]), y = pb(b[i]);
      k += x.is_number() && y.is_number() && x.get<double>() < y.get<double>();
    }
    return k;
  };
  // An objective counts towards the total when it holds on more than half of the seeds.
  const auto holds = [&](int wins) { return 2 * wins > o.seeds; };
  const auto verdict = [&](int wins) {
    if (o.seeds == 1) return std::string(wins ? "yes" : "no");
    return std::string(holds(wins) ? "yes" : "no") + " (" + std::to_string(wins) + " of " + std::to_string(o.seeds) + ")";
  };
  for (const auto& obj : kObjectives) {
    const std::vector<json>& s_runs = results.at(obj + "-standard");
    const std::vector<json>& d_runs = results.at(obj + "-decoupled");
    const int a = lower(d_runs, s_runs, fid, fid), l = lower(d_runs, s_runs, fid_lp, fid_lp),
              lm = lower(d_runs, s_runs, fid_lp_mb, fid_lp_mb), k = lower(d_runs, s_runs, skl, skl);
    fid_wins += holds(a), lp_wins += holds(l), lp_mb_wins += holds(lm), skl_wins += holds(k);
    std::string dprobe = "–";
    if (probe(s_runs.front()).is_number() && probe(d_runs.front()).is_number()) {
      double change = 0;
      for (std::size_t i = 0; i < n_seeds; ++i)
        change += (probe(d_runs[i]).get<double>() - probe(s_runs[i]).get<double>()) / static_cast<double>(n_seeds);
      dprobe = fmt(change, 4);
    }
    md << "| " << obj << " | " << verdict(a) << " | " << verdict(l) << " | " << verdict(lm) << " | " << verdict(k) << " | "
       << dprobe << " |\n";
  }
  const std::string of_n = " of " + std::to_string(kObjectives.size());
  md << "| **total** | " << fid_wins << of_n << " | " << lp_wins << of_n << " | " << lp_mb_wins << of_n << " | " << skl_wins
     << of_n << " | |\n";
  // The decoupled prior against the ex-post samplers of the same objective's standard-prior model.
  if (results.at(kObjectives.front() + "-standard").front().contains("expost_flow")) {
    md << "\nThe decoupled prior (trained jointly) against the ex-post samplers fitted to the standard-prior model of "
          "the same objective and seed: is the dpVAE's value lower?\n\n"
          "| objective | FID < GMM's | FID < flow's | FID(LP) < GMM's | FID(LP) < flow's | sKL < GMM's | sKL < flow's |\n"
          "|---|---|---|---|---|---|---|\n";
    for (const auto& obj : kObjectives) {
      const std::vector<json>& s_runs = results.at(obj + "-standard");
      const std::vector<json>& d_runs = results.at(obj + "-decoupled");
      md << "| " << obj;
      for (const Pick& pick : {fid, fid_lp, skl})
        for (const auto& [key, label] : expost) md << " | " << verdict(lower(d_runs, s_runs, pick, of(key, pick)));
      md << " |\n";
    }
  }
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
    leakage.push_back({display_name(vae.config), display_name(dp.config), results.at(obj + "-standard").front()["leakage"]["curve"],
                       results.at(obj + "-decoupled").front()["leakage"]["curve"]});
  }
  write_leakage_figure(leakage, o.out / "figures" / "fig4-leakage.png");
  md << "\nWall time of this reproduce call, figures included: " << static_cast<long long>(seconds_since(t0)) << " s"
     << (ranks > 1 ? " on " + std::to_string(ranks) + " MPI ranks" : std::string()) << " (runs and evaluations reused from an earlier call are not counted again).\n";
  write_text_atomic(o.out / "table.md", md.str());
  write_text_atomic(o.out / "table.csv", csv.str());
  std::cout << md.str();
  std::cout << "reproduce: wrote " << (o.out / "table.md").string() << ", table.csv and figures/ in "
            << static_cast<long long>(seconds_since(t0)) << " s\n";
  return 0;
}

}  // namespace dpvae::cli
