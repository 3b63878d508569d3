// dpvae/nn/architecture.hpp — encoder and decoder networks of the paper (appendix C, docs/math.md).
//
//  * conv (MNIST and any image set; the official code's MNIST net): encoder
//    Conv(C→32, k4 s2 p1)–a–Conv(32→32, k3)–a–Conv(32→32, k4 s2 p1)–a–Conv(32→32, k3)–a
//    → FC 256–a → FC 256–a → FC 2d (μ, log σ²); the decoder mirrors it with transposed
//    convolutions and has no output nonlinearity (logits or Gaussian means). The activation a
//    is ReLU (the paper's MNIST and SVHN) or LeakyReLU with a chosen slope (the paper's CelebA,
//    slope 0.2; docs/data.md "Networks and likelihood for colour images").
//  * mlp (two-moons): encoder D → 100 → 50 → 2d, decoder d → 50 → 100 → D, LeakyReLU(0.01)
//    (the official code's `LeakyReLU(True)` has slope 1 and makes the net linear; docs/math.md).
#pragma once

#include "dpvae/nn/network.hpp"

#include <string>
#include <vector>

namespace dpvae {

struct Architecture {
  enum class Kind { conv, mlp };
  Kind kind = Kind::conv;
  Index height = 28, width = 28, channels = 1;  // conv: the image shape
  Index data_dim = 2;                           // mlp: input size
  std::vector<Index> hidden{100, 50};           // mlp: hidden widths, input side first
  Index conv_channels = 32, fc_width = 256;     // conv
  Activation activation = Activation::relu;     // conv: relu or leaky_relu (the MLP is always LeakyReLU(0.01))
  double leaky_slope = 0.2;                     // conv with leaky_relu: the negative slope, in (0, 1)
  Index latent_dim = 2;

  /// The conv net for h × w × c images; `activation` relu, or leaky_relu with `leaky_slope`.
  static Architecture conv_images(Index h, Index w, Index c, Index latent, Activation activation = Activation::relu,
                                  double leaky_slope = 0.2) {
    Architecture a;
    a.kind = Kind::conv;
    a.activation = activation;
    a.leaky_slope = leaky_slope;
    a.height = h;
    a.width = w;
    a.channels = c;
    a.latent_dim = latent;
    return a;
  }
  static Architecture mlp(Index data_dim, Index latent, std::vector<Index> hidden = {100, 50}) {
    Architecture a;
    a.kind = Kind::mlp;
    a.data_dim = data_dim;
    a.latent_dim = latent;
    a.hidden = std::move(hidden);
    return a;
  }
  Index input_size() const { return kind == Kind::conv ? height * width * channels : data_dim; }
  std::string name() const { return kind == Kind::conv ? "conv" : "mlp"; }
  void validate() const {
    detail::require(latent_dim >= 1 && latent_dim <= 4096, "the latent dimension must be in [1, 4096]");
    if (kind == Kind::mlp) {
      detail::require(data_dim >= 1 && !hidden.empty(), "the MLP needs a data dimension and hidden layers");
      for (Index h : hidden) detail::require(h >= 1, "MLP hidden widths must be positive");
    } else {
      detail::require(height >= 8 && width >= 8 && channels >= 1 && channels <= 4,
                      "the conv architecture needs images of at least 8 × 8 with 1 to 4 channels");
      detail::require(activation == Activation::relu || activation == Activation::leaky_relu,
                      "the conv architecture's activation must be ReLU or LeakyReLU");
      detail::require(activation != Activation::leaky_relu || (leaky_slope > 0 && leaky_slope < 1),
                      "the conv architecture's LeakyReLU slope must be in (0, 1)");
    }
  }
};

namespace detail {
/// Spatial sizes through the conv encoder: k4s2p1, k3, k4s2p1, k3.
inline std::array<Index, 5> conv_sizes(Index s) {
  std::array<Index, 5> out{s, 0, 0, 0, 0};
  out[1] = (s + 2 - 4) / 2 + 1;
  out[2] = out[1] - 2;
  out[3] = (out[2] + 2 - 4) / 2 + 1;
  out[4] = out[3] - 2;
  return out;
}
inline Index convt_out(Index in, Index k, Index s, Index p) { return (in - 1) * s - 2 * p + k; }
inline void check_conv_shape(const Architecture& a) {
  for (Index s : {a.height, a.width}) {
    const auto e = conv_sizes(s);
    require(e[4] >= 1, "images of " + std::to_string(a.height) + " × " + std::to_string(a.width) +
                           " are too small for the conv architecture");
    const Index back = convt_out(convt_out(convt_out(convt_out(e[4], 3, 1, 0), 4, 2, 1), 3, 1, 0), 4, 2, 1);
    require(back == s, "images of " + std::to_string(a.height) + " × " + std::to_string(a.width) +
                           " do not round-trip through the conv architecture (each side must be even, e.g. 28 or 32)");
  }
}
}  // namespace detail

/// The encoder network: x (n × D) → (μ, log σ²) side by side (n × 2d).
template <class T, class B = Cpu>
Network<T, B> make_encoder(const Architecture& a) {
  a.validate();
  Network<T, B> net;
  if (a.kind == Architecture::Kind::mlp) {
    net.add(Linear<T, B>(a.data_dim, a.hidden.front())).act(Activation::leaky_relu, 0.01);
    for (std::size_t i = 1; i < a.hidden.size(); ++i) net.linear(a.hidden[i]).act(Activation::leaky_relu, 0.01);
    net.linear(2 * a.latent_dim);
    return net;
  }
  detail::check_conv_shape(a);
  const Index c = a.conv_channels;
  const auto hs = detail::conv_sizes(a.height), ws = detail::conv_sizes(a.width);
  const Activation f = a.activation;
  const double s = a.leaky_slope;
  net.add(Conv2d<T, B>(hs[0], ws[0], a.channels, c, 4, 2, 1)).act(f, s);
  net.add(Conv2d<T, B>(hs[1], ws[1], c, c, 3, 1, 0)).act(f, s);
  net.add(Conv2d<T, B>(hs[2], ws[2], c, c, 4, 2, 1)).act(f, s);
  net.add(Conv2d<T, B>(hs[3], ws[3], c, c, 3, 1, 0)).act(f, s);
  net.linear(a.fc_width).act(f, s).linear(a.fc_width).act(f, s).linear(2 * a.latent_dim);
  return net;
}

/// The decoder network: z (n × d) → logits or means (n × D).
template <class T, class B = Cpu>
Network<T, B> make_decoder(const Architecture& a) {
  a.validate();
  Network<T, B> net;
  if (a.kind == Architecture::Kind::mlp) {
    net.add(Linear<T, B>(a.latent_dim, a.hidden.back())).act(Activation::leaky_relu, 0.01);
    for (std::size_t i = a.hidden.size() - 1; i-- > 0;) net.linear(a.hidden[i]).act(Activation::leaky_relu, 0.01);
    net.linear(a.data_dim);
    return net;
  }
  detail::check_conv_shape(a);
  const Index c = a.conv_channels;
  const auto hs = detail::conv_sizes(a.height), ws = detail::conv_sizes(a.width);
  const Activation f = a.activation;
  const double s = a.leaky_slope;
  net.add(Linear<T, B>(a.latent_dim, a.fc_width)).act(f, s).linear(a.fc_width).act(f, s);
  net.linear(hs[4] * ws[4] * c).act(f, s);
  net.add(ConvTranspose2d<T, B>(hs[4], ws[4], c, c, 3, 1, 0)).act(f, s);
  net.add(ConvTranspose2d<T, B>(hs[3], ws[3], c, c, 4, 2, 1)).act(f, s);
  net.add(ConvTranspose2d<T, B>(hs[2], ws[2], c, c, 3, 1, 0)).act(f, s);
  net.add(ConvTranspose2d<T, B>(hs[1], ws[1], c, a.channels, 4, 2, 1));
  return net;
}

/// Encoder policy: the network of make_encoder (a policy type so models can swap it).
template <class T, class B = Cpu>
struct Encoder : Network<T, B> {
  explicit Encoder(const Architecture& a) : Network<T, B>(make_encoder<T, B>(a)) {}
};
/// Decoder policy: the network of make_decoder.
template <class T, class B = Cpu>
struct Decoder : Network<T, B> {
  explicit Decoder(const Architecture& a) : Network<T, B>(make_decoder<T, B>(a)) {}
};

}  // namespace dpvae
