// dpvae/rng.hpp — the library's seeded random number generator.
//
// xoshiro256** (Blackman & Vigna, 2018) with a SplitMix64 seeder, and our own uniform and
// normal transforms, so that a seed gives bit-identical streams on every platform and
// compiler (std::normal_distribution is implementation-defined). The whole state is four
// 64-bit words: `state()` / `set_state()` make it part of a checkpoint.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <span>
#include <vector>

namespace dpvae {

class Rng {
 public:
  using result_type = std::uint64_t;
  using State = std::array<std::uint64_t, 4>;

  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
    has_spare_ = false;
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }

  result_type operator()() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform on the open interval (0, 1), 53 random bits.
  double uniform() { return (static_cast<double>((*this)() >> 11) + 0.5) * 0x1.0p-53; }

  /// Uniform integer in [0, n) without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t n) {
    __uint128_t m = static_cast<__uint128_t>((*this)()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<__uint128_t>((*this)()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// Standard normal draw (Box–Muller; the second value of each pair is kept).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 6.283185307179586476925286766559 * u2;
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }

  /// Fills `out` with independent N(0, 1) draws.
  template <class T>
  void fill_normal(std::span<T> out) {
    for (auto& v : out) v = static_cast<T>(normal());
  }

  /// A uniformly random permutation of 0..n-1 (Fisher–Yates).
  std::vector<std::int64_t> permutation(std::int64_t n) {
    std::vector<std::int64_t> p(static_cast<std::size_t>(n));
    std::iota(p.begin(), p.end(), std::int64_t{0});
    for (std::int64_t i = n - 1; i > 0; --i) {
      const auto j = static_cast<std::int64_t>(below(static_cast<std::uint64_t>(i) + 1));
      std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
    }
    return p;
  }

  /// The full state: the four words, then whether a spare normal is held, then its bits.
  std::array<std::uint64_t, 6> state() const {
    std::uint64_t spare_bits = 0;
    static_assert(sizeof(double) == sizeof(std::uint64_t));
    std::memcpy(&spare_bits, &spare_, sizeof spare_bits);
    return {s_[0], s_[1], s_[2], s_[3], has_spare_ ? 1u : 0u, spare_bits};
  }
  void set_state(const std::array<std::uint64_t, 6>& st) {
    for (int i = 0; i < 4; ++i) s_[static_cast<std::size_t>(i)] = st[static_cast<std::size_t>(i)];
    has_spare_ = st[4] != 0;
    std::memcpy(&spare_, &st[5], sizeof spare_);
  }

  /// An independent stream derived from this one (for a component that needs its own).
  Rng split() { return Rng((*this)() ^ 0x9E3779B97F4A7C15ull); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  State s_{};
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace dpvae
