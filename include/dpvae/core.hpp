// dpvae/core.hpp — scalar matrix types and the library's error type.
//
// Conventions used everywhere in dpvae:
//  * rows are points: a batch of n points of dimension d is an n × d row-major matrix;
//  * images are stored one per row, channels last (H × W × C flattened, "NHWC");
//  * log-densities and loss terms are in nats and per sample (docs/math.md "Conventions and defaults").
#pragma once

// GCC 12's AVX-512 intrinsics header builds its "undefined" vectors from self-initialised
// variables, and when Eigen's kernels inline them GCC reports them as uninitialised (GCC
// bug 105593). Diagnostic pragmas apply by source location, so reading that header here,
// with the two warnings off, silences exactly those lines and nothing of dpvae's or the
// user's code. (Without AVX-512 the header is read the same way and nothing changes.)
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include <Eigen/Core>
#include <Eigen/StdVector>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace dpvae {

/// Row-major dynamic matrix: the layout of every batch (rows are points).
template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Column vector (per-point values such as log-densities, or flat parameter buffers).
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
/// Mutable view of a flat, contiguous buffer.
template <class T>
using VectorMap = Eigen::Map<Vector<T>>;
template <class T>
using ConstVectorMap = Eigen::Map<const Vector<T>>;
template <class T>
using MatrixMap = Eigen::Map<Matrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;

using Index = Eigen::Index;

/// A flat buffer (parameters, gradients, optimizer moments) aligned like Eigen's own
/// matrices, so that every vectorised kernel sees the same alignment on every run: results
/// then do not depend on where the allocator happened to place a buffer.
template <class T>
using AlignedBuffer = std::vector<T, Eigen::aligned_allocator<T>>;

/// Every error dpvae reports about its inputs (files, shapes, hyperparameters): the
/// message is one line that names the problem and states the rule that was broken.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }
inline void require(bool condition, const std::string& message) {
  if (!condition) fail(message);
}
}  // namespace detail

/// log(2π), used by every Gaussian density.
inline constexpr double kLog2Pi = 1.8378770664093454835606594728112;

}  // namespace dpvae
