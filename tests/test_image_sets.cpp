// Tests for tools/image_sets.hpp, the image sets of `dpvae fid`: folders of PNG/BMP/PGM files
// written here with stb_image_write, .npy arrays and IDX files written byte by byte, decoded
// pixel for pixel (row, column and channel each distinguishable); mixed sizes grouped; and
// bad folders and arrays refused in one line naming the file; features gathered over chunks and
// size groups equal the network's on each image.
#include <doctest/doctest.h>

#include "feature_net.hpp"
#include "fid.hpp"
#include "image_sets.hpp"
#include "inception_weights.hpp"

#include <dpvae/eval/inception.hpp>

#include <stb_image_write.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace dpvae;
using namespace dpvae::cli;

namespace {

/// Pixel (y, x, ch) of image i: distinct along every axis.
unsigned char pattern(int i, int y, int x, int ch) { return static_cast<unsigned char>((37 * i + 11 * y + 5 * x + 80 * ch) % 256); }

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("dpvae_test_image_sets_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_bytes(const fs::path& p, const std::vector<unsigned char>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// An .npy file (NEP 1, version 1) of uint8 or float32 data.
std::vector<unsigned char> npy(const std::string& descr, const std::string& shape, const std::vector<unsigned char>& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header;
  out.append(data.begin(), data.end());  // (a vector built by insert trips GCC 12's -Warray-bounds)
  return std::vector<unsigned char>(out.begin(), out.end());
}

/// Every image of a source, rows in set order (one group expected).
Matrix<float> read_all(const ImageSource& s, Index& h, Index& w, Index& c) {
  const std::vector<ImageGroup> g = s.read(0, s.count);
  REQUIRE(g.size() == 1);
  h = g[0].h, w = g[0].w, c = g[0].c;
  return g[0].x;
}

}  // namespace

TEST_CASE("image sets: a folder of PNG, BMP and PGM files decodes pixel for pixel, sorted by name, RGB") {
  const fs::path d = fresh_dir("folder");
  const int h = 5, w = 3;
  // b.png (RGB), a.bmp (RGB), c.png (grey: expanded to 3 equal channels); a .txt is ignored.
  std::vector<unsigned char> rgb0(h * w * 3), rgb1(h * w * 3), grey(h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      for (int ch = 0; ch < 3; ++ch) {
        rgb0[(y * w + x) * 3 + ch] = pattern(0, y, x, ch);
        rgb1[(y * w + x) * 3 + ch] = pattern(1, y, x, ch);
      }
      grey[y * w + x] = pattern(2, y, x, 0);
    }
  REQUIRE(stbi_write_bmp((d / "a.bmp").string().c_str(), w, h, 3, rgb0.data()));
  REQUIRE(stbi_write_png((d / "B.PNG").string().c_str(), w, h, 3, rgb1.data(), w * 3));
  REQUIRE(stbi_write_png((d / "c.png").string().c_str(), w, h, 1, grey.data(), w));
  std::ofstream(d / "notes.txt") << "not an image";
  fs::create_directories(d / "sub");  // sub-folders are not read (as pytorch-fid)
  REQUIRE(stbi_write_png((d / "sub" / "x.png").string().c_str(), w, h, 1, grey.data(), w));

  const std::vector<fs::path> files = list_image_files(d);
  REQUIRE(files.size() == 3);
  CHECK(files[0].filename() == "B.PNG");  // byte order of names: upper case first
  const ImageSource s = open_image_source(d.string(), {});
  CHECK(s.count == 3);
  Index gh = 0, gw = 0, gc = 0;
  const Matrix<float> x = read_all(s, gh, gw, gc);
  CHECK((gh == h && gw == w && gc == 3));
  const std::vector<const std::vector<unsigned char>*> want = {&rgb1, &rgb0, nullptr};
  for (int i = 0; i < 3; ++i)
    for (int y = 0; y < h; ++y)
      for (int xx = 0; xx < w; ++xx)
        for (int ch = 0; ch < 3; ++ch) {
          const unsigned char v = want[static_cast<std::size_t>(i)] ? (*want[static_cast<std::size_t>(i)])[(y * w + xx) * 3 + ch]
                                                                    : grey[y * w + xx];
          CHECK(x(i, (y * w + xx) * 3 + ch) == static_cast<float>(v) / 255.0f);
        }
  // A chunk in the middle keeps its rows.
  const std::vector<ImageGroup> mid = s.read(1, 2);
  REQUIRE(mid.size() == 1);
  CHECK(mid[0].x == x.middleRows(1, 1));
  fs::remove_all(d);
}

TEST_CASE("image sets: a folder of mixed sizes is grouped by size, rows kept") {
  const fs::path d = fresh_dir("mixed");
  std::vector<unsigned char> a(4 * 4, 10), b(2 * 6, 200);
  REQUIRE(stbi_write_png((d / "0.png").string().c_str(), 4, 4, 1, a.data(), 4));
  REQUIRE(stbi_write_png((d / "1.png").string().c_str(), 6, 2, 1, b.data(), 6));
  REQUIRE(stbi_write_png((d / "2.png").string().c_str(), 4, 4, 1, a.data(), 4));
  const std::vector<ImageGroup> g = open_image_source(d.string(), {}).read(0, 3);
  REQUIRE(g.size() == 2);
  for (const ImageGroup& e : g) {
    if (e.h == 4) {
      CHECK(e.rows == std::vector<Index>{0, 2});
      CHECK(e.x.cwiseEqual(10.0f / 255.0f).all());
    } else {
      CHECK((e.h == 2 && e.w == 6));
      CHECK(e.rows == std::vector<Index>{1});
      CHECK(e.x.cwiseEqual(200.0f / 255.0f).all());
    }
  }
  fs::remove_all(d);
}

TEST_CASE("image sets: .npy (uint8, float32; grey and colour) and IDX give the same pixels, and the same network input as a PNG folder") {
  const fs::path d = fresh_dir("arrays");
  const int n = 2, h = 4, w = 3;
  std::vector<unsigned char> u8;
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) u8.push_back(pattern(i, y, x, 0));
  write_bytes(d / "grey.npy", npy("|u1", "(2, 4, 3)", u8));
  std::vector<float> f(u8.size());
  for (std::size_t i = 0; i < u8.size(); ++i) f[i] = static_cast<float>(u8[i]) / 255.0f;
  std::vector<unsigned char> fb(f.size() * 4);
  std::memcpy(fb.data(), f.data(), fb.size());
  write_bytes(d / "grey_f4.npy", npy("<f4", "(2, 4, 3, 1)", fb));
  std::vector<unsigned char> idx = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 3};
  idx.insert(idx.end(), u8.begin(), u8.end());
  write_bytes(d / "grey.idx", idx);
  Index gh, gw, gc;
  const Matrix<float> a = read_all(open_image_source((d / "grey.npy").string(), {}), gh, gw, gc);
  CHECK((gh == h && gw == w && gc == 1));
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < h * w; ++k) CHECK(a(i, k) == static_cast<float>(u8[static_cast<std::size_t>(i * h * w + k)]) / 255.0f);
  CHECK(read_all(open_image_source((d / "grey_f4.npy").string(), {}), gh, gw, gc) == a);
  CHECK(read_all(open_image_source((d / "grey.idx").string(), {}), gh, gw, gc) == a);

  // The same images as grey PNGs: the folder gives RGB, the network input is the same.
  fs::create_directories(d / "png");
  for (int i = 0; i < n; ++i)
    REQUIRE(stbi_write_png((d / "png" / (std::to_string(i) + ".png")).string().c_str(), w, h, 1, u8.data() + i * h * w, w));
  const Matrix<float> rgb = read_all(open_image_source((d / "png").string(), {}), gh, gw, gc);
  CHECK(gc == 3);
  CHECK(FidInception::preprocess(rgb, h, w, 3) == FidInception::preprocess(a, h, w, 1));

  // Colour .npy: N × H × W × 3, channels last.
  std::vector<unsigned char> c3;
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < 3; ++ch) c3.push_back(pattern(i, y, x, ch));
  write_bytes(d / "rgb.npy", npy("|u1", "(2, 4, 3, 3)", c3));
  const Matrix<float> c = read_all(open_image_source((d / "rgb.npy").string(), {}), gh, gw, gc);
  CHECK(gc == 3);
  CHECK(c(1, (2 * w + 1) * 3 + 2) == static_cast<float>(pattern(1, 2, 1, 2)) / 255.0f);
  fs::remove_all(d);
}

TEST_CASE("image sets: bad folders and arrays are refused in one line naming the file") {
  const fs::path d = fresh_dir("bad");
  const auto refused = [](const fs::path& p, const char* why) {
    CHECK_THROWS_WITH_AS(open_image_source(p.string(), {}), doctest::Contains(why), Error);
  };
  fs::create_directories(d / "empty");
  std::ofstream(d / "empty" / "a.txt") << "x";
  refused(d / "empty", "no image files");
  refused(d / "nowhere", "No such file or directory");
  fs::create_directories(d / "tif");
  std::ofstream(d / "tif" / "a.tif") << "x";
  refused(d / "tif", "a.tif: tif files are not decoded");
  // Two corrupt files among good ones: the first by name is named, with the count.
  fs::create_directories(d / "corrupt");
  std::vector<unsigned char> px(9, 7);
  REQUIRE(stbi_write_png((d / "corrupt" / "a.png").string().c_str(), 3, 3, 1, px.data(), 3));
  std::ofstream(d / "corrupt" / "b.png") << "not a png";
  std::ofstream(d / "corrupt" / "c.jpg") << "not a jpeg";
  refused(d / "corrupt", "b.png: not a readable image");
  refused(d / "corrupt", "(and 1 more bad files)");
  // A PNG whose header is whole and data cut: found when decoded, named.
  fs::create_directories(d / "cut");
  REQUIRE(stbi_write_png((d / "cut" / "a.png").string().c_str(), 3, 3, 1, px.data(), 3));
  fs::resize_file(d / "cut" / "a.png", 40);
  bool named = false;
  try {
    open_image_source((d / "cut").string(), {}).read(0, 1);
  } catch (const Error& e) {
    named = std::string(e.what()).find("a.png") != std::string::npos;
  }
  CHECK(named);
  // Arrays.
  write_bytes(d / "chw.npy", npy("|u1", "(2, 3, 4, 4)", std::vector<unsigned char>(96)));
  refused(d / "chw.npy", "looks channels-first");
  write_bytes(d / "c2.npy", npy("|u1", "(2, 4, 4, 2)", std::vector<unsigned char>(64)));
  refused(d / "c2.npy", "1 or 3 channels (got 2)");
  write_bytes(d / "i4.npy", npy("<i4", "(2, 2, 2)", std::vector<unsigned char>(32)));
  refused(d / "i4.npy", "must be uint8 (0-255) or float32/float64 in [0, 1] (got int32)");
  std::vector<unsigned char> two(8 * 4);
  const float big = 2.0f;
  std::memcpy(two.data() + 12, &big, 4);
  write_bytes(d / "f4.npy", npy("<f4", "(2, 2, 2)", two));
  refused(d / "f4.npy", "element 3 is 2");
  write_bytes(d / "flat.npy", npy("|u1", "(8,)", std::vector<unsigned char>(8)));
  refused(d / "flat.npy", "must be N × H × W or N × H × W × C");
  write_bytes(d / "one.npy", npy("|u1", "(1, 2, 2)", std::vector<unsigned char>(4)));
  refused(d / "one.npy", "at least 2 images");
  fs::remove_all(d);
}

TEST_CASE("image sets: inception_features over chunks and size groups equals the network on each image") {
  // 11 images at batch 1 (chunks of 8): two chunks, two sizes interleaved.
  const fs::path d = fresh_dir("features");
  Rng rng(12);
  const FidInception net(dpvae::test::random_inception(rng), "random");
  std::vector<Matrix<float>> want;
  for (int i = 0; i < 11; ++i) {
    const int h = i % 3 == 0 ? 9 : 6, w = i % 3 == 0 ? 7 : 6;
    std::vector<unsigned char> px(static_cast<std::size_t>(h * w * 3));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < 3; ++ch) px[static_cast<std::size_t>((y * w + x) * 3 + ch)] = pattern(i, y, x, ch);
    char name[16];
    std::snprintf(name, sizeof name, "%02d.png", i);
    REQUIRE(stbi_write_png((d / name).string().c_str(), w, h, 3, px.data(), w * 3));
    Matrix<float> x(1, h * w * 3);
    for (Index k = 0; k < x.cols(); ++k) x(0, k) = static_cast<float>(px[static_cast<std::size_t>(k)]) / 255.0f;
    want.push_back(net.features(x, h, w, 3));
  }
  Index reported = 0;
  const Matrix<float> f = inception_features(net, open_image_source(d.string(), {}), 1, [&](Index done) { reported = done; });
  CHECK(reported == 11);
  REQUIRE(f.rows() == 11);
  for (Index i = 0; i < 11; ++i) CHECK(f.row(i) == want[static_cast<std::size_t>(i)].row(0));
  fs::remove_all(d);
}

TEST_CASE("rotate_images: the feature net's rotations against the pixel formulas; four quarter turns are the identity") {
  using dpvae::Index;
  const Index h = 3, w = 3, c = 2;
  dpvae::Matrix<float> x(4, h * w * c);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i);  // every pixel and channel distinct
  const dpvae::Matrix<float> original = x;
  dpvae::cli::rotate_images(x, h, w, c, {0, 1, 2, 3});
  const auto in = [&](Index row, Index y, Index xx, Index ch) { return original(row, (y * w + xx) * c + ch); };
  for (Index y = 0; y < h; ++y)
    for (Index xx = 0; xx < w; ++xx)
      for (Index ch = 0; ch < c; ++ch) {
        const Index o = (y * w + xx) * c + ch;
        CHECK(x(0, o) == in(0, y, xx, ch));
        CHECK(x(1, o) == in(1, xx, w - 1 - y, ch));  // 90° counterclockwise: the top row becomes the left column
        CHECK(x(2, o) == in(2, h - 1 - y, w - 1 - xx, ch));
        CHECK(x(3, o) == in(3, h - 1 - xx, y, ch));
      }
  dpvae::Matrix<float> z = original;
  for (int turn = 0; turn < 4; ++turn) dpvae::cli::rotate_images(z, h, w, c, {1, 1, 1, 1});
  CHECK(z == original);
  dpvae::cli::rotate_images(z, h, w, c, {1, 3, 1, 3});
  dpvae::cli::rotate_images(z, h, w, c, {3, 1, 3, 1});
  CHECK(z == original);
  dpvae::Matrix<float> wide(1, 2 * 3 * 1);
  CHECK_THROWS_AS(dpvae::cli::rotate_images(wide, 2, 3, 1, {1}), dpvae::Error);
}
