// dpvae/io/safetensors.hpp — reading and writing the safetensors format.
//
// Format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "string"}}, then the raw little-endian tensor bytes.
// The reader checks every size and offset against the file before using it; the writer
// writes to a temporary file, fsyncs it and renames it over the target, so a crash never
// leaves a half-written file where a good one was.
#pragma once

#include "dpvae/core.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace dpvae::io {

enum class DType { F32, F64, I64, U64, U8 };

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::U64: return "U64";
    case DType::U8: return "U8";
  }
  return "?";
}
inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::U64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::F32;
  else if constexpr (std::is_same_v<T, double>) return DType::F64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::I64;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return DType::U64;
  else return DType::U8;
}

struct Tensor {
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  template <class T>
  static Tensor from(const T* data, std::vector<std::int64_t> shape) {
    Tensor t;
    t.dtype = dtype_of<T>();
    t.shape = std::move(shape);
    t.bytes.resize(static_cast<std::size_t>(t.numel()) * sizeof(T));
    if (!t.bytes.empty()) std::memcpy(t.bytes.data(), data, t.bytes.size());
    return t;
  }
  /// Copies the values out as T, converting F32/F64; throws on a count or dtype mismatch.
  template <class T>
  void copy_to(T* out, std::int64_t count, const std::string& name) const {
    detail::require(numel() == count, "tensor '" + name + "' has " + std::to_string(numel()) + " values, expected " +
                                          std::to_string(count));
    if (dtype == dtype_of<T>()) {
      if (count > 0) std::memcpy(out, bytes.data(), static_cast<std::size_t>(count) * sizeof(T));
      return;
    }
    if constexpr (std::is_floating_point_v<T>) {
      if (dtype == DType::F32 || dtype == DType::F64) {
        for (std::int64_t i = 0; i < count; ++i) {
          if (dtype == DType::F32) {
            float v;
            std::memcpy(&v, bytes.data() + i * 4, 4);
            out[i] = static_cast<T>(v);
          } else {
            double v;
            std::memcpy(&v, bytes.data() + i * 8, 8);
            out[i] = static_cast<T>(v);
          }
        }
        return;
      }
    }
    detail::fail("tensor '" + name + "' has dtype " + dtype_name(dtype) + ", expected " + dtype_name(dtype_of<T>()));
  }
};

struct File {
  std::map<std::string, Tensor> tensors;
  std::vector<std::string> order;  // insertion order, kept on write
  std::map<std::string, std::string> metadata;

  void add(const std::string& name, Tensor t) {
    if (!tensors.count(name)) order.push_back(name);
    tensors[name] = std::move(t);
  }
  const Tensor& at(const std::string& name, const std::string& path) const {
    auto it = tensors.find(name);
    detail::require(it != tensors.end(), path + ": tensor '" + name + "' is missing");
    return it->second;
  }
  const std::string& meta(const std::string& key, const std::string& path) const {
    auto it = metadata.find(key);
    detail::require(it != metadata.end(), path + ": metadata '" + key + "' is missing");
    return it->second;
  }
};

namespace detail_io {
/// Writes all of `data` to fd; on failure closes fd, removes `tmp` (the partial file) and
/// throws dpvae::Error "cannot write <path>: <why>" (e.g. "No space left on device").
inline void write_all(int fd, const void* data, std::size_t size, const std::string& path, const std::string& tmp) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0) {
    const ssize_t w = ::write(fd, p, size);
    if (w < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      detail::fail("cannot write " + path + ": " + why);
    }
    p += w;
    size -= static_cast<std::size_t>(w);
  }
}
}  // namespace detail_io

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync
/// of the directory. Throws dpvae::Error naming the path on any failure (the partial
/// temporary is removed; a full disk reads "No space left on device"); the old file, if
/// any, is untouched unless the rename succeeded. A path that exists and is not a regular
/// file (a device, FIFO, folder or symbolic link) is refused, never replaced.
inline void write_file_atomic(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  const std::string target = path.string();
  // The rename would replace whatever is there: refuse anything but a regular file (a
  // device such as /dev/null, a FIFO, a folder), which a file write is not meant to replace.
  std::error_code ec;
  const auto st = std::filesystem::symlink_status(path, ec);
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    detail::fail("cannot write " + target + ": it exists and is not a regular file");
  const std::string tmp = target + ".tmp" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) detail::fail("cannot write " + target + ": " + std::strerror(errno));
  detail_io::write_all(fd, bytes.data(), bytes.size(), target, tmp);
  if (::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    detail::fail("cannot write " + target + ": " + why);
  }
  if (::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    detail::fail("cannot write " + target + ": " + why);
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    detail::fail("cannot write " + target + ": " + why);
  }
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

/// Serialises a File to safetensors bytes (tensors in insertion order, 8-byte aligned header).
inline std::vector<unsigned char> serialize(const File& f) {
  nlohmann::ordered_json header;
  std::uint64_t offset = 0;
  for (const auto& name : f.order) {
    const Tensor& t = f.tensors.at(name);
    header[name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  if (!f.metadata.empty()) header["__metadata__"] = f.metadata;
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');
  std::vector<unsigned char> out(8 + h.size() + offset);
  const std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n >> (8 * i));
  std::memcpy(out.data() + 8, h.data(), h.size());
  std::size_t pos = 8 + h.size();
  for (const auto& name : f.order) {
    const Tensor& t = f.tensors.at(name);
    if (!t.bytes.empty()) std::memcpy(out.data() + pos, t.bytes.data(), t.bytes.size());
    pos += t.bytes.size();
  }
  return out;
}

inline void save(const std::filesystem::path& path, const File& f) { write_file_atomic(path, serialize(f)); }

/// Parses safetensors bytes; every length, offset, dtype and shape is checked against the
/// buffer. Throws dpvae::Error naming `path` and the problem.
inline File parse(const std::vector<unsigned char>& buf, const std::string& path) {
  const std::string where = path + ": not a valid safetensors file: ";
  detail::require(buf.size() >= 8, where + "shorter than its 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(buf[static_cast<std::size_t>(i)]) << (8 * i);
  detail::require(n <= buf.size() - 8, where + "the header claims " + std::to_string(n) + " bytes but the file has " +
                                           std::to_string(buf.size() - 8));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(buf.begin() + 8, buf.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception&) {
    detail::fail(where + "its header is not JSON");
  }
  detail::require(header.is_object(), where + "its header is not a JSON object");
  const std::uint64_t data_size = buf.size() - 8 - n;
  const unsigned char* data = buf.data() + 8 + n;
  File f;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      detail::require(it->is_object(), where + "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        detail::require(m->is_string(), where + "metadata '" + m.key() + "' is not a string");
        f.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& e = *it;
    detail::require(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets") &&
                        e["dtype"].is_string() && e["shape"].is_array() && e["data_offsets"].is_array() &&
                        e["data_offsets"].size() == 2,
                    where + "entry '" + it.key() + "' is malformed");
    Tensor t;
    const std::string dt = e["dtype"].get<std::string>();
    if (dt == "F32") t.dtype = DType::F32;
    else if (dt == "F64") t.dtype = DType::F64;
    else if (dt == "I64") t.dtype = DType::I64;
    else if (dt == "U64") t.dtype = DType::U64;
    else if (dt == "U8") t.dtype = DType::U8;
    else detail::fail(where + "tensor '" + it.key() + "' has unsupported dtype " + dt);
    std::uint64_t count = 1;
    for (const auto& s : e["shape"]) {
      detail::require(s.is_number_unsigned() || (s.is_number_integer() && s.get<std::int64_t>() >= 0),
                      where + "tensor '" + it.key() + "' has a negative or non-integer dimension");
      const auto v = s.get<std::uint64_t>();
      detail::require(v <= (std::uint64_t{1} << 62) && (v == 0 || count <= (std::uint64_t{1} << 62) / v),
                      where + "tensor '" + it.key() + "' is too large");
      count *= v;
      t.shape.push_back(static_cast<std::int64_t>(v));
    }
    const auto& off = e["data_offsets"];
    detail::require(off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                    where + "tensor '" + it.key() + "' has invalid data offsets");
    const auto b = off[0].get<std::uint64_t>(), en = off[1].get<std::uint64_t>();
    detail::require(b <= en && en <= data_size, where + "tensor '" + it.key() + "' lies outside the file");
    detail::require(en - b == count * dtype_size(t.dtype),
                    where + "tensor '" + it.key() + "' has " + std::to_string(en - b) + " bytes for shape of " +
                        std::to_string(count) + " values");
    t.bytes.assign(data + b, data + en);
    f.order.push_back(it.key());
    f.tensors[it.key()] = std::move(t);
  }
  return f;
}

/// Reads and parses a safetensors file; throws dpvae::Error if it is missing or invalid.
inline File load(const std::filesystem::path& path) {
  std::error_code ec;
  detail::require(!std::filesystem::is_directory(path, ec), "cannot read " + path.string() + ": it is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  detail::require(static_cast<bool>(in), "cannot open " + path.string() + ": " + std::strerror(errno));
  std::vector<unsigned char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(buf, path.string());
}

}  // namespace dpvae::io
