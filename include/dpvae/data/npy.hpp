// dpvae/data/npy.hpp — reading NumPy .npy arrays (image sets and label vectors).
//
// Format (NumPy's "NEP 1 — A simple file format for NumPy arrays", numpy.lib.format): the
// magic "\x93NUMPY", a major and a minor version byte, the header's length (little-endian
// uint16 for version 1, uint32 for versions 2 and 3), the header — a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (n, h, w), } in ASCII (version 3: UTF-8),
// padded with spaces and a newline — then the array's bytes. dpvae reads C-order arrays of
// the dtypes an image or label file holds: |u1 |i1 <i2 <u2 <i4 <u4 <i8 <u8 <f4 <f8 (and '='
// or '<' or '|' as the byte order of a one-byte type; big-endian files are refused). The data
// must be exactly prod(shape) × itemsize bytes: a short or long file is refused, as is a
// shape whose product overflows. No Debian package reads .npy short of xtensor (which would
// bring xtensor and xtl for one header); the format is this small, and the parser is fuzzed
// (fuzz/fuzz_npy.cpp).
#pragma once

#include "dpvae/core.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace dpvae::data {

/// An .npy array: its shape (each size >= 0; () is a scalar), its dtype as NumPy names it
/// ("uint8", "float32", ...), and the data's bytes in C order, little-endian.
struct NpyArray {
  std::vector<std::int64_t> shape;
  std::string dtype;
  std::size_t itemsize = 0;
  std::vector<unsigned char> bytes;

  /// prod(shape).
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  bool is_float() const { return dtype == "float32" || dtype == "float64"; }
  /// Element i as a double (exact for every dtype but 64-bit integers beyond 2^53).
  double value(std::size_t i) const;
  /// Elements [begin, begin + count) converted to Out with static_cast, into out[0, count):
  /// the dtype is dispatched once per call, not per element (a 2.5 G-element image array
  /// converts at memory speed). The caller checks begin + count <= numel().
  template <class Out>
  void convert(std::size_t begin, std::size_t count, Out* out) const;
};

namespace detail {

/// The dtypes dpvae reads: descr without the byte-order character → (NumPy name, itemsize).
struct NpyDtype {
  const char* code;
  const char* name;
  std::size_t size;
};
inline constexpr NpyDtype kNpyDtypes[] = {{"u1", "uint8", 1},   {"i1", "int8", 1},     {"i2", "int16", 2},
                                          {"u2", "uint16", 2},  {"i4", "int32", 4},    {"u4", "uint32", 4},
                                          {"i8", "int64", 8},   {"u8", "uint64", 8},   {"f4", "float32", 4},
                                          {"f8", "float64", 8}};

/// A parser of the header's dict literal: string keys; values a string, True/False, or a
/// tuple of non-negative integers. Anything else is an error naming `path`.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string& descr, bool& fortran, std::vector<std::int64_t>& shape) {
    bool got_descr = false, got_fortran = false, got_shape = false;
    skip();
    expect('{');
    for (;;) {
      skip();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip();
      expect(':');
      skip();
      if (key == "descr") descr = string_literal(), got_descr = true;
      else if (key == "fortran_order") fortran = boolean(), got_fortran = true;
      else if (key == "shape") shape = tuple(), got_shape = true;
      else fail("unexpected header key '" + key + "'");
      skip();
      if (peek() == ',') ++i_;
      else if (peek() != '}') fail("expected ',' or '}' in the header");
    }
    ++i_;
    skip();
    if (i_ != s_.size()) fail("bytes after the header's dict");
    if (!got_descr || !got_fortran || !got_shape) fail("the header lacks 'descr', 'fortran_order' or 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { dpvae::detail::fail(path_ + ": not a valid .npy file (" + why + ")"); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "' in the header");
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string in the header");
    const std::size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos || end - i_ > 64) fail("unterminated string in the header");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail("fortran_order must be True or False");
  }
  std::vector<std::int64_t> tuple() {
    expect('(');
    std::vector<std::int64_t> out;
    for (;;) {
      skip();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("shape must be a tuple of non-negative integers");
      std::int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) fail("a shape size overflows");
        v = 10 * v + (s_[i_++] - '0');
      }
      if (peek() == 'L') ++i_;  // Python 2's long suffix
      out.push_back(v);
      if (out.size() > 32) fail("more than 32 dimensions");
      skip();
      if (peek() == ',') ++i_;
      else if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    ++i_;
    return out;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

/// The data's byte count from the header: validates the magic, the version, the dict, the
/// dtype and the shape, fills `a` (all but its bytes), and returns the header's total length.
inline std::size_t parse_npy_header(const unsigned char* p, std::size_t n, NpyArray& a, const std::string& path) {
  const auto fail = [&](const std::string& why) { dpvae::detail::fail(path + ": not a valid .npy file (" + why + ")"); };
  if (n < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) fail("no \\x93NUMPY magic");
  const unsigned major = p[6];
  if (major < 1 || major > 3) fail("unsupported format version " + std::to_string(major));
  const std::size_t prefix = major == 1 ? 10 : 12;
  if (n < prefix) fail("truncated header");
  const std::size_t len = major == 1 ? std::size_t{p[8]} | std::size_t{p[9]} << 8
                                     : std::size_t{p[8]} | std::size_t{p[9]} << 8 | std::size_t{p[10]} << 16 |
                                           std::size_t{p[11]} << 24;
  if (len > n - prefix) fail("truncated header");
  std::string descr;
  bool fortran = false;
  NpyHeaderParser(std::string_view(reinterpret_cast<const char*>(p + prefix), len), path).parse(descr, fortran, a.shape);
  if (fortran)
    dpvae::detail::fail(path + ": Fortran-order arrays are not read; save it with np.ascontiguousarray(a)");
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '|' && descr[0] != '='))
    dpvae::detail::fail(path + ": dtype '" + descr + "' is not read (expected a little-endian uint8, int8-64, uint16-64, float32 or float64)");
  const std::string code = descr.substr(1);
  for (const NpyDtype& t : kNpyDtypes)
    if (code == t.code) a.dtype = t.name, a.itemsize = t.size;
  if (a.dtype.empty() || (descr[0] == '|' && a.itemsize != 1))
    dpvae::detail::fail(path + ": dtype '" + descr + "' is not read (expected a little-endian uint8, int8-64, uint16-64, float32 or float64)");
  return prefix + len;
}

/// prod(shape) × itemsize, refusing an overflow or more than `limit` bytes.
inline std::uint64_t npy_data_bytes(const NpyArray& a, std::uint64_t limit, const std::string& path) {
  std::uint64_t bytes = a.itemsize;
  for (auto s : a.shape) {
    if (s != 0 && bytes > limit / static_cast<std::uint64_t>(s))
      dpvae::detail::fail(path + ": the shape's size exceeds what dpvae reads (" + std::to_string(limit >> 30) + " GiB)");
    bytes *= static_cast<std::uint64_t>(s);
  }
  return bytes;
}

}  // namespace detail

inline double NpyArray::value(std::size_t i) const {
  const unsigned char* p = bytes.data() + i * itemsize;
  const auto get = [p](auto v) {
    std::memcpy(&v, p, sizeof v);
    return static_cast<double>(v);
  };
  if (dtype == "uint8") return get(std::uint8_t{});
  if (dtype == "int8") return get(std::int8_t{});
  if (dtype == "int16") return get(std::int16_t{});
  if (dtype == "uint16") return get(std::uint16_t{});
  if (dtype == "int32") return get(std::int32_t{});
  if (dtype == "uint32") return get(std::uint32_t{});
  if (dtype == "int64") return get(std::int64_t{});
  if (dtype == "uint64") return get(std::uint64_t{});
  if (dtype == "float32") return get(float{});
  return get(double{});
}

template <class Out>
void NpyArray::convert(std::size_t begin, std::size_t count, Out* out) const {
  const unsigned char* p = bytes.data() + begin * itemsize;
  const auto run = [&](auto v) {
    for (std::size_t k = 0; k < count; ++k) {
      std::memcpy(&v, p + k * sizeof v, sizeof v);
      out[k] = static_cast<Out>(v);
    }
  };
  if (dtype == "uint8") run(std::uint8_t{});
  else if (dtype == "int8") run(std::int8_t{});
  else if (dtype == "int16") run(std::int16_t{});
  else if (dtype == "uint16") run(std::uint16_t{});
  else if (dtype == "int32") run(std::int32_t{});
  else if (dtype == "uint32") run(std::uint32_t{});
  else if (dtype == "int64") run(std::int64_t{});
  else if (dtype == "uint64") run(std::uint64_t{});
  else if (dtype == "float32") run(float{});
  else run(double{});
}

/// The largest array the reader accepts: 64 GiB of data.
inline constexpr std::uint64_t kMaxNpyBytes = std::uint64_t{64} << 30;

/// Parses an .npy file held in memory (see the file comment). Throws dpvae::Error naming
/// `path` and the reason for a bad magic or version, a malformed header, an unsupported
/// dtype, Fortran order, or data that is not exactly prod(shape) × itemsize bytes.
inline NpyArray parse_npy(const unsigned char* p, std::size_t n, const std::string& path) {
  NpyArray a;
  const std::size_t header = detail::parse_npy_header(p, n, a, path);
  const std::uint64_t bytes = detail::npy_data_bytes(a, kMaxNpyBytes, path);
  if (n - header != bytes)
    dpvae::detail::fail(path + ": the data holds " + std::to_string(n - header) + " bytes where the shape needs " +
                        std::to_string(bytes) + " (truncated or not an .npy file)");
  a.bytes.assign(p + header, p + n);
  return a;
}

namespace detail {
/// Opens `path` and parses its header into `a` (no data); returns the open file (the caller
/// closes it) and the header's length.
inline std::FILE* open_npy(const std::filesystem::path& path, NpyArray& a, std::size_t& header) {
  const std::string p = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) dpvae::detail::fail("cannot open " + p + ": Is a directory");
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) dpvae::detail::fail("cannot open " + p + ": " + std::strerror(errno));
  struct Closer {
    std::FILE* f;
    ~Closer() { if (f != nullptr) std::fclose(f); }
  } closer{f};
  // The header: at most 12 bytes of prefix and a length field; read what it says.
  unsigned char prefix[12] = {};
  const std::size_t got = std::fread(prefix, 1, sizeof prefix, f);
  std::vector<unsigned char> head(prefix, prefix + got);
  if (got >= 10 && std::memcmp(prefix, "\x93NUMPY", 6) == 0) {
    const std::size_t len = prefix[6] == 1 ? std::size_t{prefix[8]} | std::size_t{prefix[9]} << 8
                                           : std::size_t{prefix[8]} | std::size_t{prefix[9]} << 8 |
                                                 std::size_t{prefix[10]} << 16 | std::size_t{prefix[11]} << 24;
    const std::size_t total = (prefix[6] == 1 ? 10 : 12) + std::min<std::size_t>(len, std::size_t{1} << 20);
    if (total > got) {
      head.resize(total);
      head.resize(got + std::fread(head.data() + got, 1, total - got, f));
    } else {
      head.resize(total);
    }
  }
  header = parse_npy_header(head.data(), head.size(), a, p);
  closer.f = nullptr;
  return f;
}
}  // namespace detail

/// The header of an .npy file: dtype and shape, no data (`bytes` empty). Throws dpvae::Error
/// naming the path: cannot open or read it, a bad magic, version or header, an unsupported dtype.
inline NpyArray read_npy_header(const std::filesystem::path& path) {
  NpyArray a;
  std::size_t header = 0;
  std::fclose(detail::open_npy(path, a, header));
  return a;
}

/// Reads an .npy file (see parse_npy), the data straight into the array. Throws
/// dpvae::Error naming the path: cannot open or read it, or the reasons of parse_npy.
inline NpyArray read_npy(const std::filesystem::path& path) {
  const std::string p = path.string();
  NpyArray a;
  std::size_t header = 0;
  std::FILE* f = detail::open_npy(path, a, header);
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  const std::uint64_t bytes = detail::npy_data_bytes(a, kMaxNpyBytes, p);
  if (std::fseek(f, static_cast<long>(header), SEEK_SET) != 0) dpvae::detail::fail("cannot read " + p + ": " + std::strerror(errno));
  a.bytes.resize(static_cast<std::size_t>(bytes));
  const std::size_t read = std::fread(a.bytes.data(), 1, a.bytes.size(), f);
  if (std::ferror(f)) dpvae::detail::fail("cannot read " + p + ": " + std::strerror(errno));
  unsigned char extra = 0;
  if (read != a.bytes.size() || std::fread(&extra, 1, 1, f) != 0)
    dpvae::detail::fail(p + ": the data is not the " + std::to_string(bytes) +
                        " bytes the shape needs (truncated or not an .npy file)");
  return a;
}

}  // namespace dpvae::data
