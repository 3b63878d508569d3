// benchmarks/flops.hpp — analytic FLOP counts of a training step (benchmark support only).
//
// Counts the multiply-adds of every GEMM of a network pass as 2·m·n·k FLOPs, from the layer
// shapes: the forward GEMM, and in the backward pass the weight-gradient GEMM and the
// input-gradient GEMM (the latter skipped for a network's first layer when its input needs
// no gradient, as for the encoder, whose input is the data). Element-wise work (activations,
// im2col/col2im, biases, the objectives' O(B²d) latent math, Adam) is not counted: the figure
// is the work a GEMM library would be asked to do, the usual convention for "model FLOPs".
#pragma once

#include <dpvae/dpvae.hpp>

#include <variant>

namespace dpvae::bench {

struct PassFlops {
  double forward = 0, weight_grad = 0, input_grad = 0;
  double total() const { return forward + weight_grad + input_grad; }
};

/// FLOPs of one forward + backward pass of `net` on a batch of n points.
template <class Net>
PassFlops network_flops(const Net& net, Index n, bool first_input_grad) {
  PassFlops f;
  const auto& layers = net.layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    double gemm = 0;  // m·n·k of the layer's forward GEMM
    std::visit(
        [&](const auto& l) {
          using L = std::decay_t<decltype(l)>;
          if constexpr (std::is_same_v<L, Linear<typename Net::Scalar>>) {
            gemm = static_cast<double>(n) * static_cast<double>(l.input_size()) *
                   static_cast<double>(l.output_size());
          } else if constexpr (std::is_same_v<L, Conv2d<typename Net::Scalar>>) {
            const auto& g = l.geometry();
            gemm = static_cast<double>(n * g.out_pixels()) * static_cast<double>(g.patch_size()) *
                   static_cast<double>(l.out_channels());
          } else if constexpr (std::is_same_v<L, ConvTranspose2d<typename Net::Scalar>>) {
            // cols (n·H·W × K·K·Cout) = x (n·H·W × Cin) · W (Cin × K·K·Cout): m·n·k = n·input_size·K·K·Cout
            const auto shape = l.parameter_shapes().front().second;  // Cin × K × K × Cout
            gemm = static_cast<double>(n) * static_cast<double>(l.input_size()) *
                   static_cast<double>(shape[1] * shape[2] * shape[3]);
          }
        },
        layers[i]);
    f.forward += 2 * gemm;
    f.weight_grad += 2 * gemm;
    if (i > 0 || first_input_grad) f.input_grad += 2 * gemm;
  }
  return f;
}

/// FLOPs of one training step of a DpVae model (encoder, decoder, and for the decoupled
/// prior the flow passes its objective makes) on a batch of n points.
template <class Model>
double train_step_flops(const Model& model, Index n, double flow_passes) {
  double total = network_flops(model.encoder(), n, false).total() + network_flops(model.decoder(), n, true).total();
  if constexpr (Model::is_decoupled) {
    const auto& flow = model.prior().flow();
    double one = 0;
    for (Index k = 0; k < flow.num_blocks(); ++k)
      one += network_flops(flow.block(k).s_net(), n, true).total() + network_flops(flow.block(k).t_net(), n, true).total();
    total += flow_passes * one;
  }
  if constexpr (requires { model.objective().discriminator(); }) {
    // FactorVAE: D's forward and input gradient in the VAE step (no weight gradient), then
    // the discriminator's own step: a full pass on z and one on its permutation.
    const PassFlops d = network_flops(model.objective().discriminator(), n, true);
    total += d.forward + d.input_grad + 2 * d.total();
  }
  return total;
}

}  // namespace dpvae::bench
