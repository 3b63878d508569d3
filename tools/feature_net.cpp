// tools/feature_net.cpp — implementation of tools/feature_net.hpp.
#include "feature_net.hpp"

#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::require;

fs::path default_feature_net(const RunConfig& cfg) {
  std::string name = cfg.dataset;
  for (const char* kind : {"idx", "folder", "npy"}) {
    const std::string prefix = std::string(kind) + ":";
    if (name.rfind(prefix, 0) == 0) {
      fs::path p = fs::path(name.substr(prefix.size())).lexically_normal();
      if (p.filename().empty()) p = p.parent_path();
      name = std::string(kind) + "-" + (prefix == "npy:" ? p.stem() : p.filename()).string();
      break;
    }
  }
  return fs::path(cfg.data_root) / "feature-nets" / (name + ".safetensors");
}

FeatureSpace feature_space(const Data& data, const fs::path& path, const FeatureNetOptions& o) {
  using Clock = std::chrono::steady_clock;
  FeatureSpace fs_;
  if (!data.images) {
    fs_.name = "data space (" + std::to_string(data.train.cols()) + "-D points, identity features)";
    fs_.extract = [](const Matrix<float>& x) { return x; };
    return fs_;
  }
  require(!data.train_labels.empty() && !data.test_labels.empty(),
          "the FID feature net needs a labelled data set (" + data.name + " has no labels)");
  int max_label = 0;
  for (int v : data.train_labels) max_label = std::max(max_label, v);
  FeatureNetConfig c;
  c.height = data.height, c.width = data.width, c.channels = data.channels, c.data_dim = data.train.cols();
  c.classes = std::max(2, max_label + 1);
  c.dataset = data.name;
  auto net = std::make_shared<FeatureNet<float>>(c, o.seed);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    const auto meta = net->load(path);
    fs_.accuracy = meta.count("test_accuracy") ? std::stod(meta.at("test_accuracy")) : -1;
    std::cout << "feature-net: reusing " << path.string() << " (test accuracy " << fs_.accuracy << ")\n";
  } else {
    require(o.steps >= 1 && o.batch >= 2, "feature-net: --steps must be >= 1 and the batch >= 2");
    require(data.train.rows() >= 2, "feature-net: the training set holds fewer than 2 images");
    // A set smaller than the batch is one batch (it used to read past the set's end).
    const std::int64_t batch = std::min<std::int64_t>(o.batch, data.train.rows());
    std::cout << "feature-net: training a " << c.classes << "-class classifier on " << data.name << " ("
              << o.steps << " steps, batch " << batch << ")" << std::endl;
    Rng rng(o.seed ^ 0xFEA7u);
    std::vector<std::int64_t> order;
    std::int64_t pos = 0;
    Matrix<float> x(batch, data.train.cols());
    std::vector<int> y(static_cast<std::size_t>(batch));
    const auto t0 = Clock::now();
    double avg = 0;
    for (std::int64_t s = 1; s <= o.steps; ++s) {
      if (order.empty() || pos + batch > data.train.rows()) order = rng.permutation(data.train.rows()), pos = 0;
      data.train.gather_into(order.data() + pos, batch, x);
      for (std::int64_t i = 0; i < batch; ++i)
        y[static_cast<std::size_t>(i)] = data.train_labels[static_cast<std::size_t>(order[static_cast<std::size_t>(pos + i)])];
      pos += batch;
      const double loss = net->train_step(x, y);
      require(std::isfinite(loss), "feature-net: the training loss is not finite at step " + std::to_string(s));
      avg = s == 1 ? loss : 0.98 * avg + 0.02 * loss;
      if (s % 500 == 0 || s == o.steps) {
        std::ostringstream line;  // a local stream: std::cout's format stays untouched
        line << "feature-net: step " << s << "/" << o.steps << "  loss " << std::setprecision(4) << avg << "  ("
             << std::setprecision(3) << std::chrono::duration<double>(Clock::now() - t0).count() << " s)";
        std::cout << line.str() << std::endl;
      }
    }
    {  // block by block: the test set stays bytes
      double correct = 0;
      const Index n = data.test.rows(), chunk = 1000;
      for (Index r0 = 0; r0 < n; r0 += chunk) {
        const Index len = std::min(chunk, n - r0);
        const std::vector<int> labels(data.test_labels.begin() + r0, data.test_labels.begin() + r0 + len);
        correct += net->accuracy(data.test.block(r0, len), labels) * static_cast<double>(len);
      }
      fs_.accuracy = correct / static_cast<double>(n);
    }
    std::cout << "feature-net: test accuracy " << fs_.accuracy << " on " << data.test.rows() << " test images\n";
    if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
    std::ostringstream acc;
    acc << std::setprecision(6) << fs_.accuracy;
    net->save(path, {{"test_accuracy", acc.str()}, {"steps", std::to_string(o.steps)}});
    std::cout << "feature-net: saved " << path.string() << "\n";
  }
  std::ostringstream name;
  name << "domain feature net (" << c.features << "-d penultimate layer of a " << data.name << " classifier, test accuracy "
       << std::fixed << std::setprecision(4) << fs_.accuracy << ")";
  fs_.name = name.str();
  fs_.net = net;
  fs_.extract = [net](const Matrix<float>& x) { return net->features(x); };
  return fs_;
}

}  // namespace dpvae::cli
