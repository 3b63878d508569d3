// A network, the coupling flow and whole training steps of a model on the CUDA backend
// against the CPU backend. Tolerances: cuda_test_util.hpp.
#include "cuda_test_util.hpp"

#include <dpvae/dpvae.hpp>

using namespace dpvae::cuda_test;

TEST_CASE_TEMPLATE("the MNIST encoder and decoder on Cuda match Cpu forward and backward", T, float, double) {
  const auto arch = dpvae::Architecture::conv_images(28, 28, 1, 4);
  dpvae::Rng rng(15);
  auto check_network = [&](auto cpu_net, auto cuda_net, const char* which) {
    CAPTURE(which);
    const Index np = cpu_net.num_parameters();
    dpvae::AlignedBuffer<T> params(static_cast<std::size_t>(np)), g_cpu(params.size(), T(0.25)),
        g_cuda(params.size(), T(0.25));
    cpu_net.bind(params, g_cpu);
    cuda_net.bind(params, g_cuda);
    cpu_net.init(rng);
    const Index batch = 16;
    dpvae::Matrix<T> x(batch, cpu_net.input_size());
    for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rng.uniform());
    typename decltype(cpu_net)::Tape t_cpu;
    typename decltype(cuda_net)::Tape t_cuda;
    const dpvae::Matrix<T> y_cpu = cpu_net.forward(x, t_cpu);
    const dpvae::Matrix<T> y_cuda = cuda_net.forward(x, t_cuda);
    CHECK(rel_error(y_cuda.data(), y_cpu.data(), static_cast<std::size_t>(y_cpu.size())) <= net_tol<T>());
    dpvae::Matrix<T> dy(y_cpu.rows(), y_cpu.cols());
    for (Index i = 0; i < dy.size(); ++i) dy.data()[i] = static_cast<T>(rng.normal());
    dpvae::Matrix<T> dx_cpu, dx_cuda;
    cpu_net.backward(t_cpu, dy, &dx_cpu);
    cuda_net.backward(t_cuda, dy, &dx_cuda);
    CHECK(rel_error(dx_cuda.data(), dx_cpu.data(), static_cast<std::size_t>(dx_cpu.size())) <= net_tol<T>());
    CHECK(rel_error(g_cuda, g_cpu) <= net_tol<T>());  // accumulated onto the 0.25 sentinel
  };
  check_network(dpvae::make_encoder<T, Cpu>(arch), dpvae::make_encoder<T, Cuda>(arch), "encoder");
  check_network(dpvae::make_decoder<T, Cpu>(arch), dpvae::make_decoder<T, Cuda>(arch), "decoder");
}

TEST_CASE("the coupling flow on Cuda matches Cpu in both directions with their backward passes") {
  using T = double;
  for (Index dim : {2, 10}) {
    CAPTURE(dim);
    dpvae::CouplingFlow<T, Cpu> f_cpu(dim, 6);
    dpvae::CouplingFlow<T, Cuda> f_cuda(dim, 6);
    const Index np = f_cpu.num_parameters();
    dpvae::AlignedBuffer<T> params(static_cast<std::size_t>(np)), g_cpu(params.size(), T(0)),
        g_cuda(params.size(), T(0));
    f_cpu.bind(params, g_cpu);
    f_cuda.bind(params, g_cuda);
    dpvae::Rng rng(16);
    f_cpu.init(rng);
    dpvae::Matrix<T> z(50, dim);
    for (Index i = 0; i < z.size(); ++i) z.data()[i] = rng.normal();
    typename dpvae::CouplingFlow<T, Cpu>::Tape t_cpu;
    typename dpvae::CouplingFlow<T, Cuda>::Tape t_cuda;
    dpvae::Matrix<T> z0_cpu, z0_cuda;
    dpvae::Vector<T> ld_cpu, ld_cuda;
    f_cpu.forward(z, z0_cpu, ld_cpu, t_cpu);
    f_cuda.forward(z, z0_cuda, ld_cuda, t_cuda);
    CHECK(rel_error(z0_cuda.data(), z0_cpu.data(), static_cast<std::size_t>(z0_cpu.size())) <= 1e-12);
    CHECK(rel_error(ld_cuda.data(), ld_cpu.data(), static_cast<std::size_t>(ld_cpu.size())) <= 1e-12);
    dpvae::Matrix<T> dz0(z.rows(), dim);
    dpvae::Vector<T> dld(z.rows());
    for (Index i = 0; i < dz0.size(); ++i) dz0.data()[i] = rng.normal();
    for (Index i = 0; i < dld.size(); ++i) dld[i] = rng.normal();
    dpvae::Matrix<T> dz_cpu, dz_cuda;
    f_cpu.backward_forward(t_cpu, dz0, dld, &dz_cpu);
    f_cuda.backward_forward(t_cuda, dz0, dld, &dz_cuda);
    CHECK(rel_error(dz_cuda.data(), dz_cpu.data(), static_cast<std::size_t>(dz_cpu.size())) <= 1e-12);
    CHECK(rel_error(g_cuda, g_cpu) <= 1e-12);

    dpvae::Matrix<T> zi_cpu, zi_cuda, dzi_cpu, dzi_cuda;
    f_cpu.inverse(z0_cpu, zi_cpu, t_cpu);
    f_cuda.inverse(z0_cpu, zi_cuda, t_cuda);
    CHECK(rel_error(zi_cuda.data(), zi_cpu.data(), static_cast<std::size_t>(zi_cpu.size())) <= 1e-12);
    CHECK(rel_error(zi_cuda.data(), z.data(), static_cast<std::size_t>(z.size())) <= 1e-10);  // f⁻¹(f(z)) = z
    f_cpu.backward_inverse(t_cpu, dz0, &dzi_cpu);
    f_cuda.backward_inverse(t_cuda, dz0, &dzi_cuda);
    CHECK(rel_error(dzi_cuda.data(), dzi_cpu.data(), static_cast<std::size_t>(dzi_cpu.size())) <= 1e-12);
    CHECK(rel_error(g_cuda, g_cpu) <= 1e-12);
  }
}

namespace {
// tol bounds the terms and gradients; after three Adam steps (which divide by |g| + eps)
// the parameters are compared only in double, at params_tol: float gradient noise is far
// above Adam's eps = 1e-8, so a near-zero gradient may take either sign there.
template <class Reg, template <class, class> class PriorOf, class T>
void compare_training(double tol, double params_tol) {
  using CpuModel = dpvae::DpVae<Reg, PriorOf<T, Cpu>, dpvae::Encoder<T, Cpu>, dpvae::Decoder<T, Cpu>>;
  using CudaModel = dpvae::DpVae<Reg, PriorOf<T, Cuda>, dpvae::Encoder<T, Cuda>, dpvae::Decoder<T, Cuda>>;
  dpvae::ModelConfig c;
  c.architecture = dpvae::Architecture::conv_images(28, 28, 1, 2);
  c.dataset_size = 60000;
  c.seed = 3;
  c.adam.lr = 1e-3;
  CpuModel cpu(c);
  CudaModel gpu(c);
  REQUIRE(cpu.parameters().size() == gpu.parameters().size());
  CHECK(std::equal(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin()));
  dpvae::Rng rng(17);
  dpvae::Matrix<T> x(12, 784);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rng.uniform());
  const dpvae::Terms t_cpu = cpu.compute_gradients(x);
  const dpvae::Terms t_gpu = gpu.compute_gradients(x);
  REQUIRE(t_cpu.size() == t_gpu.size());
  for (std::size_t i = 0; i < t_cpu.size(); ++i) {
    CAPTURE(t_cpu[i].first);
    CHECK(t_gpu[i].first == t_cpu[i].first);
    CHECK(std::abs(t_gpu[i].second - t_cpu[i].second) <= tol * std::max(1.0, std::abs(t_cpu[i].second)));
  }
  CHECK(rel_error(gpu.gradients().data(), cpu.gradients().data(), cpu.gradients().size()) <= tol);
  if (params_tol <= 0) return;
  for (int s = 0; s < 3; ++s) {
    cpu.train_step(x);
    gpu.train_step(x);
  }
  CHECK(rel_error(gpu.parameters().data(), cpu.parameters().data(), cpu.parameters().size()) <= params_tol);
}
template <class T, class B>
using Standard = dpvae::Prior<dpvae::StandardNormal, T, B>;
template <class T, class B>
using Decoupled = dpvae::Coupling<6, T, B>;
}  // namespace

TEST_CASE("a DpVae training step on Cuda matches Cpu (standard and decoupled prior)") {
  SUBCASE("double, standard prior") { compare_training<dpvae::BetaH, Standard, double>(1e-10, 1e-8); }
  SUBCASE("double, decoupled prior") { compare_training<dpvae::BetaH, Decoupled, double>(1e-10, 1e-8); }
  SUBCASE("float, decoupled prior") { compare_training<dpvae::BetaH, Decoupled, float>(1e-3, 0); }
}
