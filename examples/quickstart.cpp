// A β-TC-dpVAE on two-moons in a dozen lines: compose the model type, train, sample.
#include <dpvae/data/two_moons.hpp>
#include <dpvae/dpvae.hpp>

#include <iostream>

int main() {
  const auto moons = dpvae::data::make_two_moons(/*seed=*/1);

  // Real-valued 2-D points: the paper's MLP, a Gaussian likelihood with noise sd 0.1 (w = 50),
  // and the number of training points (β-TCVAE's estimator needs it).
  const auto config = dpvae::ModelConfig::vectors(/*dim=*/2, /*latent_dim=*/2,
                                                  /*dataset_size=*/static_cast<double>(moons.train.rows()));

  dpvae::DpVae<dpvae::BetaTC, dpvae::Coupling<6>> model(config);
  model.objective().beta = 6.0;  // hyperparameters are run-time values

  dpvae::Rng rng(2);
  for (int step = 1; step <= 2000; ++step) {
    dpvae::Matrix<float> batch(100, 2);
    for (int i = 0; i < 100; ++i) batch.row(i) = moons.train.row(static_cast<dpvae::Index>(rng.below(2000)));
    const auto terms = model.train_step(batch);
    if (step % 500 == 0) std::cout << "step " << step << ": loss " << terms.front().second << " nats\n";
  }
  const dpvae::Matrix<float> samples = model.sample(5, rng);  // z0 ~ N(0, I), x = decoder(f⁻¹(z0))
  std::cout << "five samples:\n" << samples << "\n";
}
