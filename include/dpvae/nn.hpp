// dpvae/nn.hpp — module header of the network layer: layers with hand-written backward
// passes, the Network container, the paper's encoder/decoder architectures, the
// likelihoods and Adam. Depends on the foundation (core.hpp, rng.hpp) and the backend only.
#pragma once

#include "dpvae/nn/architecture.hpp"
#include "dpvae/nn/layers.hpp"
#include "dpvae/nn/likelihood.hpp"
#include "dpvae/nn/network.hpp"
#include "dpvae/nn/optim.hpp"
