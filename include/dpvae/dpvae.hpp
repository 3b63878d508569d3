// dpvae/dpvae.hpp — the umbrella header of dpvae, decoupled-prior variational autoencoders:
// the core (target dpvae::core: Eigen and oneTBB only) and the I/O and data modules
// (targets dpvae::io and dpvae::data). The evaluation module is dpvae/eval.hpp.
//
// The header groups, each with its module header, from the bottom up; a group includes only
// the groups above it in this list (tests/layering_test.py holds the code to it):
//   core.hpp, rng.hpp      foundation: Matrix/Vector types, errors, the random generator
//   backend/               the backend trait, CPU (and CUDA) kernels
//   nn/                    layers, networks, architectures, likelihoods, Adam
//   prior/                 flow blocks, the standard normal and decoupled priors
//   objectives/            the regularizers and their estimators
//   model.hpp              DpVae<Regularizer, Prior, Encoder, Decoder>
//   io/                    safetensors, checkpoints            (nlohmann-json)
//   data/                  IDX files, two-moons                (zlib)
//   eval/                  metrics, the FID feature net, representation scores
#pragma once

#include "dpvae/backend.hpp"
#include "dpvae/core.hpp"
#include "dpvae/data.hpp"
#include "dpvae/io.hpp"
#include "dpvae/model.hpp"
#include "dpvae/nn.hpp"
#include "dpvae/objectives.hpp"
#include "dpvae/prior.hpp"
#include "dpvae/rng.hpp"
