// tools/figures.cpp — implementation of tools/figures.hpp.
#include "figures.hpp"

#include "latents.hpp"
#include "plot.hpp"

#include <dpvae/prior/priors.hpp>

#include <algorithm>
#include <array>
#include <span>
#include <tuple>
#include <utility>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::require;

namespace {

/// The palette of every figure: data grey, samples orange, low-posterior red,
/// high-posterior (and dpVAE curves) blue, latent samples over a heat map white.
namespace colour {
constexpr std::array<double, 3> grey{0.55, 0.55, 0.55}, red{0.85, 0.1, 0.1}, blue{0.12, 0.35, 0.8},
    orange{0.9, 0.45, 0.05}, white{1, 1, 1};
}  // namespace colour

/// The density exp(log_density(z)) over the box [x0, x1] × [y0, y1] as a g × g heat map of
/// bin centres (top row = max y). `log_density` maps n × 2 points to n values, float or double.
template <class LogDensity>
plot::Heatmap density_heatmap(const LogDensity& log_density, double x0, double x1, double y0, double y1, Index g) {
  Matrix<float> pts(g * g, 2);
  for (Index i = 0; i < g; ++i)
    for (Index j = 0; j < g; ++j)
      pts.row(i * g + j) << static_cast<float>(x0 + (x1 - x0) * (static_cast<double>(j) + 0.5) / static_cast<double>(g)),
          static_cast<float>(y1 - (y1 - y0) * (static_cast<double>(i) + 0.5) / static_cast<double>(g));
  const auto lp = log_density(pts);
  using Scalar = typename std::decay_t<decltype(lp)>::Scalar;
  plot::Heatmap h;
  h.values = Eigen::Map<const Matrix<Scalar>>(lp.data(), g, g).template cast<double>().array().exp().matrix();
  h.x_min = x0, h.x_max = x1, h.y_min = y0, h.y_max = y1;
  return h;
}

std::string file_stem(const RunConfig& c) { return c.objective + "-" + c.prior; }

/// Paper Fig. 1 / 3 panels for a 2-D latent space: q(z) and p(z) with the LP (red) and HP
/// (blue) samples, and (2-D data) the decoded LP/HP samples over the data.
/// The sampler s (the prior, or an ex-post sampler) in place of p(z).
std::vector<plot::Panel> latent_panels(const LoadedRun& run, const AggregatePosterior& q, const LatentSampler& s,
                                       std::uint64_t seed) {
  const AnyModel& m = *run.model;
  const std::string name = display_name(run.config) + (s.name == "prior" ? "" : " + " + s.name);
  Rng rng(seed);
  const Matrix<float> lp = low_posterior_latents(s, q, 200, 20000, rng);
  const Matrix<float> hp = high_posterior_latents(s, q, 200, 20000, rng);
  const Matrix<float> zq = q.sample(3000, rng).cast<float>();
  double x0 = std::min<double>(zq.col(0).minCoeff(), -3.5), x1 = std::max<double>(zq.col(0).maxCoeff(), 3.5);
  double y0 = std::min<double>(zq.col(1).minCoeff(), -3.5), y1 = std::max<double>(zq.col(1).maxCoeff(), 3.5);
  const double px = 0.05 * (x1 - x0), py = 0.05 * (y1 - y0);
  x0 -= px, x1 += px, y0 -= py, y1 += py;
  plot::Panel pq{name + ": q(z), LP (red), HP (blue)",
                 {},
                 density_heatmap([&](const Matrix<float>& z) { return q.log_prob(z); }, x0, x1, y0, y1, 140),
                 std::nullopt};
  pq.layers.push_back({lp.cast<double>(), colour::red, 0.85, 2.0, "low-posterior"});
  pq.layers.push_back({hp.cast<double>(), colour::blue, 0.85, 2.0, "high-posterior"});
  plot::Panel pp{name + (s.name == "prior" ? ": prior p(z)" : ": its density p(z)"),
                 {},
                 density_heatmap([&](const Matrix<float>& z) { return s.log_prob(z); }, x0, x1, y0, y1, 140),
                 std::nullopt};
  pp.layers = pq.layers;
  std::vector<plot::Panel> out{pq, pp};
  if (!run.data.images && run.data.train.cols() == 2) {
    plot::Panel pd{name + ": decoded LP / HP samples", {}, std::nullopt, std::nullopt};
    pd.layers.push_back({run.data.train.all().cast<double>(), colour::grey, 0.35, 1.2, "data"});
    pd.layers.push_back({m.decode(lp).cast<double>(), colour::red, 0.85, 2.0, "LP decoded"});
    pd.layers.push_back({m.decode(hp).cast<double>(), colour::blue, 0.85, 2.0, "HP decoded"});
    out.push_back(pd);
  }
  return out;
}

/// Traversals between pairs of test encodings (paper Fig. 6), `steps` points per row:
/// linear in z, or (in_z0) linear in z0 = f(z) and mapped back with f⁻¹.
Matrix<float> traversal_images(const LoadedRun& run, Index pairs, Index steps, bool in_z0, std::uint64_t seed) {
  const AnyModel& m = *run.model;
  Rng rng(seed);
  const Index n = run.data.test.rows();
  std::vector<Index> picks(static_cast<std::size_t>(2 * pairs));
  for (Index& r : picks) r = static_cast<Index>(rng.below(static_cast<std::uint64_t>(n)));
  const Matrix<float> ends = run.data.test.gather(picks);
  Matrix<float> mu = m.encode(ends).first;
  if (in_z0) mu = m.prior_forward(mu);
  Matrix<float> path(pairs * steps, mu.cols());
  for (Index p = 0; p < pairs; ++p)
    for (Index s = 0; s < steps; ++s) {
      const float t = static_cast<float>(s) / static_cast<float>(steps - 1);
      path.row(p * steps + s) = (1 - t) * mu.row(2 * p) + t * mu.row(2 * p + 1);
    }
  if (in_z0) path = m.prior_inverse(path);
  return m.decode(path);
}

/// Single-dimension sweeps in z (paper Fig. 8): for each latent dimension j (at most 10) and
/// each of `bases` test encodings, z_j over [−3, 3] in `steps` values, the rest fixed.
Matrix<float> sweep_images(const LoadedRun& run, Index bases, Index steps, std::uint64_t seed) {
  const AnyModel& m = *run.model;
  Rng rng(seed);
  std::vector<Index> picks(static_cast<std::size_t>(bases));
  for (Index& r : picks) r = static_cast<Index>(rng.below(static_cast<std::uint64_t>(run.data.test.rows())));
  const Matrix<float> base = run.data.test.gather(picks);
  const Matrix<float> mu = m.encode(base).first;
  const Index d = std::min<Index>(10, m.latent_dim());
  Matrix<float> z(d * bases * steps, m.latent_dim());
  for (Index j = 0; j < d; ++j)
    for (Index b = 0; b < bases; ++b)
      for (Index s = 0; s < steps; ++s) {
        const Index r = (j * bases + b) * steps + s;
        z.row(r) = mu.row(b);
        z(r, j) = static_cast<float>(-3.0 + 6.0 * static_cast<double>(s) / static_cast<double>(steps - 1));
      }
  return m.decode(z);
}

/// A leakage curve of a metrics JSON as an n × 2 (τ, LS) matrix, null scores left out.
Matrix<double> curve_points(const nlohmann::json& curve) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& p : curve)
    if (!p["score"].is_null()) pts.emplace_back(p["tau"].get<double>(), p["score"].get<double>());
  Matrix<double> xy(static_cast<Index>(pts.size()), 2);
  for (std::size_t i = 0; i < pts.size(); ++i) xy(static_cast<Index>(i), 0) = pts[i].first, xy(static_cast<Index>(i), 1) = pts[i].second;
  return xy;
}

}  // namespace

void write_samples(const LoadedRun& run, AnyModel& model, Index n, std::uint64_t seed, const fs::path& png) {
  Rng rng(seed);
  write_latent_samples(run, model, model.prior_sample(n, rng), "samples", png);
}

void write_latent_samples(const LoadedRun& run, AnyModel& model, const Matrix<float>& z, const std::string& what,
                          const fs::path& png) {
  const Matrix<float> x = model.decode(z);
  if (run.data.images) {
    plot::write_image_grid(png, x, run.data.height, run.data.width, run.data.channels, 8, 2);
    return;
  }
  require(x.cols() == 2, "sample plots of non-image data need 2-D data");
  plot::Panel p;
  p.title = display_name(run.config) + ": " + what + " (step " + std::to_string(model.step()) + ")";
  p.layers.push_back({run.data.train.all().cast<double>(), colour::grey, 0.35, 1.2, "data"});
  p.layers.push_back({x.cast<double>(), colour::orange, 0.8, 1.8, "samples"});
  plot::write_panels(png, {{p}});
}

void write_comparison(const std::vector<LoadedRun>& runs, std::uint64_t seed, const fs::path& png) {
  require(!runs.empty(), "compare needs at least one run");
  const bool images = runs.front().data.images;
  for (const auto& r : runs)
    require(r.data.images == images && r.data.train.cols() == runs.front().data.train.cols(),
            "compare needs runs on the same data set");
  if (images) {
    std::vector<plot::GridPanel> panels;
    for (const auto& r : runs) {
      Rng rng(seed);
      panels.push_back({display_name(r.config) + " (step " + std::to_string(r.model->step()) + ")",
                        r.model->decode(r.model->prior_sample(64, rng))});
    }
    plot::write_grid_comparison(png, panels, runs.front().data.height, runs.front().data.width,
                                runs.front().data.channels, 8, 2);
    return;
  }
  // Paper Fig. 1 for 2-D latents: per run, data and samples; the aggregate posterior over the
  // prior's density in the representation space z; and the same in the generation space z0.
  std::vector<std::vector<plot::Panel>> rows;
  for (const auto& r : runs) {
    auto& m = *r.model;
    require(m.latent_dim() == 2, "the latent-space panels need a 2-D latent space");
    Rng rng(seed);
    const std::string name = display_name(r.config);
    const Index n = std::min<Index>(2000, r.data.train.rows());
    const Matrix<float> x = m.decode(m.prior_sample(n, rng));
    auto [mu, logvar] = m.encode(r.data.train.block(0, n));
    Matrix<float> eps(n, 2);
    rng.fill_normal(std::span<float>(eps.data(), static_cast<std::size_t>(eps.size())));
    const Matrix<float> z = mu + ((0.5f * logvar.array()).exp() * eps.array()).matrix();
    const Matrix<float> z0 = m.prior_forward(z);

    plot::Panel samples{name + ": data and samples", {}, std::nullopt, std::nullopt};
    samples.layers.push_back({r.data.train.all().cast<double>(), colour::grey, 0.35, 1.2, "data"});
    samples.layers.push_back({x.cast<double>(), colour::orange, 0.7, 1.6, "samples"});

    // Density grids over the range of the posterior samples (z) and over [-4.5, 4.5]² (z0).
    const double zx0 = std::min(z.col(0).minCoeff(), -3.0f), zx1 = std::max(z.col(0).maxCoeff(), 3.0f);
    const double zy0 = std::min(z.col(1).minCoeff(), -3.0f), zy1 = std::max(z.col(1).maxCoeff(), 3.0f);
    const double px = 0.05 * (zx1 - zx0), py = 0.05 * (zy1 - zy0);
    plot::Panel latent{name + ": q(z) over p(z)",
                       {},
                       density_heatmap([&](const Matrix<float>& pts) { return m.prior_log_prob(pts); }, zx0 - px,
                                       zx1 + px, zy0 - py, zy1 + py, 160),
                       std::nullopt};
    latent.layers.push_back({z.cast<double>(), colour::white, 0.5, 1.2, "q(z) samples"});
    plot::Panel gen{name + ": f(z) over N(0, I)",
                    {},
                    density_heatmap([](const Matrix<float>& pts) { return dpvae::detail::log_standard_normal(pts); },
                                    -4.5, 4.5, -4.5, 4.5, 160),
                    std::nullopt};
    gen.layers.push_back({z0.cast<double>(), colour::white, 0.5, 1.2, "f(z), z ~ q(z)"});
    rows.push_back({samples, latent, gen});
  }
  plot::write_panels(png, rows, "data and samples | aggregate posterior in z | in z0 = f(z)");
}

void write_posterior_samples(LoadedRun& run, bool low, Index candidates, Index n, Index posteriors, std::uint64_t seed,
                             const fs::path& png) {
  require(n >= 1 && n <= 4096, "--n must be in [1, 4096]");
  require(candidates >= n && candidates <= 100000000, "--candidates must be in [--n, 10^8]");
  AnyModel& m = *run.model;
  const AggregatePosterior q = aggregate_posterior(m, run.data, posteriors, seed);
  Rng rng(seed);
  const Matrix<float> z = low ? low_posterior_latents(m, q, n, candidates, rng) : high_posterior_latents(m, q, n, candidates, rng);
  const Matrix<float> x = decode_all(m, z);
  const std::string what = low ? "low-posterior" : "high-posterior";
  if (run.data.images) {
    plot::write_grid_comparison(png, {{display_name(run.config) + ": " + what + " (" + std::to_string(n) + " of " +
                                           std::to_string(candidates) + ")",
                                       x}},
                                run.data.height, run.data.width, run.data.channels, 8, 2);
    return;
  }
  require(x.cols() == 2, "posterior-sample plots of non-image data need 2-D data");
  plot::Panel p{display_name(run.config) + ": " + what + " samples", {}, std::nullopt, std::nullopt};
  p.layers.push_back({run.data.train.all().cast<double>(), colour::grey, 0.35, 1.2, "data"});
  p.layers.push_back({x.cast<double>(), low ? colour::red : colour::blue, 0.85, 2.0, what});
  plot::write_panels(png, {{p}});
}

namespace {

/// Into `folder`: STEM-samples.png (random | low- | high-posterior samples of sampler s, for
/// images) and STEM-latent.png (q(z) and s's density with its LP/HP samples, 2-D latents).
/// `random` holds decoded random samples of s (at most 64 shown).
void write_sampler_grids(const LoadedRun& run, const AggregatePosterior& q, const LatentSampler& s,
                         const Matrix<float>& random, const std::string& stem, Index candidates, std::uint64_t seed,
                         const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  require(!ec, "cannot create the figure folder " + folder.string() + ": " + ec.message());
  const AnyModel& m = *run.model;
  const Data& d = run.data;
  Rng frng(seed + 7);
  const Matrix<float> lp = decode_all(m, low_posterior_latents(s, q, 64, std::min<Index>(candidates, 6400), frng));
  const Matrix<float> hp = decode_all(m, high_posterior_latents(s, q, 64, std::min<Index>(candidates, 6400), frng));
  if (d.images)
    plot::write_grid_comparison(folder / (stem + "-samples.png"),
                                {{display_name(run.config) + (s.name == "prior" ? "" : " + " + s.name) + ": random",
                                  random.topRows(std::min<Index>(64, random.rows()))},
                                 {"low-posterior", lp},
                                 {"high-posterior", hp}},
                                d.height, d.width, d.channels, 8, 2);
  if (m.latent_dim() == 2) plot::write_panels(folder / (stem + "-latent.png"), {latent_panels(run, q, s, seed)});
}

}  // namespace

void write_run_figures(const LoadedRun& run, const AggregatePosterior& q, const Matrix<float>& random_samples,
                       Index candidates, std::uint64_t seed, const fs::path& folder) {
  const AnyModel& m = *run.model;
  const Data& d = run.data;
  const std::string stem = file_stem(run.config);
  write_sampler_grids(run, q, prior_sampler(m), random_samples, stem, candidates, seed, folder);
  if (d.images) {
    std::vector<plot::GridPanel> trav{{"linear in z", traversal_images(run, 6, 10, false, seed)}};
    if (m.decoupled()) trav.push_back({"linear in z0 = f(z)", traversal_images(run, 6, 10, true, seed)});
    plot::write_grid_comparison(folder / (stem + "-traversals.png"), trav, d.height, d.width, d.channels, 10, 2);
    plot::write_image_grid(folder / (stem + "-sweeps.png"), sweep_images(run, 3, 10, seed), d.height, d.width,
                           d.channels, 10, 2);
  }
}

void write_sampler_figures(const LoadedRun& run, const AggregatePosterior& q, const LatentSampler& s, const std::string& tag,
                           Index candidates, std::uint64_t seed, const fs::path& folder) {
  Rng rng(seed + 11);
  write_sampler_grids(run, q, s, decode_all(*run.model, s.sample(64, rng)), file_stem(run.config) + "-" + tag, candidates,
                      seed, folder);
}

void write_pair_figures(const LoadedRun& vae, const LoadedRun& dp, const std::string& objective, std::uint64_t seed,
                        const fs::path& folder) {
  const Data& data = vae.data;
  const AggregatePosterior qv = aggregate_posterior(*vae.model, vae.data, 20000, seed);
  const AggregatePosterior qd = aggregate_posterior(*dp.model, dp.data, 20000, seed);
  if (data.images) {
    Rng r1(seed), r2(seed), r3(seed + 1), r4(seed + 1);
    plot::write_grid_comparison(
        folder / ("fig5-" + objective + ".png"),
        {{display_name(vae.config) + ": random", vae.model->decode(vae.model->prior_sample(64, r1))},
         {display_name(vae.config) + ": LP", vae.model->decode(low_posterior_latents(*vae.model, qv, 64, 6400, r3))},
         {display_name(dp.config) + ": random", dp.model->decode(dp.model->prior_sample(64, r2))},
         {display_name(dp.config) + ": LP", dp.model->decode(low_posterior_latents(*dp.model, qd, 64, 6400, r4))}},
        data.height, data.width, data.channels, 8, 2);
    plot::write_grid_comparison(folder / ("fig6-" + objective + ".png"),
                                {{display_name(vae.config) + ": linear in z", traversal_images(vae, 6, 10, false, seed)},
                                 {display_name(dp.config) + ": linear in z0", traversal_images(dp, 6, 10, true, seed)}},
                                data.height, data.width, data.channels, 10, 2);
    plot::write_grid_comparison(folder / ("fig8-" + objective + ".png"),
                                {{display_name(vae.config) + ": sweeps in z", sweep_images(vae, 3, 10, seed)},
                                 {display_name(dp.config) + ": sweeps in z", sweep_images(dp, 3, 10, seed)}},
                                data.height, data.width, data.channels, 10, 2);
  }
  if (vae.model->latent_dim() == 2)
    plot::write_panels(folder / ("fig3-" + objective + ".png"),
                       {latent_panels(vae, qv, prior_sampler(*vae.model), seed), latent_panels(dp, qd, prior_sampler(*dp.model), seed)});
}

void write_leakage_figure(const std::vector<LeakageCurves>& objectives, const fs::path& png) {
  std::vector<plot::Panel> panels;
  for (const auto& o : objectives) {
    plot::Panel lp{o.vae_name + " vs " + o.dp_name + ": LS(τ)", {}, std::nullopt, std::nullopt};
    for (const auto& [curve, rgb, label] :
         {std::tuple{&o.vae_curve, colour::orange, o.vae_name}, std::tuple{&o.dp_curve, colour::blue, o.dp_name}}) {
      plot::Points layer{curve_points(*curve), rgb, 0.9, 3.0, label};
      layer.connect = true;
      if (layer.xy.rows() > 0) lp.layers.push_back(layer);
    }
    if (!lp.layers.empty()) panels.push_back(lp);
  }
  if (panels.empty()) return;
  std::vector<std::vector<plot::Panel>> rows{{}};
  for (auto& p : panels) {
    if (rows.back().size() == 3) rows.emplace_back();
    rows.back().push_back(std::move(p));
  }
  plot::write_panels(png, rows, "leakage score LS(τ) = mean of log q(z) − log p(z) over {log N(f(z); 0, I) < τ} (x: τ, y: LS)");
}

}  // namespace dpvae::cli
