// Tests of the data loaders: the IDX reader (plain and gzip, every bad-input path), the IDX
// data set loader, and the two-moons generator.
#include "dpvae/data/idx.hpp"
#include "dpvae/data/two_moons.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

/// A fresh directory under the system temporary directory, removed with its contents.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = fs::temp_directory_path() /
            ("dpvae_test_data_" + std::to_string(stamp) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

void put_u32(Bytes& b, std::uint32_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 24));
  b.push_back(static_cast<std::uint8_t>(v >> 16));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

/// An IDX file: magic 00 00 dtype ndim, the sizes, then `data` (not checked against them).
Bytes idx_bytes(const std::vector<std::uint32_t>& shape, const Bytes& data,
                std::uint8_t dtype = 0x08) {
  Bytes b{0, 0, dtype, static_cast<std::uint8_t>(shape.size())};
  for (auto s : shape) put_u32(b, s);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_plain(const fs::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

void write_gzip(const fs::path& p, const Bytes& b) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_plain(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// 3 images of 2 × 3 pixels whose bytes are 0, 10, 20, ..., and their labels 7, 0, 9.
Bytes image_pixels() {
  Bytes px;
  for (int i = 0; i < 3 * 2 * 3; ++i) px.push_back(static_cast<std::uint8_t>(i * 10 + (i == 17 ? 85 : 0)));
  return px;
}
const Bytes kLabels{7, 0, 9};

/// Runs f, which must throw dpvae::Error, and checks that its message contains `phrase`.
template <class F>
void check_error(F&& f, const std::string& phrase) {
  std::string message;
  try {
    f();
  } catch (const dpvae::Error& e) {
    message = e.what();
  }
  INFO("message: " << message);
  CHECK_MESSAGE(!message.empty(), "expected dpvae::Error containing '" << phrase << "'");
  CHECK(message.find(phrase) != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
}

/// Writes the four files of an IDX data set into `dir` (gzip-compressed if `gz`).
void write_dataset(const fs::path& dir, bool gz, std::uint32_t n_test_labels = 3) {
  auto put = [&](const std::string& name, const Bytes& b) {
    if (gz) write_gzip(dir / (name + ".gz"), b);
    else write_plain(dir / name, b);
  };
  put("train-images-idx3-ubyte", idx_bytes({3, 2, 3}, image_pixels()));
  put("train-labels-idx1-ubyte", idx_bytes({3}, kLabels));
  put("t10k-images-idx3-ubyte", idx_bytes({3, 2, 3}, image_pixels()));
  Bytes labels(kLabels.begin(), kLabels.end());
  labels.resize(n_test_labels, 1);
  put("t10k-labels-idx1-ubyte", idx_bytes({n_test_labels}, labels));
}

}  // namespace

TEST_CASE("read_idx reads plain and gzip IDX files exactly") {
  TempDir dir;
  const Bytes px = image_pixels();
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const fs::path img = dir / (gz ? "img.gz" : "img");
    const fs::path lab = dir / (gz ? "lab.gz" : "lab");
    if (gz) {
      write_gzip(img, idx_bytes({3, 2, 3}, px));
      write_gzip(lab, idx_bytes({3}, kLabels));
    } else {
      write_plain(img, idx_bytes({3, 2, 3}, px));
      write_plain(lab, idx_bytes({3}, kLabels));
    }
    const auto a = dpvae::data::read_idx(img);
    CHECK(a.shape == std::vector<std::int64_t>{3, 2, 3});
    CHECK(a.data == px);
    const auto l = dpvae::data::read_idx(lab);
    CHECK(l.shape == std::vector<std::int64_t>{3});
    CHECK(l.data == kLabels);

    const auto set = dpvae::data::read_idx_images(img, lab);
    CHECK(set.images.rows() == 3);
    CHECK(set.images.cols() == 6);
    CHECK(set.height == 2);
    CHECK(set.width == 3);
    CHECK(set.channels == 1);
    CHECK(set.labels == std::vector<int>{7, 0, 9});
    for (dpvae::Index r = 0; r < 3; ++r)
      for (dpvae::Index c = 0; c < 6; ++c)
        CHECK(set.images(r, c) == static_cast<float>(px[static_cast<std::size_t>(r * 6 + c)]) / 255.0f);
    CHECK(set.images.maxCoeff() == 1.0f);  // byte 255 → 1
    CHECK(set.images.minCoeff() == 0.0f);
  }
}

TEST_CASE("read_idx reads a concatenated multi-member gzip file and 4-d colour images") {
  TempDir dir;
  // 2 images of 1 × 2 pixels, 3 channels: (n, H, W, C) = (2, 1, 2, 3).
  Bytes px;
  for (int i = 0; i < 12; ++i) px.push_back(static_cast<std::uint8_t>(i * 20));
  const Bytes whole = idx_bytes({2, 1, 2, 3}, px);
  const Bytes first(whole.begin(), whole.begin() + 10);
  const Bytes second(whole.begin() + 10, whole.end());
  write_gzip(dir / "a.gz", first);
  write_gzip(dir / "b.gz", second);
  Bytes cat = read_plain(dir / "a.gz");
  const Bytes b = read_plain(dir / "b.gz");
  cat.insert(cat.end(), b.begin(), b.end());
  write_plain(dir / "img.gz", cat);
  write_plain(dir / "lab", idx_bytes({2}, Bytes{4, 5}));

  const auto set = dpvae::data::read_idx_images(dir / "img.gz", dir / "lab");
  CHECK(set.images.rows() == 2);
  CHECK(set.images.cols() == 6);
  CHECK(set.height == 1);
  CHECK(set.width == 2);
  CHECK(set.channels == 3);
  // Channels last: row 1, pixel (0, 1), channel 2 is byte 6 + 3 + 2 = 11.
  CHECK(set.images(1, 5) == static_cast<float>(11 * 20) / 255.0f);
}

TEST_CASE("read_idx rejects bad files with a one-line message") {
  TempDir dir;
  const Bytes px = image_pixels();
  using dpvae::data::read_idx;

  check_error([&] { read_idx(dir / "absent"); }, "cannot open");
  check_error([&] { read_idx(dir / "absent"); }, "No such file or directory");
  check_error([&] { read_idx(dir.path()); }, "cannot open");

  Bytes bad_magic = idx_bytes({3, 2, 3}, px);
  bad_magic[0] = 0x12;
  write_plain(dir / "magic", bad_magic);
  check_error([&] { read_idx(dir / "magic"); }, "not an IDX file (bad magic");

  write_plain(dir / "short", Bytes{0, 0});
  check_error([&] { read_idx(dir / "short"); }, "not an IDX file");
  write_plain(dir / "empty", Bytes{});
  check_error([&] { read_idx(dir / "empty"); }, "not an IDX file");

  write_plain(dir / "float", idx_bytes({2}, Bytes(8, 0), 0x0D));
  check_error([&] { read_idx(dir / "float"); }, "dtype 0x0d (float32) is not supported");
  write_plain(dir / "int", idx_bytes({2}, Bytes(8, 0), 0x0C));
  check_error([&] { read_idx(dir / "int"); }, "(int32) is not supported");

  write_plain(dir / "ndim0", idx_bytes({}, Bytes{}));
  check_error([&] { read_idx(dir / "ndim0"); }, "declares 0 dimensions");
  write_plain(dir / "ndim5", idx_bytes({1, 1, 1, 1, 1}, Bytes{1}));
  check_error([&] { read_idx(dir / "ndim5"); }, "declares 5 dimensions");

  write_plain(dir / "zero", idx_bytes({3, 0, 3}, Bytes{}));
  check_error([&] { read_idx(dir / "zero"); }, "has size 0");

  Bytes short_header = idx_bytes({3, 2, 3}, Bytes{});
  short_header.resize(10);
  write_plain(dir / "short_header", short_header);
  check_error([&] { read_idx(dir / "short_header"); }, "truncated");

  Bytes truncated(px.begin(), px.end() - 5);
  write_plain(dir / "truncated", idx_bytes({3, 2, 3}, truncated));
  check_error([&] { read_idx(dir / "truncated"); },
              "truncated: header declares 18 bytes of data (shape 3 × 2 × 3), file has 13");
  write_gzip(dir / "truncated.gz", idx_bytes({3, 2, 3}, truncated));
  check_error([&] { read_idx(dir / "truncated.gz"); }, "truncated: header declares 18 bytes");

  Bytes extra = px;
  extra.push_back(1);
  write_plain(dir / "extra", idx_bytes({3, 2, 3}, extra));
  check_error([&] { read_idx(dir / "extra"); }, "extra trailing bytes");

  write_plain(dir / "huge", idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, px));
  check_error([&] { read_idx(dir / "huge"); }, "overflows");
  write_plain(dir / "big", idx_bytes({0xFFFFFFFFu, 0xFFFFu}, px));
  check_error([&] { read_idx(dir / "big"); }, "truncated: header declares");

  // Corrupt gzip: a valid stream with its deflate body overwritten, one cut short, and one
  // followed by garbage.
  write_gzip(dir / "good.gz", idx_bytes({3, 2, 3}, px));
  const Bytes good = read_plain(dir / "good.gz");
  Bytes corrupt = good;
  for (std::size_t i = 10; i < corrupt.size() - 8; ++i) corrupt[i] = 0xFF;
  write_plain(dir / "corrupt.gz", corrupt);
  check_error([&] { read_idx(dir / "corrupt.gz"); }, "corrupt gzip data");
  Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  write_plain(dir / "cut.gz", cut);
  check_error([&] { read_idx(dir / "cut.gz"); }, "corrupt gzip data");
  Bytes garbage = good;
  garbage.push_back(0x42);
  garbage.push_back(0x43);
  write_plain(dir / "garbage.gz", garbage);
  check_error([&] { read_idx(dir / "garbage.gz"); }, "corrupt gzip data");
  write_plain(dir / "magic_only.gz", Bytes{0x1f, 0x8b});
  check_error([&] { read_idx(dir / "magic_only.gz"); }, "corrupt gzip data");
}

TEST_CASE("read_idx_images checks the shapes and the label count") {
  TempDir dir;
  write_plain(dir / "img", idx_bytes({3, 2, 3}, image_pixels()));
  write_plain(dir / "lab", idx_bytes({3}, kLabels));
  write_plain(dir / "lab2", idx_bytes({2}, Bytes{1, 2}));
  check_error([&] { dpvae::data::read_idx_images(dir / "img", dir / "lab2"); },
              "2 labels but");
  check_error([&] { dpvae::data::read_idx_images(dir / "lab", dir / "lab"); },
              "an IDX image file has 3 dimensions");
  check_error([&] { dpvae::data::read_idx_images(dir / "img", dir / "img"); },
              "an IDX label file has 1 dimension");
}

TEST_CASE("load_idx_dataset finds plain or gzip files and checks them") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    TempDir dir;
    write_dataset(dir.path(), gz);
    const auto ds = dpvae::data::load_idx_dataset(dir.path(), "tiny");
    CHECK(ds.name == "tiny");
    CHECK(ds.train.images.rows() == 3);
    CHECK(ds.test.images.rows() == 3);
    CHECK(ds.train.labels == std::vector<int>{7, 0, 9});
    CHECK(ds.test.images == ds.train.images);
  }
  {  // the plain file wins when both exist: the .gz ones here are broken
    TempDir dir;
    write_dataset(dir.path(), false);
    write_plain(dir / "train-images-idx3-ubyte.gz", Bytes{0x1f, 0x8b, 0, 0});
    CHECK(dpvae::data::load_idx_dataset(dir.path(), "x").train.images.rows() == 3);
  }
  {
    TempDir dir;
    write_dataset(dir.path(), true, 4);
    check_error([&] { dpvae::data::load_idx_dataset(dir.path(), "x"); }, "the counts must match");
  }
  {
    TempDir dir;
    write_dataset(dir.path(), false);
    fs::remove(dir / "t10k-labels-idx1-ubyte");
    fs::remove(dir / "train-images-idx3-ubyte");
    check_error([&] { dpvae::data::load_idx_dataset(dir.path(), "x"); },
                dir.path().string() + ": no train-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]");
    check_error([&] { dpvae::data::load_idx_dataset(dir / "nowhere", "x"); }, "no such directory");
  }
  {
    TempDir dir;
    write_dataset(dir.path(), false);
    Bytes px(3 * 3 * 2, 0);
    write_plain(dir / "t10k-images-idx3-ubyte", idx_bytes({3, 3, 2}, px));
    check_error([&] { dpvae::data::load_idx_dataset(dir.path(), "x"); },
                "train images are 2×3×1 but test images are 3×2×1");
  }
}

TEST_CASE("load_idx_dataset reads MNIST when DPVAE_MNIST_DIR is set") {
  const char* env = std::getenv("DPVAE_MNIST_DIR");
  if (env == nullptr || *env == '\0' || !fs::is_directory(env)) {
    MESSAGE("skipped: set DPVAE_MNIST_DIR to a directory holding MNIST (scripts/fetch-mnist.sh)");
    return;
  }
  const auto ds = dpvae::data::load_idx_dataset(env, "mnist");
  CHECK(ds.train.images.rows() == 60000);
  CHECK(ds.test.images.rows() == 10000);
  CHECK(ds.train.images.cols() == 784);
  CHECK(ds.train.height == 28);
  CHECK(ds.train.width == 28);
  CHECK(ds.train.channels == 1);
  CHECK(ds.train.labels.size() == 60000);
  CHECK(ds.test.labels.size() == 10000);
  for (const auto* set : {&ds.train, &ds.test}) {
    std::vector<int> counts(10, 0);
    bool in_range = true;
    for (int l : set->labels) {
      if (l < 0 || l > 9) in_range = false;
      else ++counts[static_cast<std::size_t>(l)];
    }
    CHECK(in_range);
    for (int c : counts) CHECK(c > 0);
    CHECK(set->images.minCoeff() == 0.0f);
    CHECK(set->images.maxCoeff() == 1.0f);
  }
  CHECK(ds.train.labels[0] == 5);  // MNIST's first training digit is a 5
  CHECK(ds.test.labels[0] == 7);   // and its first test digit a 7
}

TEST_CASE("two_moons is reproducible and has make_moons' geometry") {
  using dpvae::data::two_moons;
  {
    dpvae::Rng a(42), b(42), c(43);
    const auto xa = two_moons<double>(101, 0.05, a);
    const auto xb = two_moons<double>(101, 0.05, b);
    const auto xc = two_moons<double>(101, 0.05, c);
    CHECK(xa == xb);
    CHECK(xa != xc);
  }
  for (dpvae::Index n : {2, 3, 1000, 1001}) {
    CAPTURE(n);
    dpvae::Rng rng(7);
    std::vector<int> labels;
    std::vector<double> pos;
    const auto x = two_moons<double>(n, 0.0, rng, &labels, &pos);
    REQUIRE(x.rows() == n);
    REQUIRE(x.cols() == 2);
    REQUIRE(labels.size() == static_cast<std::size_t>(n));
    REQUIRE(pos.size() == static_cast<std::size_t>(n));
    dpvae::Index outer = 0;
    for (dpvae::Index i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      const double px = x(i, 0), py = x(i, 1);
      CHECK(pos[k] >= 0.0);
      CHECK(pos[k] <= 1.0);
      const double t = 3.14159265358979323846 * pos[k];
      if (labels[k] == 0) {
        ++outer;
        CHECK(std::abs(px * px + py * py - 1.0) < 1e-9);
        CHECK(std::abs(px - std::cos(t)) < 1e-12);
      } else {
        CHECK(labels[k] == 1);
        CHECK(std::abs((px - 1.0) * (px - 1.0) + (py - 0.5) * (py - 0.5) - 1.0) < 1e-9);
        CHECK(py <= 0.5 + 1e-12);  // the inner moon is the lower half circle
        CHECK(std::abs(px - (1.0 - std::cos(t))) < 1e-12);
      }
    }
    CHECK(outer == n / 2);
  }
  {  // shuffled: the labels of the first rows are not all equal
    dpvae::Rng rng(3);
    std::vector<int> labels;
    two_moons<double>(1000, 0.0, rng, &labels);
    int first_half_outer = 0;
    for (int i = 0; i < 500; ++i) first_half_outer += labels[static_cast<std::size_t>(i)] == 0;
    CHECK(first_half_outer > 200);
    CHECK(first_half_outer < 300);
  }
  {  // the mean of both moons is (0.5, 0.25); noise 0.05 moves it by ~0.05/√n
    dpvae::Rng rng(11);
    const auto x = two_moons<double>(20000, 0.05, rng);
    const Eigen::RowVector2d mean = x.colwise().mean();
    CHECK(std::abs(mean(0) - 0.5) < 0.01);
    CHECK(std::abs(mean(1) - 0.25) < 0.01);
    // With noise, points lie near the moons: residual radius std ≈ noise.
    dpvae::Rng rng2(12);
    std::vector<int> labels;
    const auto y = two_moons<double>(20000, 0.05, rng2, &labels);
    double ss = 0.0;
    for (dpvae::Index i = 0; i < y.rows(); ++i) {
      const double cx = labels[static_cast<std::size_t>(i)] == 0 ? 0.0 : 1.0;
      const double cy = labels[static_cast<std::size_t>(i)] == 0 ? 0.0 : 0.5;
      const double r = std::hypot(y(i, 0) - cx, y(i, 1) - cy) - 1.0;
      ss += r * r;
    }
    CHECK(std::sqrt(ss / static_cast<double>(y.rows())) == doctest::Approx(0.05).epsilon(0.1));
  }
  {
    dpvae::Rng rng(1);
    check_error([&] { two_moons<double>(1, 0.05, rng); }, "need at least 2 points");
    check_error([&] { two_moons<double>(10, -0.1, rng); }, "must be finite and >= 0");
    check_error([&] { two_moons<double>(10, std::nan(""), rng); }, "must be finite and >= 0");
  }
}

TEST_CASE("make_two_moons draws the paper's split from independent streams") {
  const auto a = dpvae::data::make_two_moons(5);
  const auto b = dpvae::data::make_two_moons(5);
  const auto c = dpvae::data::make_two_moons(6);
  CHECK(a.train.rows() == 2000);
  CHECK(a.test.rows() == 200);
  CHECK(a.train.cols() == 2);
  CHECK(a.train_labels.size() == 2000);
  CHECK(a.test_labels.size() == 200);
  CHECK(a.train == b.train);
  CHECK(a.test == b.test);
  CHECK(a.train != c.train);
  CHECK(a.train.topRows(200) != a.test);
  // The test set does not depend on the training set's size.
  const auto d = dpvae::data::make_two_moons(5, 500);
  CHECK(d.test == a.test);
  int outer = 0;
  for (int l : a.train_labels) outer += l == 0;
  CHECK(outer == 1000);
}
