// dpvae/eval.hpp — the evaluation half of dpvae (not included by the core): the
// aggregate posterior, low/high-posterior selection, FID, sKL, importance-sampled NLL, the
// leakage score (metrics.hpp), the linear probe and MIG (representation.hpp), and the
// domain feature network for FID (feature_net.hpp).
#pragma once

#include "dpvae/eval/expost.hpp"
#include "dpvae/eval/feature_net.hpp"
#include "dpvae/eval/inception.hpp"
#include "dpvae/eval/metrics.hpp"
#include "dpvae/eval/representation.hpp"
