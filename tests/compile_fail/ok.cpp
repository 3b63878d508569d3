// expect: compiles
#include <dpvae/model.hpp>
#include <utility>
#include <vector>
int main() {
  dpvae::ModelConfig c;
  c.architecture = dpvae::Architecture::mlp(2, 2);
  dpvae::DpVae<dpvae::BetaTC, dpvae::Coupling<6>> a(c);
  auto b = std::move(a);  // models are movable
  std::vector<dpvae::DpVae<dpvae::Vae, dpvae::Prior<dpvae::StandardNormal>>> v;
  v.emplace_back(c);
  return b.latent_dim() == 2 ? 0 : 1;
}
