// expect: must share one scalar type
#include <dpvae/model.hpp>
dpvae::DpVae<dpvae::BetaTC, dpvae::Coupling<6, double>, dpvae::Encoder<float>, dpvae::Decoder<float>> model(
    dpvae::ModelConfig{});
