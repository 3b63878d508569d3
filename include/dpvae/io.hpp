// dpvae/io.hpp — module header of file I/O: safetensors files and model checkpoints. Needs
// nlohmann-json (target dpvae::io); the core never includes it.
#pragma once

#include "dpvae/io/checkpoint.hpp"
#include "dpvae/io/safetensors.hpp"
