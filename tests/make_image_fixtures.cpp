// tests/make_image_fixtures.cpp — writes the image data sets of tests/cli_images_test.sh into
// DIR, at the real formats and layouts of SVHN and CelebA but few images, so that the full
// paths of `dpvae train --dataset svhn|celeba|folder:…|npy:…` run without a download:
//   DIR/svhn/{train,test}_32x32.mat   X 32 × 32 × 3 × N uint8 (MATLAB v5; test: v7.3), y N × 1 in 1..10
//   DIR/celeba/img_align_celeba/*.jpg  178 × 218 JPEGs, DIR/celeba/list_eval_partition.txt
//   DIR/folder/{a,b}/*.png             16 × 20 RGB and grey PNGs in two classes
//   DIR/images.npy, DIR/labels.npy     N × 16 × 16 × 3 uint8, N int64 (short_labels.npy: N − 1)
// Usage: make_image_fixtures DIR
#include <matio.h>
#include <stb_image_write.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::uint8_t value(int k, int r, int c, int ch) {
  return static_cast<std::uint8_t>(127.5 + 120 * std::sin(0.21 * r + 0.13 * c * (ch + 1) + 0.7 * k) * std::cos(0.05 * r * ch));
}

bool write_mat(const fs::path& p, int n, mat_ft version) {
  mat_t* m = Mat_CreateVer(p.string().c_str(), nullptr, version);
  if (m == nullptr) return false;
  std::vector<std::uint8_t> x(32 * 32 * 3 * static_cast<std::size_t>(n));
  std::vector<double> y(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    y[static_cast<std::size_t>(i)] = 1 + i % 10;
    for (int ch = 0; ch < 3; ++ch)
      for (int c = 0; c < 32; ++c)
        for (int r = 0; r < 32; ++r) x[static_cast<std::size_t>(r + 32 * c + 1024 * ch + 3072 * i)] = value(i % 10, r, c, ch);
  }
  std::size_t xd[4] = {32, 32, 3, static_cast<std::size_t>(n)}, yd[2] = {static_cast<std::size_t>(n), 1};
  matvar_t* xv = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xd, x.data(), 0);
  matvar_t* yv = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, yd, y.data(), 0);
  const bool ok = Mat_VarWrite(m, xv, MAT_COMPRESSION_ZLIB) == 0 && Mat_VarWrite(m, yv, MAT_COMPRESSION_NONE) == 0;
  Mat_VarFree(xv);
  Mat_VarFree(yv);
  Mat_Close(m);
  return ok;
}

std::vector<std::uint8_t> image(int k, int h, int w, int channels) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h * w * channels));
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int ch = 0; ch < channels; ++ch) px[static_cast<std::size_t>((r * w + c) * channels + ch)] = value(k, r, c, ch);
  return px;
}

void write_npy(const fs::path& p, const std::string& descr, const std::string& shape, const void* data, std::size_t bytes) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(p, std::ios::binary);
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(static_cast<char>(len & 0xFF));
  f.put(static_cast<char>(len >> 8));
  f << header;
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_image_fixtures DIR\n");
    return 1;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir / "svhn");
  if (!write_mat(dir / "svhn" / "train_32x32.mat", 300, MAT_FT_MAT5) || !write_mat(dir / "svhn" / "test_32x32.mat", 100, MAT_FT_MAT73)) {
    std::fprintf(stderr, "make_image_fixtures: cannot write the .mat files\n");
    return 1;
  }
  fs::create_directories(dir / "celeba" / "img_align_celeba");
  std::ofstream part(dir / "celeba" / "list_eval_partition.txt");
  for (int i = 1; i <= 140; ++i) {  // 120 training images: more than reproduce's largest batch (100)
    char name[16];
    std::snprintf(name, sizeof name, "%06d.jpg", i);
    const auto px = image(i, 218, 178, 3);
    if (!stbi_write_jpg((dir / "celeba" / "img_align_celeba" / name).string().c_str(), 178, 218, 3, px.data(), 90)) return 1;
    part << name << ' ' << (i <= 120 ? 0 : i <= 128 ? 1 : 2) << '\n';
  }
  for (const char* cls : {"a", "b"}) {
    fs::create_directories(dir / "folder" / cls);
    for (int i = 0; i < 30; ++i) {
      const int channels = i % 5 == 0 ? 1 : 3;  // a grey PNG now and then: replicated to RGB
      const auto px = image(i + (cls[0] == 'b' ? 50 : 0), 16, 20, channels);
      const std::string name = (dir / "folder" / cls / ("img" + std::to_string(i) + ".png")).string();
      if (!stbi_write_png(name.c_str(), 20, 16, channels, px.data(), 20 * channels)) return 1;
    }
  }
  const int n = 80;
  std::vector<std::uint8_t> all;
  std::vector<std::int64_t> labels;
  for (int i = 0; i < n; ++i) {
    const auto px = image(i % 7, 16, 16, 3);
    all.insert(all.end(), px.begin(), px.end());
    labels.push_back(i % 7);
  }
  write_npy(dir / "images.npy", "|u1", "(80, 16, 16, 3)", all.data(), all.size());
  write_npy(dir / "labels.npy", "<i8", "(80,)", labels.data(), labels.size() * sizeof(std::int64_t));
  write_npy(dir / "short_labels.npy", "<i8", "(79,)", labels.data(), 79 * sizeof(std::int64_t));
  return 0;
}
