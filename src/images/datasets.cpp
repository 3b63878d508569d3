// src/images/datasets.cpp — implementation of dpvae/images/datasets.hpp: image folders, SVHN
// (libmatio), CelebA (a folder or the release's zip, read with libzip).
#include "dpvae/images/datasets.hpp"

#include "dpvae/images/cache.hpp"

#include <hdf5.h>
#include <matio.h>
#include <tbb/enumerable_thread_specific.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

namespace dpvae::images {

namespace fs = std::filesystem;
using dpvae::detail::fail;
using dpvae::detail::require;

namespace {

/// What a decode with `o` makes of its sources, for the cache's fingerprint and file name.
std::string cache_recipe(const std::string& reader, const DecodeOptions& o) {
  const Geometry& g = o.geometry;
  return reader + " channels=" + std::to_string(o.channels) + " expect=" + std::to_string(g.expect_height) + "x" +
         std::to_string(g.expect_width) + " crop=" + std::to_string(g.crop_height) + "x" + std::to_string(g.crop_width) +
         " size=" + std::to_string(g.height) + "x" + std::to_string(g.width) + " skip_bad=" + (o.skip_bad ? "1" : "0");
}

/// The cache file's name: the reader, the channels and the output size.
std::string cache_name(const std::string& reader, const DecodeOptions& o) {
  const Geometry& g = o.geometry;
  std::string n = reader + "-" + std::to_string(o.channels) + "c";
  if (g.height > 0) n += "-" + std::to_string(g.height) + "x" + std::to_string(g.width);
  if (g.crop_height != 0) n += "-crop" + std::to_string(g.crop_height);
  return n + (o.skip_bad ? "-skipbad" : "") + ".dpvae-images";
}

/// A skip report and extra lines as the cache's text, and back.
std::vector<std::string> report_text(const DecodeReport& r, const std::vector<std::string>& extra) {
  std::vector<std::string> t{"skipped " + std::to_string(r.skipped)};
  for (const std::string& e : r.first_skipped) t.push_back("skip " + e);
  for (const std::string& e : extra) t.push_back("line " + e);
  return t;
}
std::optional<std::vector<std::string>> parse_report_text(const std::vector<std::string>& t, DecodeReport& r) {
  if (t.empty() || t[0].rfind("skipped ", 0) != 0) return std::nullopt;
  try {
    r.skipped = static_cast<Index>(std::stoll(t[0].substr(8)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::vector<std::string> extra;
  for (std::size_t i = 1; i < t.size(); ++i) {
    if (t[i].rfind("skip ", 0) == 0) r.first_skipped.push_back(t[i].substr(5));
    else if (t[i].rfind("line ", 0) == 0) extra.push_back(t[i].substr(5));
    else return std::nullopt;
  }
  return extra;
}

/// Runs `decode` (which fills `arrays` and the report) unless `file` holds a decode with
/// `fingerprint` of as many arrays; writes the cache after a decode. The report's `cache`
/// says which happened.
template <class Decode>
void cached(const fs::path& data_dir, const std::string& name, const std::string& recipe, const std::vector<fs::path>& sources,
            const std::vector<data::ImageArray*>& arrays, std::vector<std::string>& extra, DecodeReport& report,
            Decode&& decode) {
  std::string why;
  const fs::path file = cache_file(data_dir, name, &why);
  if (file.empty()) {
    decode();
    report.cache = "not written: " + why;
    return;
  }
  const std::uint64_t fingerprint = cache_fingerprint(recipe, sources);
  if (auto c = read_cache(file, fingerprint, &why); c && c->arrays.size() == arrays.size()) {
    DecodeReport r;
    if (auto lines = parse_report_text(c->text, r)) {
      for (std::size_t i = 0; i < arrays.size(); ++i) *arrays[i] = std::move(c->arrays[i]);
      extra = std::move(*lines);
      report.skipped = r.skipped;
      report.first_skipped = std::move(r.first_skipped);
      report.cache = "read from " + file.string();
      return;
    }
  }
  decode();
  std::vector<const data::ImageArray*> out(arrays.begin(), arrays.end());
  report.cache = write_cache(file, fingerprint, out, report_text(report, extra), &why) ? "written to " + file.string()
                                                                                        : "not written: " + why;
}


std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool decodable_extension(const std::string& ext) {
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".pgm" || ext == ".ppm";
}

/// The image files of `dir` (see list_image_files), or none when `allow_empty`.
std::vector<fs::path> image_files(const fs::path& dir, bool allow_empty) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  require(!ec, "cannot read the folder " + dir.string() + ": " + ec.message());
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : it) {
    // Directories are skipped; anything else with an image's extension is listed, so that a
    // broken link or a device is reported when it is read, not silently left out.
    if (e.is_directory(ec)) continue;
    const std::string ext = lower(e.path().extension().string());
    if (ext == ".tif" || ext == ".tiff" || ext == ".webp")
      fail(e.path().string() + ": " + ext.substr(1) + " files are not decoded (stb reads png, jpg, bmp, pgm, ppm)");
    if (decodable_extension(ext)) files.push_back(e.path());
  }
  require(allow_empty || !files.empty(), dir.string() + ": no image files (png, jpg, jpeg, bmp, pgm, ppm) in the folder");
  std::sort(files.begin(), files.end());
  return files;
}

EncodedSource file_source(std::vector<fs::path> files, std::vector<int> labels) {
  auto shared = std::make_shared<std::vector<fs::path>>(std::move(files));
  EncodedSource s;
  s.count = static_cast<Index>(shared->size());
  s.read = [shared](Index i) { return read_file((*shared)[static_cast<std::size_t>(i)]); };
  s.name = [shared](Index i) { return (*shared)[static_cast<std::size_t>(i)].string(); };
  s.labels = std::move(labels);
  return s;
}

// ----- MATLAB files (libmatio) -----

struct MatFile {
  mat_t* m = nullptr;
  ~MatFile() {
    if (m != nullptr) Mat_Close(m);
  }
};
struct MatVar {
  matvar_t* v = nullptr;
  ~MatVar() {
    if (v != nullptr) Mat_VarFree(v);
  }
};

std::string class_name(matio_classes c) {
  switch (c) {
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT64: return "uint64";
    case MAT_C_INT64: return "int64";
    case MAT_C_CHAR: return "char";
    case MAT_C_CELL: return "cell";
    case MAT_C_STRUCT: return "struct";
    default: return "class " + std::to_string(static_cast<int>(c));
  }
}

std::string dims_text(const matvar_t* v) {
  std::string s;
  for (int k = 0; k < v->rank; ++k) s += (k ? " × " : "") + std::to_string(v->dims[k]);
  return s;
}

bool is_numeric(matio_classes c) {
  return c == MAT_C_DOUBLE || c == MAT_C_SINGLE || c == MAT_C_UINT8 || c == MAT_C_INT8 || c == MAT_C_UINT16 ||
         c == MAT_C_INT16 || c == MAT_C_UINT32 || c == MAT_C_INT32 || c == MAT_C_UINT64 || c == MAT_C_INT64;
}

/// HDF5 (under matio's v7.3 reader) prints its error stack on stderr by default; dpvae reports
/// a bad file in one line of its own.
void quiet_hdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

/// Label element i of a numeric MATLAB array as a double.
double mat_value(const matvar_t* v, std::size_t i) {
  const auto get = [&](auto t) {
    std::memcpy(&t, static_cast<const char*>(v->data) + i * sizeof t, sizeof t);
    return static_cast<double>(t);
  };
  switch (v->class_type) {
    case MAT_C_DOUBLE: return get(double{});
    case MAT_C_SINGLE: return get(float{});
    case MAT_C_UINT8: return get(std::uint8_t{});
    case MAT_C_INT8: return get(std::int8_t{});
    case MAT_C_UINT16: return get(std::uint16_t{});
    case MAT_C_INT16: return get(std::int16_t{});
    case MAT_C_UINT32: return get(std::uint32_t{});
    case MAT_C_INT32: return get(std::int32_t{});
    case MAT_C_UINT64: return get(std::uint64_t{});
    case MAT_C_INT64: return get(std::int64_t{});
    default: return -1;  // not reached: checked by is_numeric
  }
}

// ----- zip archives (libzip) -----

/// A zip archive open once per thread (a zip_t must not be shared between threads).
class ZipReader {
 public:
  explicit ZipReader(fs::path path) : path_(std::move(path)) {
    zip_t* z = open();
    const zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
      const char* name = zip_get_name(z, static_cast<zip_uint64_t>(i), 0);
      if (name != nullptr) index_[name] = i;
    }
  }
  ~ZipReader() {
    for (zip_t* z : handles_) zip_discard(z);
  }
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  /// The archive entry `name`'s index, or -1.
  zip_int64_t find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? -1 : it->second;
  }
  std::vector<std::uint8_t> read(zip_int64_t index, const std::string& name) {
    zip_t* z = local_.local();
    if (z == nullptr) z = local_.local() = open();
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      fail(path_.string() + ": " + name + ": cannot read the entry (" + zip_strerror(z) + ")");
    require(st.size <= (zip_uint64_t{1} << 30), path_.string() + ": " + name + ": entry larger than 1 GiB");
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> f(zip_fopen_index(z, static_cast<zip_uint64_t>(index), 0), zip_fclose);
    if (!f) fail(path_.string() + ": " + name + ": cannot open the entry (" + zip_strerror(z) + ")");
    std::vector<std::uint8_t> out(static_cast<std::size_t>(st.size));
    const zip_int64_t got = zip_fread(f.get(), out.data(), out.size());
    if (got < 0 || static_cast<zip_uint64_t>(got) != st.size)
      fail(path_.string() + ": " + name + ": corrupt entry (" + zip_file_strerror(f.get()) + ")");
    return out;
  }

 private:
  zip_t* open() {
    int err = 0;
    zip_t* z = zip_open(path_.string().c_str(), ZIP_RDONLY, &err);
    if (z == nullptr) {
      zip_error_t e;
      zip_error_init_with_code(&e, err);
      const std::string why = zip_error_strerror(&e);
      zip_error_fini(&e);
      fail("cannot open " + path_.string() + ": " + why);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    handles_.push_back(z);
    return z;
  }
  fs::path path_;
  std::unordered_map<std::string, zip_int64_t> index_;
  tbb::enumerable_thread_specific<zip_t*> local_{nullptr};
  std::mutex mutex_;
  std::vector<zip_t*> handles_;
};

}  // namespace

std::vector<fs::path> list_image_files(const fs::path& dir) { return image_files(dir, false); }

ImageFolder load_image_folder(const fs::path& dir, const DecodeOptions& o) {
  std::error_code ec;
  require(fs::is_directory(dir, ec), "no image folder at " + dir.string());
  std::vector<fs::path> classes;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && e.path().filename().string().front() != '.') classes.push_back(e.path());
  require(!ec, "cannot read the folder " + dir.string() + ": " + ec.message());
  std::sort(classes.begin(), classes.end());
  std::vector<fs::path> direct = image_files(dir, !classes.empty());
  ImageFolder out;
  std::vector<fs::path> files;
  std::vector<int> labels;
  // Class sub-folders that hold images make the folder labelled; others (e.g. a cache) are ignored.
  for (const fs::path& c : classes) {
    std::vector<fs::path> f = image_files(c, true);
    if (f.empty()) continue;
    out.classes.push_back(c.filename().string());
    labels.insert(labels.end(), f.size(), static_cast<int>(out.classes.size() - 1));
    files.insert(files.end(), f.begin(), f.end());
  }
  if (out.classes.empty()) {
    require(!direct.empty(), dir.string() + ": no image files (png, jpg, jpeg, bmp, pgm, ppm) in the folder or its sub-folders");
    files = std::move(direct);
    labels.clear();
  } else {
    if (!direct.empty())
      fail(dir.string() + ": holds both class sub-folders and image files (" + direct.front().filename().string() +
           "); put every image in its class folder, or use a flat folder");
  }
  if (!o.cache) {
    out.images = decode_all(file_source(std::move(files), std::move(labels)), o, &out.report);
    return out;
  }
  std::vector<std::string> class_names = out.classes;
  const std::vector<fs::path> sources = files;
  cached(dir, cache_name("folder", o), cache_recipe("folder", o), sources, {&out.images}, class_names, out.report,
         [&] { out.images = decode_all(file_source(std::move(files), std::move(labels)), o, &out.report); });
  out.classes = std::move(class_names);
  return out;
}

data::ImageArray read_svhn_mat(const fs::path& file) {
  const std::string p = file.string();
  std::error_code ec;
  require(fs::is_regular_file(file, ec), "cannot open " + p + ": " + (ec ? ec.message() : std::string("not a regular file")));
  const std::uint64_t file_bytes = fs::file_size(file, ec);
  require(!ec, "cannot read " + p + ": " + ec.message());
  quiet_hdf5();
  MatFile mf;
  mf.m = Mat_Open(p.c_str(), MAT_ACC_RDONLY);
  if (mf.m == nullptr) fail(p + ": not a MATLAB .mat file libmatio can open (v4, v5, v7 or v7.3)");
  // The variables' headers first: their class and shape are checked, and the sizes they declare
  // held against the file's (deflate shrinks at most ~1032×), before anything is allocated.
  MatVar x, y;
  x.v = Mat_VarReadInfo(mf.m, "X");
  y.v = Mat_VarReadInfo(mf.m, "y");
  if (x.v == nullptr || y.v == nullptr)
    fail(p + ": no variable '" + std::string(x.v == nullptr ? "X" : "y") + "' (an SVHN file holds X, 32 × 32 × 3 × N uint8, and y, N × 1)");
  require(x.v->class_type == MAT_C_UINT8 && !x.v->isComplex,
          p + ": X is " + class_name(x.v->class_type) + (x.v->isComplex ? " complex" : "") + ", not uint8");
  require(x.v->rank == 4 && x.v->dims[0] == 32 && x.v->dims[1] == 32 && x.v->dims[2] == 3 && x.v->dims[3] >= 1,
          p + ": X is " + dims_text(x.v) + ", not 32 × 32 × 3 × N");
  const std::size_t n = x.v->dims[3];
  require(n <= (std::size_t{1} << 26) && n * 3072 <= 1100 * file_bytes + 65536,
          p + ": X declares " + std::to_string(n) + " images, more than the file's " + std::to_string(file_bytes) +
              " bytes can hold (a corrupt file)");
  require(!y.v->isComplex && is_numeric(y.v->class_type), p + ": y is " + class_name(y.v->class_type) + ", not a numeric array");
  require(y.v->rank == 2 && ((y.v->dims[0] == n && y.v->dims[1] == 1) || (y.v->dims[0] == 1 && y.v->dims[1] == n)),
          p + ": y is " + dims_text(y.v) + ", not " + std::to_string(n) + " × 1 (one label per image of X)");
  data::ImageArray a;
  a.count = static_cast<Index>(n), a.height = 32, a.width = 32, a.channels = 3;
  a.pixels.resize(n * 3072);
  // X in slabs of 4096 images (12 MB), each reordered into the array: the file's copy of X is
  // never held whole. MATLAB is column-major: X(r, c, ch, i) sits at r + 32 c + 1024 ch + 3072 i.
  const std::size_t slab = 4096;
  std::vector<std::uint8_t> buffer(std::min(n, slab) * 3072);
  for (std::size_t i0 = 0; i0 < n; i0 += slab) {
    const std::size_t k = std::min(slab, n - i0);
    int start[4] = {0, 0, 0, static_cast<int>(i0)}, stride[4] = {1, 1, 1, 1};
    int edge[4] = {32, 32, 3, static_cast<int>(k)};
    if (Mat_VarReadData(mf.m, x.v, buffer.data(), start, stride, edge) != 0)
      fail(p + ": cannot read images " + std::to_string(i0 + 1) + " to " + std::to_string(i0 + k) + " of X (a truncated or corrupt file)");
    for (std::size_t i = 0; i < k; ++i) {
      std::uint8_t* dst = a.pixels.data() + (i0 + i) * 3072;
      const std::uint8_t* s = buffer.data() + i * 3072;
      for (std::size_t ch = 0; ch < 3; ++ch)
        for (std::size_t c = 0; c < 32; ++c)
          for (std::size_t r = 0; r < 32; ++r) dst[(r * 32 + c) * 3 + ch] = s[r + 32 * c + 1024 * ch];
    }
  }
  y.v = [&] {
    Mat_VarFree(y.v);
    return Mat_VarRead(mf.m, "y");
  }();
  require(y.v != nullptr && y.v->data != nullptr && is_numeric(y.v->class_type) && y.v->nbytes / std::max<std::size_t>(1, y.v->data_size) == n,
          p + ": cannot read y (a truncated or corrupt file)");
  a.labels.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = mat_value(y.v, i);
    if (!(v >= 1 && v <= 10 && v == static_cast<double>(static_cast<int>(v))))
      fail(p + ": label " + std::to_string(i + 1) + " is " + std::to_string(v) + " (SVHN labels are 1 to 10, 10 for the digit 0)");
    a.labels[i] = static_cast<int>(v) % 10;
  }
  return a;
}

CelebaPartition read_celeba_partition(const fs::path& file) {
  std::ifstream in(file);
  require(static_cast<bool>(in), "cannot open " + file.string() + " (CelebA's list_eval_partition.txt)");
  CelebaPartition part;
  std::set<std::string> seen;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::istringstream ls(line);
    std::string name, rest;
    int split = -1;
    if (!(ls >> name >> split) || (ls >> rest) || split < 0 || split > 2)
      fail(file.string() + ":" + std::to_string(number) + ": expected 'NAME.jpg P' with P = 0 (train), 1 (validation) or 2 (test), got '" +
           line.substr(0, 80) + "'");
    require(name.find('/') == std::string::npos && name.find('\\') == std::string::npos && name != "." && name != "..",
            file.string() + ":" + std::to_string(number) + ": '" + name + "' is not a file name");
    require(seen.insert(name).second, file.string() + ":" + std::to_string(number) + ": " + name + " is listed twice");
    part.names.push_back(name);
    part.split.push_back(split);
  }
  require(!part.names.empty(), file.string() + ": no images listed");
  return part;
}

Geometry celeba_geometry(Index size) {
  require(size >= 8 && size <= 140, "the CelebA image size must be in [8, 140] (got " + std::to_string(size) + ")");
  Geometry g;
  g.expect_height = 218, g.expect_width = 178;
  g.crop_height = 140, g.crop_width = 140;
  g.height = size, g.width = size;
  return g;
}

Celeba load_celeba(const fs::path& root, Index size, DecodeOptions o) {
  o.geometry = celeba_geometry(size);
  const fs::path part_file = root / "list_eval_partition.txt", dir = root / "img_align_celeba", zip = root / "img_align_celeba.zip";
  std::error_code ec;
  require(fs::exists(part_file, ec), "no CelebA partition file " + part_file.string() +
                                         " (run scripts/fetch-celeba.sh " + root.string() + ", or pass --data-root)");
  const CelebaPartition part = read_celeba_partition(part_file);
  std::function<std::vector<std::uint8_t>(const std::string&)> read;
  std::function<std::string(const std::string&)> describe;
  std::vector<fs::path> sources{part_file};  // for the cache's fingerprint
  if (fs::is_directory(dir, ec)) {
    std::vector<fs::path> files = image_files(dir, false);
    sources.insert(sources.end(), files.begin(), files.end());
    std::set<std::string> present;
    for (const fs::path& f : files) present.insert(f.filename().string());
    for (const std::string& name : part.names)
      require(present.count(name), part_file.string() + " lists " + name + ", which is not in " + dir.string() +
                                       " (the partition file does not match the folder)");
    std::set<std::string> listed(part.names.begin(), part.names.end());
    for (const std::string& name : present)
      require(listed.count(name), (dir / name).string() + " is not in " + part_file.string() +
                                      " (the partition file does not match the folder)");
    read = [dir](const std::string& name) { return read_file(dir / name); };
    describe = [dir](const std::string& name) { return (dir / name).string(); };
  } else {
    require(fs::exists(zip, ec), "no CelebA images in " + root.string() + ": neither img_align_celeba/ nor img_align_celeba.zip");
    sources.push_back(zip);
    auto reader = std::make_shared<ZipReader>(zip);
    auto index = std::make_shared<std::unordered_map<std::string, zip_int64_t>>();
    for (const std::string& name : part.names) {
      zip_int64_t k = reader->find("img_align_celeba/" + name);
      if (k < 0) k = reader->find(name);
      require(k >= 0, part_file.string() + " lists " + name + ", which is not in " + zip.string() +
                          " (the partition file does not match the archive)");
      (*index)[name] = k;
    }
    read = [reader, index](const std::string& name) { return reader->read(index->at(name), name); };
    describe = [zip](const std::string& name) { return zip.string() + ":" + name; };
  }
  // Each split decoded on its own into its own array: no copy of the decoded set is made.
  Celeba out;
  const auto decode = [&] {
    data::ImageArray* target[3] = {&out.train, &out.validation, &out.test};
    const char* split_name[3] = {"training", "validation", "test"};
    const std::function<void(Index, Index)> progress = o.progress;
    Index before = 0;
    for (int s = 0; s < 3; ++s) {
      auto names = std::make_shared<std::vector<std::string>>();
      for (std::size_t i = 0; i < part.names.size(); ++i)
        if (part.split[i] == s) names->push_back(part.names[i]);
      require(!names->empty(), part_file.string() + ": no " + std::string(split_name[s]) + " images");
      EncodedSource src;
      src.count = static_cast<Index>(names->size());
      src.read = [names, read](Index i) { return read((*names)[static_cast<std::size_t>(i)]); };
      src.name = [names, describe](Index i) { return describe((*names)[static_cast<std::size_t>(i)]); };
      if (progress) o.progress = [&, before](Index done, Index) { progress(before + done, static_cast<Index>(part.names.size())); };
      DecodeReport r;
      *target[s] = decode_all(src, o, &r);
      out.report.skipped += r.skipped;
      for (const std::string& e : r.first_skipped)
        if (out.report.first_skipped.size() < 5) out.report.first_skipped.push_back(e);
      before += src.count;
    }
  };
  if (!o.cache) {
    decode();
    return out;
  }
  std::vector<std::string> none;
  cached(root, cache_name("celeba", o), cache_recipe("celeba", o), sources, {&out.train, &out.validation, &out.test}, none,
         out.report, decode);
  return out;
}

}  // namespace dpvae::images
