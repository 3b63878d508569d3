// dpvae/data/idx.hpp — reading IDX files (the MNIST / Fashion-MNIST format).
//
// Format (LeCun, "THE MNIST DATABASE"): a 4-byte magic 00 00 <dtype> <ndim>, then ndim
// big-endian uint32 sizes, then the data in row-major order (the last size varies fastest).
// dpvae reads dtype 0x08 (unsigned byte) only, ndim 1 to 4. A file may be stored plain or
// gzip-compressed (recognised by the gzip magic 1f 8b, decompressed in memory with zlib).
// The reader checks every size against the bytes present before using it: a file that is
// short, long, or declares sizes that overflow is rejected with a dpvae::Error.
#pragma once

#include "dpvae/core.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace dpvae::data {

/// The largest file (after decompression) the IDX reader accepts: 2 GiB.
inline constexpr std::uint64_t kMaxIdxBytes = std::uint64_t{2} << 30;

/// An IDX array of unsigned bytes: `shape` as the header declares it (each size > 0) and
/// `data` its prod(shape) bytes in row-major order.
struct IdxArray {
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> data;
};

/// Images, one per row: `images` is n × (height·width·channels), channels last (NHWC),
/// values byte/255 in [0, 1]; `labels` holds the n class labels.
struct ImageSet {
  Matrix<float> images;
  std::vector<int> labels;
  Index height = 0;
  Index width = 0;
  Index channels = 0;
};

/// A data set's training and test splits; `name` labels it in reports.
struct ImageDataset {
  ImageSet train;
  ImageSet test;
  std::string name;
};

namespace detail {

inline std::string idx_dtype_name(unsigned dtype) {
  switch (dtype) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

inline std::string idx_hex_byte(unsigned b) {
  static const char* digits = "0123456789abcdef";
  return std::string{digits[(b >> 4) & 0xF], digits[b & 0xF]};
}

/// The whole file's bytes; throws Error naming the path and errno's text.
inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  const std::string p = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    dpvae::detail::fail("cannot open " + p + ": Is a directory");
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) dpvae::detail::fail("cannot open " + p + ": " + std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  const auto size_hint = std::filesystem::file_size(path, ec);
  if (!ec && size_hint <= kMaxIdxBytes) bytes.reserve(static_cast<std::size_t>(size_hint));
  std::uint8_t buffer[1 << 16];
  for (;;) {
    const std::size_t got = std::fread(buffer, 1, sizeof buffer, f);
    bytes.insert(bytes.end(), buffer, buffer + got);
    if (bytes.size() > kMaxIdxBytes) {
      std::fclose(f);
      dpvae::detail::fail(p + ": file is larger than 2 GiB; dpvae reads IDX files up to 2 GiB");
    }
    if (got < sizeof buffer) break;
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) dpvae::detail::fail("cannot read " + p + ": " + std::strerror(err));
  return bytes;
}

/// Decompresses a gzip file held in memory (one or more concatenated members), capped at
/// kMaxIdxBytes of output; throws Error "<path>: corrupt gzip data (...)" on bad input.
inline std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& in,
                                        const std::string& p) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK)
    dpvae::detail::fail(p + ": cannot initialise zlib to decompress gzip data");
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};

  constexpr std::size_t kChunkIn = std::size_t{1} << 30;  // avail_in is a 32-bit uInt
  std::vector<std::uint8_t> out;
  out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(
      std::max<std::uint64_t>(std::uint64_t{in.size()} * 4, 1 << 16), kMaxIdxBytes + 1)));
  std::size_t in_pos = 0;
  std::size_t out_pos = 0;
  for (;;) {
    if (zs.avail_in == 0 && in_pos < in.size()) {
      const std::size_t n = std::min(kChunkIn, in.size() - in_pos);
      zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    if (out_pos == out.size()) {
      if (out.size() > kMaxIdxBytes)
        dpvae::detail::fail(p + ": gzip data decompresses to more than 2 GiB; dpvae reads IDX "
                            "files up to 2 GiB");
      out.resize(static_cast<std::size_t>(
          std::min<std::uint64_t>(std::uint64_t{out.size()} * 2, kMaxIdxBytes + 1)));
    }
    const std::size_t room = std::min(kChunkIn, out.size() - out_pos);
    zs.next_out = out.data() + out_pos;
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out_pos += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      const std::size_t consumed = in_pos - zs.avail_in;
      const std::size_t left = in.size() - consumed;
      if (left == 0) break;
      // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is corrupt.
      const std::uint8_t* next = in.data() + consumed;
      if (left < 2 || next[0] != 0x1f || next[1] != 0x8b)
        dpvae::detail::fail(p + ": corrupt gzip data (" + std::to_string(left) +
                            " stray bytes after the end of the compressed stream)");
      if (inflateReset(&zs) != Z_OK) dpvae::detail::fail(p + ": corrupt gzip data");
      continue;
    }
    if (rc == Z_BUF_ERROR) {
      if (zs.avail_in == 0 && in_pos == in.size())
        dpvae::detail::fail(p + ": corrupt gzip data (the compressed stream is truncated)");
      continue;  // output full: grow and go on
    }
    if (rc != Z_OK) {
      const char* why = zs.msg != nullptr ? zs.msg : "inflate failed";
      dpvae::detail::fail(p + ": corrupt gzip data (" + why + ")");
    }
    if (zs.avail_in == 0 && in_pos == in.size() && zs.avail_out != 0)
      dpvae::detail::fail(p + ": corrupt gzip data (the compressed stream is truncated)");
  }
  out.resize(out_pos);
  return out;
}

}  // namespace detail

/// Reads an IDX file of unsigned bytes, plain or gzip-compressed. Checks: magic 00 00,
/// dtype 0x08, ndim in 1..4, every size > 0, prod(sizes) fits in 64 bits, and the bytes
/// after the header number exactly prod(sizes). Throws Error: "cannot open <path>: <why>",
/// "<path>: not an IDX file (bad magic ...)", "<path>: truncated: header declares N bytes of
/// data, file has M", "<path>: corrupt gzip data (...)", and so on, one line each.
inline IdxArray parse_idx(std::vector<std::uint8_t> bytes, const std::string& p);

inline IdxArray read_idx(const std::filesystem::path& path) {
  return parse_idx(detail::read_file_bytes(path), path.string());
}

/// read_idx on a file's bytes held in memory (plain or gzip); `p` names it in errors. The
/// same checks and errors as read_idx.
inline IdxArray parse_idx(std::vector<std::uint8_t> bytes, const std::string& p) {
  const bool gz = bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
  if (gz) bytes = detail::gunzip(bytes, p);
  const std::string after = gz ? " after decompression" : "";

  if (bytes.size() < 4)
    dpvae::detail::fail(p + ": not an IDX file (bad magic: only " +
                        std::to_string(bytes.size()) + " bytes" + after +
                        "; an IDX file starts with 00 00 <dtype> <ndim>)");
  if (bytes[0] != 0 || bytes[1] != 0) {
    std::string magic;
    for (std::size_t i = 0; i < 4; ++i) {
      if (i > 0) magic.push_back(' ');
      magic.append(detail::idx_hex_byte(bytes[i]));
    }
    dpvae::detail::fail(p + ": not an IDX file (bad magic " + magic +
                        "; an IDX file starts with 00 00 <dtype> <ndim>)");
  }
  const unsigned dtype = bytes[2];
  if (dtype != 0x08)
    dpvae::detail::fail(p + ": IDX dtype 0x" + detail::idx_hex_byte(dtype) + " (" +
                        detail::idx_dtype_name(dtype) +
                        ") is not supported; dpvae reads only unsigned-byte (0x08) IDX files");
  const unsigned ndim = bytes[3];
  if (ndim < 1 || ndim > 4)
    dpvae::detail::fail(p + ": IDX header declares " + std::to_string(ndim) +
                        " dimensions; dpvae reads IDX files of 1 to 4 dimensions");
  const std::size_t header = 4 + 4 * std::size_t{ndim};
  if (bytes.size() < header)
    dpvae::detail::fail(p + ": truncated: header declares " + std::to_string(ndim) +
                        " dimensions (a " + std::to_string(header) + "-byte header), file has " +
                        std::to_string(bytes.size()) + " bytes" + after);

  IdxArray out;
  std::uint64_t count = 1;
  std::string dims;
  bool overflow = false;
  for (unsigned k = 0; k < ndim; ++k) {
    const std::uint8_t* b = bytes.data() + 4 + 4 * k;
    const std::uint64_t size = (std::uint64_t{b[0]} << 24) | (std::uint64_t{b[1]} << 16) |
                               (std::uint64_t{b[2]} << 8) | std::uint64_t{b[3]};
    dims += (k ? " × " : "") + std::to_string(size);
    if (size == 0)
      dpvae::detail::fail(p + ": IDX dimension " + std::to_string(k) +
                          " has size 0; every size must be positive");
    if (count > std::numeric_limits<std::uint64_t>::max() / size) overflow = true;
    count *= size;
    out.shape.push_back(static_cast<std::int64_t>(size));
  }
  if (overflow || count > std::uint64_t{std::numeric_limits<std::int64_t>::max()})
    dpvae::detail::fail(p + ": IDX header declares sizes " + dims +
                        ", whose product overflows a 64-bit byte count");
  const std::uint64_t present = bytes.size() - header;
  if (count > present)
    dpvae::detail::fail(p + ": truncated: header declares " + std::to_string(count) +
                        " bytes of data (shape " + dims + "), file has " + std::to_string(present) +
                        after);
  if (count < present)
    dpvae::detail::fail(p + ": header declares " + std::to_string(count) + " bytes of data (shape " +
                        dims + "), file has " + std::to_string(present) + after +
                        " (extra trailing bytes); the sizes must match the data exactly");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  out.data = std::move(bytes);
  return out;
}

/// Reads an image file (IDX of shape (n, H, W), C = 1, or (n, H, W, C)) and its label file
/// (IDX of shape (n)) into an ImageSet with values byte/255. Throws Error if either file is
/// bad, the shapes are not those, or the counts differ.
inline ImageSet read_idx_images(const std::filesystem::path& images_path,
                                const std::filesystem::path& labels_path) {
  const IdxArray img = read_idx(images_path);
  if (img.shape.size() != 3 && img.shape.size() != 4)
    dpvae::detail::fail(images_path.string() + ": an IDX image file has 3 dimensions (n, H, W) "
                        "or 4 (n, H, W, C); this one has " + std::to_string(img.shape.size()));
  const IdxArray lab = read_idx(labels_path);
  if (lab.shape.size() != 1)
    dpvae::detail::fail(labels_path.string() + ": an IDX label file has 1 dimension (n); this "
                        "one has " + std::to_string(lab.shape.size()));
  if (lab.shape[0] != img.shape[0])
    dpvae::detail::fail(labels_path.string() + ": " + std::to_string(lab.shape[0]) +
                        " labels but " + images_path.string() + " holds " +
                        std::to_string(img.shape[0]) + " images; the counts must match");

  ImageSet set;
  const Index n = img.shape[0];
  set.height = img.shape[1];
  set.width = img.shape[2];
  set.channels = img.shape.size() == 4 ? img.shape[3] : 1;
  const Index dim = set.height * set.width * set.channels;
  set.images.resize(n, dim);
  float* dst = set.images.data();
  const std::size_t total = img.data.size();
  for (std::size_t i = 0; i < total; ++i) dst[i] = static_cast<float>(img.data[i]) / 255.0f;
  set.labels.assign(lab.data.begin(), lab.data.end());
  return set;
}

/// Loads an IDX data set from `dir`: train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or with a .gz suffix (the
/// plain file is used when both exist). Train and test images must have the same H × W × C.
/// Throws Error naming the directory and every missing file, or the file that is bad.
inline ImageDataset load_idx_dataset(const std::filesystem::path& dir, std::string name) {
  static constexpr const char* kFiles[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  const std::string needs =
      " (an IDX data set needs train-images-idx3-ubyte, train-labels-idx1-ubyte, "
      "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or .gz)";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    dpvae::detail::fail(dir.string() + ": no such directory" + needs);
  std::filesystem::path found[4];
  std::string missing;
  for (int i = 0; i < 4; ++i) {
    const std::filesystem::path plain = dir / kFiles[i];
    const std::filesystem::path gz = dir / (std::string(kFiles[i]) + ".gz");
    if (std::filesystem::is_regular_file(plain, ec)) {
      found[i] = plain;
    } else if (std::filesystem::is_regular_file(gz, ec)) {
      found[i] = gz;
    } else {
      missing += (missing.empty() ? "" : ", ") + std::string(kFiles[i]) + "[.gz]";
    }
  }
  if (!missing.empty()) dpvae::detail::fail(dir.string() + ": no " + missing + needs);

  ImageDataset ds;
  ds.name = std::move(name);
  ds.train = read_idx_images(found[0], found[1]);
  ds.test = read_idx_images(found[2], found[3]);
  auto shape = [](const ImageSet& s) {
    return std::to_string(s.height) + "×" + std::to_string(s.width) + "×" +
           std::to_string(s.channels);
  };
  if (ds.train.height != ds.test.height || ds.train.width != ds.test.width ||
      ds.train.channels != ds.test.channels)
    dpvae::detail::fail(dir.string() + ": train images are " + shape(ds.train) +
                        " but test images are " + shape(ds.test) +
                        "; both splits must have the same shape");
  return ds;
}

}  // namespace dpvae::data
