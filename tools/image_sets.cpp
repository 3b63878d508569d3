// tools/image_sets.cpp — implementation of tools/image_sets.hpp.
#include "image_sets.hpp"

#include "network_batches.hpp"
#include "run_folder.hpp"

#include <dpvae/data/idx.hpp>
#include <dpvae/data/image_array.hpp>
#include <dpvae/data/npy.hpp>
#include <dpvae/images/datasets.hpp>

#include <stb_image.h>

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <utility>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::require;

namespace {

std::string lower_extension(const fs::path& p) {
  std::string e = p.extension().string();
  for (char& ch : e) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return e;
}

/// One group per source without mixed sizes: rows [begin, end) of `all` (n × h·w·c bytes or floats).
ImageGroup single_group(Index begin, Index end, Index h, Index w, Index c) {
  ImageGroup g;
  g.h = h, g.w = w, g.c = c;
  g.rows.resize(static_cast<std::size_t>(end - begin));
  for (Index i = begin; i < end; ++i) g.rows[static_cast<std::size_t>(i - begin)] = i - begin;
  g.x.resize(end - begin, h * w * c);
  return g;
}

ImageSource folder_source(const fs::path& dir) {
  auto files = std::make_shared<std::vector<fs::path>>(list_image_files(dir));
  // Every header first (stbi_info: the format, the size), so that a bad file is named before
  // minutes of decoding; the first bad one in name order is reported with the count.
  std::vector<std::string> bad(files->size());
  tbb::parallel_for(std::size_t{0}, files->size(), [&](std::size_t i) {
    int w = 0, h = 0, c = 0;
    if (!stbi_info((*files)[i].string().c_str(), &w, &h, &c))
      bad[i] = (*files)[i].string() + ": not a readable image (" + stbi_failure_reason() + ")";
  });
  const auto n_bad = std::count_if(bad.begin(), bad.end(), [](const std::string& s) { return !s.empty(); });
  for (const std::string& b : bad)
    require(b.empty(), b + (n_bad > 1 ? " (and " + std::to_string(n_bad - 1) + " more bad files)" : std::string()));
  ImageSource s;
  s.count = static_cast<Index>(files->size());
  s.what = "folder " + dir.string() + ": " + std::to_string(files->size()) + " image files";
  s.read = [files](Index begin, Index end) {
    const std::size_t n = static_cast<std::size_t>(end - begin);
    std::vector<std::vector<unsigned char>> px(n);
    std::vector<std::pair<int, int>> size(n);
    std::vector<std::string> err(n);
    tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
      try {
        px[i] = decode_rgb((*files)[static_cast<std::size_t>(begin) + i], size[i].first, size[i].second);
      } catch (const Error& e) {
        err[i] = e.what();
      }
    });
    for (const std::string& e : err) require(e.empty(), e);
    std::map<std::pair<int, int>, ImageGroup> groups;
    for (std::size_t i = 0; i < n; ++i) {
      ImageGroup& g = groups[size[i]];
      g.h = size[i].first, g.w = size[i].second, g.c = 3;
      g.rows.push_back(static_cast<Index>(i));
    }
    std::vector<ImageGroup> out;
    for (auto& [hw, g] : groups) {
      g.x.resize(static_cast<Index>(g.rows.size()), g.h * g.w * 3);
      for (Index r = 0; r < g.x.rows(); ++r) {
        const std::vector<unsigned char>& p = px[static_cast<std::size_t>(g.rows[static_cast<std::size_t>(r)])];
        for (Index k = 0; k < g.x.cols(); ++k) g.x(r, k) = static_cast<float>(p[static_cast<std::size_t>(k)]) / 255.0f;
      }
      out.push_back(std::move(g));
    }
    return out;
  };
  return s;
}

ImageSource npy_source(const std::string& path) {
  auto a = std::make_shared<data::NpyArray>(data::read_npy(path));
  const auto& sh = a->shape;
  const Index c = data::npy_image_channels(*a, path);
  require(sh[0] >= 2, path + ": an .npy image set needs at least 2 images");
  if (a->is_float()) {  // checked up front, not after minutes of features
    const std::size_t n = static_cast<std::size_t>(a->numel());
    std::vector<double> chunk(std::size_t{1} << 16);
    for (std::size_t begin = 0; begin < n; begin += chunk.size()) {
      const std::size_t m = std::min(chunk.size(), n - begin);
      a->convert(begin, m, chunk.data());
      for (std::size_t k = 0; k < m; ++k)
        require(chunk[k] >= 0.0 && chunk[k] <= 1.0, path + ": " + a->dtype + " images must hold values in [0, 1] (element " +
                                                        std::to_string(begin + k) + " is " + std::to_string(chunk[k]) + ")");
    }
  }
  ImageSource s;
  s.count = sh[0];
  s.what = ".npy " + std::to_string(sh[0]) + " × " + std::to_string(sh[1]) + " × " + std::to_string(sh[2]) + " × " +
           std::to_string(c) + " " + a->dtype;
  const Index h = sh[1], w = sh[2];
  s.read = [a, h, w, c](Index begin, Index end) {
    ImageGroup g = single_group(begin, end, h, w, c);
    float* t = g.x.data();  // row-major, as the array
    const std::size_t first = static_cast<std::size_t>(begin * h * w * c), n = static_cast<std::size_t>(g.x.size());
    a->convert(first, n, t);
    if (a->dtype == "uint8")
      for (std::size_t k = 0; k < n; ++k) t[k] /= 255.0f;
    return std::vector<ImageGroup>{std::move(g)};
  };
  return s;
}

ImageSource idx_source(const std::string& path) {
  auto a = std::make_shared<data::IdxArray>(data::read_idx(path));
  require(a->shape.size() == 3 || a->shape.size() == 4, path + ": an IDX image file must be n × h × w [× c]");
  const Index h = a->shape[1], w = a->shape[2], c = a->shape.size() == 4 ? a->shape[3] : 1;
  require(a->shape[0] >= 2 && (c == 1 || c == 3), path + ": an IDX image set needs at least 2 images of 1 or 3 channels");
  ImageSource s;
  s.count = a->shape[0];
  s.what = "IDX " + std::to_string(s.count) + " × " + std::to_string(h) + " × " + std::to_string(w) + " × " + std::to_string(c);
  s.read = [a, h, w, c](Index begin, Index end) {
    ImageGroup g = single_group(begin, end, h, w, c);
    const Index d = h * w * c;
    for (Index r = 0; r < g.x.rows(); ++r)
      for (Index k = 0; k < d; ++k)
        g.x(r, k) = static_cast<float>(a->data[static_cast<std::size_t>((begin + r) * d + k)]) / 255.0f;
    return std::vector<ImageGroup>{std::move(g)};
  };
  return s;
}

ImageSource run_source(const fs::path& dir, const ImageSourceOptions& o) {
  require(o.run_samples >= 2 && o.run_samples <= 1000000, "--samples must be in [2, 10^6]");
  auto run = std::make_shared<LoadedRun>(load_run(dir));
  require(run->data.images, dir.string() + ": the run's data (" + run->config.dataset + ") are not images");
  Rng rng(o.seed);
  auto z = std::make_shared<Matrix<float>>(run->model->prior_sample(o.run_samples, rng));
  ImageSource s;
  s.count = o.run_samples;
  s.what = "run " + dir.string() + ": " + std::to_string(o.run_samples) + " samples of " + display_name(run->config) +
           " at step " + std::to_string(run->model->step()) + " (seed " + std::to_string(o.seed) + ")";
  s.read = [run, z](Index begin, Index end) {
    const Data& d = run->data;
    ImageGroup g = single_group(begin, end, d.height, d.width, d.channels);
    g.x = decode_all(*run->model, Matrix<float>(z->middleRows(begin, end - begin))).cwiseMax(0.0f).cwiseMin(1.0f);
    return std::vector<ImageGroup>{std::move(g)};
  };
  return s;
}

}  // namespace

std::vector<fs::path> list_image_files(const fs::path& dir) { return images::list_image_files(dir); }

std::vector<unsigned char> decode_rgb(const fs::path& file, int& h, int& w) {
  return images::decode_image(images::read_file(file), file.string(), 3, h, w);
}

ImageSource open_image_source(const std::string& path, const ImageSourceOptions& o) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return fs::exists(p / "config.json", ec) ? run_source(p, o) : folder_source(p);
  require(fs::exists(p, ec), "cannot open " + path + ": No such file or directory");
  if (lower_extension(p) == ".npy") return npy_source(path);
  return idx_source(path);
}

}  // namespace dpvae::cli
