// Tests for dpvae/data/npy.hpp: files written byte by byte here as NEP 1 describes them
// (versions 1 and 2, every dtype read, C order), decoded value for value; and every bad
// header, dtype, order and length refused with a line naming the file.
#include <doctest/doctest.h>

#include <dpvae/data/npy.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using dpvae::data::NpyArray;
using dpvae::data::parse_npy;
using dpvae::data::read_npy;

namespace {

/// An .npy file: magic, version, header length, the dict padded to a multiple of 64, data.
std::vector<unsigned char> npy_file(const std::string& dict, const std::vector<unsigned char>& data, int version = 1) {
  const std::size_t prefix = version == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  const std::size_t len = header.size();
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(version) + '\0' + static_cast<char>(len & 0xFF) +
                    static_cast<char>((len >> 8) & 0xFF);
  if (version != 1) out += std::string(2, '\0');
  out += header;
  out.append(data.begin(), data.end());  // (a vector built by insert trips GCC 12's -Warray-bounds)
  return std::vector<unsigned char>(out.begin(), out.end());
}

template <class T>
std::vector<unsigned char> bytes_of(const std::vector<T>& v) {
  std::vector<unsigned char> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

NpyArray parse(const std::vector<unsigned char>& f) { return parse_npy(f.data(), f.size(), "a.npy"); }

}  // namespace

TEST_CASE("npy: every dtype read decodes value for value, C order, versions 1 and 2") {
  // uint8 2 × 3 × 2: element (i, j, k) = 100 i + 10 j + k, so each axis is distinguishable.
  std::vector<std::uint8_t> u8;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) u8.push_back(static_cast<std::uint8_t>(100 * i + 10 * j + k));
  for (int version : {1, 2, 3}) {
    const NpyArray a = parse(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 2), }", bytes_of(u8), version));
    CHECK(a.shape == std::vector<std::int64_t>{2, 3, 2});
    CHECK(a.dtype == "uint8");
    REQUIRE(a.numel() == 12);
    for (std::size_t i = 0; i < 12; ++i) CHECK(a.value(i) == u8[i]);
      CHECK(a.value(7) == 101);  // (1, 0, 1): C order, the last axis fastest
  }
  const std::vector<float> f4 = {0.0f, 0.25f, 1.0f, -3.5f, 1e-30f, 7.0f};
  NpyArray f = parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", bytes_of(f4)));
  CHECK(f.is_float());
  for (std::size_t i = 0; i < f4.size(); ++i) CHECK(f.value(i) == f4[i]);
  const std::vector<double> f8 = {0.1, -2.0, 1e300};
  f = parse(npy_file("{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3,)}", bytes_of(f8)));
  for (std::size_t i = 0; i < f8.size(); ++i) CHECK(f.value(i) == f8[i]);
  const std::vector<std::int64_t> i8 = {0, 9, -1, 1LL << 40};
  f = parse(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", bytes_of(i8)));
  CHECK(f.dtype == "int64");
  for (std::size_t i = 0; i < i8.size(); ++i) CHECK(f.value(i) == static_cast<double>(i8[i]));
  const std::vector<std::int32_t> i4 = {-7, 3};
  CHECK(parse(npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", bytes_of(i4))).value(0) == -7);
  // A key order NumPy does not write, and a scalar.
  f = parse(npy_file("{'shape': (), 'fortran_order': False, 'descr': '<f8'}", bytes_of(std::vector<double>{2.5})));
  CHECK(f.shape.empty());
  CHECK(f.value(0) == 2.5);
  // An empty array.
  CHECK(parse(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 28, 28), }", {})).numel() == 0);
}

TEST_CASE("npy: read_npy from a file equals parse_npy, and names the file") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "dpvae_test_npy";
  fs::create_directories(dir);
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const std::vector<unsigned char> bytes = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", bytes_of(v));
  {
    std::ofstream(dir / "a.npy", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                         static_cast<std::streamsize>(bytes.size()));
  }
  const NpyArray a = read_npy(dir / "a.npy");
  CHECK(a.shape == std::vector<std::int64_t>{2, 3});
  CHECK(a.bytes == parse(bytes).bytes);
  {  // one byte short, one byte long
    std::ofstream(dir / "short.npy", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                             static_cast<std::streamsize>(bytes.size() - 1));
    std::ofstream long_file(dir / "long.npy", std::ios::binary);
    long_file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    long_file.put('x');
  }
  CHECK_THROWS_WITH_AS(read_npy(dir / "short.npy"), doctest::Contains("short.npy: the data is not the 24 bytes"), dpvae::Error);
  CHECK_THROWS_WITH_AS(read_npy(dir / "long.npy"), doctest::Contains("long.npy: the data is not the 24 bytes"), dpvae::Error);
  CHECK_THROWS_WITH_AS(read_npy(dir / "missing.npy"), doctest::Contains("cannot open"), dpvae::Error);
  CHECK_THROWS_WITH_AS(read_npy(dir), doctest::Contains("Is a directory"), dpvae::Error);
  fs::remove_all(dir);
}

TEST_CASE("npy: bad files are refused in one line naming the file and the reason") {
  const std::vector<unsigned char> four(4, 0);
  const auto refused = [](const std::vector<unsigned char>& f, const char* why) {
    CHECK_THROWS_WITH_AS(parse(f), doctest::Contains(why), dpvae::Error);
    try {
      parse(f);
    } catch (const dpvae::Error& e) {
      CHECK(std::string(e.what()).rfind("a.npy", 0) == 0);
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
  };
  const std::string ok = "'fortran_order': False, 'shape': (4,)";
  refused({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0}, "no \\x93NUMPY magic");
  refused({}, "no \\x93NUMPY magic");
  std::vector<unsigned char> v4 = npy_file("{'descr': '|u1', " + ok + "}", four);
  v4[6] = 4;
  refused(v4, "unsupported format version 4");
  std::vector<unsigned char> cut = npy_file("{'descr': '|u1', " + ok + "}", four);
  cut.resize(30);
  refused(cut, "truncated header");
  refused(npy_file("{'descr': '>f4', " + ok + "}", std::vector<unsigned char>(16)), "dtype '>f4' is not read");
  refused(npy_file("{'descr': '<c8', " + ok + "}", std::vector<unsigned char>(32)), "dtype '<c8' is not read");
  refused(npy_file("{'descr': '|f4', " + ok + "}", std::vector<unsigned char>(16)), "dtype '|f4' is not read");
  refused(npy_file("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2)}", four), "Fortran-order");
  refused(npy_file("{'descr': '|u1', 'shape': (4,)}", four), "lacks 'descr', 'fortran_order' or 'shape'");
  refused(npy_file("{'descr': '|u1', 'color': 1, " + ok + "}", four), "unexpected header key 'color'");
  refused(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (-4,)}", four), "tuple of non-negative integers");
  refused(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999,)}", four), "overflows");
  refused(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", four),
          "exceeds what dpvae reads");
  refused(npy_file("{'descr': '|u1', " + ok + "}", std::vector<unsigned char>(3)), "the data holds 3 bytes where the shape needs 4");
  refused(npy_file("{'descr': '|u1', " + ok + "}", std::vector<unsigned char>(5)), "the data holds 5 bytes where the shape needs 4");
  refused(npy_file("{'descr': '|u1', " + ok + "} x", four), "bytes after the header's dict");
  refused(npy_file("{'descr': '|u1' " + ok + "}", four), "expected ',' or '}'");
}
