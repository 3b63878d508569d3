// dpvae/backend.hpp — module header of the compute backends: the backend trait and the CPU
// backend (Eigen + oneTBB). The CUDA backend is dpvae/backend/cuda.hpp (target dpvae::cuda).
#pragma once

#include "dpvae/backend/cpu.hpp"
