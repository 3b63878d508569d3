// expect: Reg must be a regularizer policy
#include <dpvae/model.hpp>
dpvae::DpVae<int, dpvae::Coupling<6>> model(dpvae::ModelConfig{});
