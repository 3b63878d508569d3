// export_reference — writes, for each model the PyTorch comparison runs, the model's
// parameters, one batch and dpvae's loss and gradients on it, so that
// benchmarks/pytorch_reference.py can check that both sides do the same work.
//
//   export_reference OUT_DIR
//
// For every <data>-<objective>-<prior> (data: mnist, batch 100, the paper's conv net on
// 28 × 28 × 1, ReLU; moons, batch 100, the two-moons MLP; svhn, batch 50, the conv net on
// 32 × 32 × 3, ReLU, d = 32, Gaussian w = 50; celeba, batch 50, the conv net on 64 × 64 × 3,
// LeakyReLU(0.2), d = 32, Gaussian w = 50 — the configurations of the `dpvae` program;
// objective: vae, beta-tc, factor, info (moons: no factor); prior: standard, decoupled) it
// writes OUT_DIR/<name>.safetensors holding
//   * the checkpoint tensors (encoder.*, decoder.*, prior.*, discriminator.*: DpVae::save's
//     names and layouts; convolution weights channels last, out × k × k × in);
//   * batch.x (n × D), batch.eps (n × d, the reparameterisation noise this step draws),
//     batch.z0 (n × d, InfoVAE's base samples for p(z), drawn after ε);
//   * grad.<tensor> for every parameter tensor: dpvae's ∂loss/∂parameter on this batch;
// and metadata: every loss term of compute_gradients ("term.loss", "term.recon", ...), the
// objective's hyperparameters, the data-set size M, the batch size ("batch") and, for the conv
// net, its shape: "height", "width", "channels", "conv_channels", "activation" (relu or
// leaky_relu) and "slope" (LeakyReLU's negative slope; 0 for ReLU). Image inputs are uniform
// random values in [0, 1), rows channels last (h, w, c), as dpvae stores images.
// Errors (an unwritable OUT_DIR) end the program with one line and exit status 2.
#include "bench_common.hpp"

#include <dpvae/data/two_moons.hpp>
#include <dpvae/dpvae.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>

namespace {

using namespace dpvae;
constexpr Index kBatch = 100;       // MNIST and two-moons
constexpr Index kColourBatch = 50;  // SVHN and CelebA

std::string num(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

template <class Model>
void export_one(const std::filesystem::path& dir, const std::string& data, const ModelConfig& config,
                const Matrix<float>& x) {
  Model model(config);
  const std::string name = data + "-" + Model::objective_name() + "-" + Model::prior_name();
  io::File f;
  write_checkpoint(model, f);
  const Index d = model.latent_dim();
  const Index n = x.rows();
  // The draws compute_gradients makes, in its order: ε first, then InfoVAE's z0.
  Rng preview = model.rng();
  Matrix<float> eps(n, d), z0(n, d);
  preview.fill_normal(std::span<float>(eps.data(), static_cast<std::size_t>(eps.size())));
  preview.fill_normal(std::span<float>(z0.data(), static_cast<std::size_t>(z0.size())));
  const Terms terms = model.compute_gradients(x);
  f.add("batch.x", io::Tensor::from(x.data(), {x.rows(), x.cols()}));
  f.add("batch.eps", io::Tensor::from(eps.data(), {n, d}));
  f.add("batch.z0", io::Tensor::from(z0.data(), {n, d}));
  const auto grads = model.gradients();
  model.visit_parameter_tensors([&](const std::string& tensor, Index offset, const std::vector<std::int64_t>& shape) {
    f.add("grad." + tensor, io::Tensor::from(grads.data() + offset, shape));
  });
  for (const auto& [k, v] : terms) f.metadata["term." + k] = num(v);
  f.metadata["data"] = data;
  f.metadata["dataset_size"] = num(config.dataset_size);
  f.metadata["likelihood"] = config.likelihood.name();
  f.metadata["likelihood_weight"] = num(config.likelihood.weight);
  f.metadata["logvar_min"] = num(config.logvar_min);
  f.metadata["logvar_max"] = num(config.logvar_max);
  f.metadata["flow_blocks"] = std::to_string(config.flow_blocks);
  f.metadata["batch"] = std::to_string(n);
  if (const Architecture& a = config.architecture; a.kind == Architecture::Kind::conv) {
    f.metadata["height"] = std::to_string(a.height);
    f.metadata["width"] = std::to_string(a.width);
    f.metadata["channels"] = std::to_string(a.channels);
    f.metadata["conv_channels"] = std::to_string(a.conv_channels);
    f.metadata["fc_width"] = std::to_string(a.fc_width);
    const bool leaky = a.activation == Activation::leaky_relu;
    f.metadata["activation"] = leaky ? "leaky_relu" : "relu";
    f.metadata["slope"] = leaky ? num(a.leaky_slope) : "0";
  }
  const auto& o = model.objective();
  if constexpr (requires { o.beta; o.alpha; o.gamma; }) {
    f.metadata["alpha"] = num(o.alpha);
    f.metadata["beta"] = num(o.beta);
    f.metadata["gamma"] = num(o.gamma);
  } else if constexpr (requires { o.lambda; }) {
    f.metadata["alpha"] = num(o.alpha);
    f.metadata["lambda"] = num(o.lambda);
    f.metadata["kernel"] = o.kernel == MmdKernel::rbf ? "rbf" : "imq";
  } else if constexpr (requires { o.gamma; }) {
    f.metadata["gamma"] = num(o.gamma);
  }
  io::save(dir / (name + ".safetensors"), f);
  std::cout << name << " loss " << num(terms.front().second) << "\n";
}

template <class Reg>
void export_both(const std::filesystem::path& dir, const std::string& data, const ModelConfig& c,
                 const Matrix<float>& x) {
  export_one<DpVae<Reg, Prior<StandardNormal>>>(dir, data, c, x);
  export_one<DpVae<Reg, Coupling<6>>>(dir, data, c, x);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: export_reference OUT_DIR\n";
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    Rng rng(7);
    const ModelConfig mnist = bench::mnist_config();
    Matrix<float> xm(kBatch, 784);
    for (Index i = 0; i < xm.size(); ++i) xm.data()[i] = static_cast<float>(rng.uniform());
    const ModelConfig moons = bench::moons_config();
    const Matrix<float> xt = data::two_moons<float>(kBatch, 0.05, rng);
    // The colour nets of the `dpvae` program (drawn after the MNIST and two-moons batches, so
    // those stay as they were).
    const ModelConfig svhn = bench::svhn_config();
    Matrix<float> xs(kColourBatch, 32 * 32 * 3);
    for (Index i = 0; i < xs.size(); ++i) xs.data()[i] = static_cast<float>(rng.uniform());
    const ModelConfig celeba = bench::celeba_config();
    Matrix<float> xc(kColourBatch, 64 * 64 * 3);
    for (Index i = 0; i < xc.size(); ++i) xc.data()[i] = static_cast<float>(rng.uniform());
    export_both<Vae>(dir, "mnist", mnist, xm);
    export_both<BetaTC>(dir, "mnist", mnist, xm);
    export_both<Factor>(dir, "mnist", mnist, xm);
    export_both<Info>(dir, "mnist", mnist, xm);
    export_both<Vae>(dir, "moons", moons, xt);
    export_both<BetaTC>(dir, "moons", moons, xt);
    export_both<Info>(dir, "moons", moons, xt);
    for (const std::string data : {"svhn", "celeba"}) {
      const ModelConfig& c = data == "svhn" ? svhn : celeba;
      const Matrix<float>& x = data == "svhn" ? xs : xc;
      export_both<Vae>(dir, data, c, x);
      export_both<BetaTC>(dir, data, c, x);
      export_both<Factor>(dir, data, c, x);
      export_both<Info>(dir, data, c, x);
    }
  } catch (const std::exception& e) {
    std::cerr << "export_reference: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
