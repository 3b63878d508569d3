#!/usr/bin/env bash
# benchmarks/run_images.sh — dpvae::images against PIL on CelebA-like JPEGs, and the peak
# memory of loading a folder; writes benchmarks/results/images.json (summarize.py renders it
# in summary.md). Run by benchmarks/run.sh, or alone:
#
#   benchmarks/run_images.sh [--quick] [--rate-images N] [--memory-images N] [--rounds R] [--out FILE]
#
# (1) `bench_images --write-jpegs` writes the memory folder's N JPEGs (default 20000; 178 ×
# 218, stb_image_write quality 95) into a temporary folder; the rate folder holds hard links
# to its first N (default 3000), so that both sides decode the same files. (1b) With PIL:
# 500 more JPEGs at quality 95 (4:4:4) and 500 at 90 (4:2:0), decoded by both and compared
# byte for byte (bench_images --dump, pil_decode.py --compare). (2) In R
# alternating rounds (default 3; the machine is shared, so both sides see the same load):
# bench_images times load_image_folder with celeba_geometry(64) and decode only, at 1 thread,
# 2 threads and all cores; pil_decode.py times PIL's loop at 1 and 2 (Pool(2)) workers, both
# modes; the figures are the medians over the rounds. (3) bench_load_memory loads the memory
# folder three times, each in a fresh process: without the cache, with DecodeOptions::cache
# (the cache is written), and again (it is read). --quick: 1000 / 5000 files, 1 round.
# Environment: DPVAE_BENCH_BUILD (build folder, default build-bench), PIL_PYTHON (an
# interpreter with PIL and NumPy; default: python3 if it has them, else /usr/bin/python3;
# without one the PIL side is left out), TMPDIR (where the JPEGs go).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DPVAE_BENCH_BUILD:-$root/build-bench}
out=$root/benchmarks/results/images.json
rate_n=3000; mem_n=20000; rounds=3
while [ $# -gt 0 ]; do
  case $1 in
    --quick) rate_n=1000; mem_n=5000; rounds=1 ;;
    --rate-images) rate_n=$2; shift ;;
    --memory-images) mem_n=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--quick] [--rate-images N] [--memory-images N] [--rounds R] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
[ "$rate_n" -le "$mem_n" ] || mem_n=$rate_n

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDPVAE_BUILD_TESTS=OFF \
    -DDPVAE_BUILD_TOOLS=OFF -DDPVAE_BUILD_EXAMPLES=OFF -DDPVAE_BUILD_BENCHMARKS=ON >/dev/null
fi
if ! cmake --build "$build" --target help | grep -q bench_load_memory; then
  echo "run_images.sh: no bench_images target in $build (dpvae::images or Google Benchmark not configured); skipped" >&2
  exit 0
fi
cmake --build "$build" --target bench_images bench_load_memory -j2
bi=$build/benchmarks/bench_images
bm=$build/benchmarks/bench_load_memory

py=${PIL_PYTHON:-}
if [ -z "$py" ]; then
  for c in python3 /usr/bin/python3; do
    if "$c" -c 'import PIL, numpy' 2>/dev/null; then py=$c; break; fi
  done
fi
[ -n "$py" ] || echo "run_images.sh: no python3 with PIL and NumPy (apt-get install python3-pil python3-numpy); dpvae alone" >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/dpvae-images-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== images: writing $mem_n CelebA-like JPEGs ($work)"
"$bi" --write-jpegs "$work/mem" "$mem_n" > "$work/jpegs.json"
mkdir "$work/rate"
i=0
for p in "$work"/mem/*.jpg; do  # 000001.jpg …: in order
  [ $i -lt "$rate_n" ] || break
  ln "$p" "$work/rate/" 2>/dev/null || cp "$p" "$work/rate/"
  i=$((i + 1))
done

# The same pixels as PIL? 500 JPEGs at quality 95 (4:4:4) and 500 at quality 90 (4:2:0, as
# CelebA's files), decoded by dpvae (bench_images --dump) and by PIL (pil_decode.py --compare).
if [ -n "$py" ]; then
  for q in 95 90; do
    echo "== images: dpvae's pixels against PIL's, quality $q"
    "$bi" --write-jpegs "$work/q$q" 500 $q > /dev/null
    "$bi" --dump "$work/q$q" "$work/q$q.raw" > /dev/null
    "$py" "$root/benchmarks/pil_decode.py" "$work/q$q" --compare "$work/q$q.raw" --out "$work/compare_q$q.json"
    rm -f "$work/q$q.raw"
  done
fi

for r in $(seq 1 "$rounds"); do
  echo "== images: decoding rate, round $r of $rounds: dpvae ($rate_n files)"
  "$bi" --dir="$work/rate" --benchmark_min_time=0.5 --benchmark_out="$work/dpvae_$r.json" --benchmark_out_format=json
  if [ -n "$py" ]; then
    for mode in celeba64 decode_only; do
      flag=; [ $mode = decode_only ] && flag=--decode-only
      for t in 1 2; do
        echo "== images: decoding rate, round $r of $rounds: PIL, $mode, $t worker(s)"
        "$py" "$root/benchmarks/pil_decode.py" "$work/rate" --threads $t $flag --repeat 1 --out "$work/pil_${mode}_${t}_$r.json"
      done
    done
  fi
done

echo "== images: loading peak memory ($mem_n files), each in a fresh process"
rm -rf "$work/mem/.dpvae-cache"
env -u DPVAE_IMAGE_CACHE "$bm" "$work/mem" > "$work/mem_decode.json"
env -u DPVAE_IMAGE_CACHE "$bm" "$work/mem" --cache --expect-cache written > "$work/mem_cache_write.json"
env -u DPVAE_IMAGE_CACHE "$bm" "$work/mem" --cache --expect-cache read > "$work/mem_cache_read.json"
cat "$work/mem_decode.json" "$work/mem_cache_write.json" "$work/mem_cache_read.json"

mkdir -p "$(dirname "$out")"
python3 - "$work" "$out" "$rounds" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" \
  "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" <<'PY'
import datetime, glob, json, os, re, statistics, sys
work, out, rounds, load_start, load_end, cores, cpu = sys.argv[1:8]
rounds, cores = int(rounds), int(cores)
dp = {}  # (mode, threads) -> images/s per round
for r in range(1, rounds + 1):
    for b in json.load(open(os.path.join(work, f"dpvae_{r}.json")))["benchmarks"]:
        m = re.fullmatch(r"images/folder/(\w+)/threads:(\d+)(/real_time)?", b["name"])
        if m and b.get("run_type", "iteration") == "iteration":
            dp.setdefault((m.group(1), int(m.group(2))), []).append(b["images_per_s"])
pil, pil_info = {}, {}
pixels = []
for q, chroma in ((95, "4:4:4"), (90, "4:2:0")):
    p = os.path.join(work, f"compare_q{q}.json")
    if os.path.exists(p):
        c = json.load(open(p))
        c.update(quality=q, chroma=chroma)
        pixels.append(c)
for p in sorted(glob.glob(os.path.join(work, "pil_*.json"))):
    j = json.load(open(p))
    pil.setdefault((j["mode"], j["threads"]), []).append(j["images_per_s"])
    pil_info = {"pil": j["pil"], "numpy": j["numpy"], "python": j["python"]}
    pil_info[f"parallelism_{j['threads']}"] = j["parallelism"]
rate = []
for (mode, t), v in sorted(dp.items(), key=lambda kv: (kv[0][0] != "celeba64", kv[0][1])):
    row = {"mode": mode, "threads": t, "dpvae_images_per_s": statistics.median(v), "dpvae_rounds": v}
    if (mode, t) in pil:
        pv = pil[(mode, t)]
        row.update(pil_images_per_s=statistics.median(pv), pil_rounds=pv, ratio=row["dpvae_images_per_s"] / statistics.median(pv))
    rate.append(row)
jpegs = json.load(open(os.path.join(work, "jpegs.json")))
mem_files = jpegs["files"]
memory = []
for run in ("decode", "cache_write", "cache_read"):
    m = json.load(open(os.path.join(work, f"mem_{run}.json")))
    m["run"] = run
    memory.append(m)
res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
       "cores": cores, "cpu": cpu, "load_start": load_start, "load_end": load_end, "rounds": rounds,
       "jpegs": {"width": 178, "height": 218, "quality": 95, "chroma": "4:4:4 (stb_image_write at quality > 90)",
                 "mean_bytes": jpegs["mean_bytes"], "content": "synthetic CelebA-like faces (bench_images celeba_like)"},
       "rate_files": len([f for f in os.listdir(os.path.join(work, "rate")) if f.endswith(".jpg")]),
       "rate": rate, "pil": pil_info, "pixels_against_pil": pixels, "memory_files": mem_files, "memory": memory}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(res, f, indent=1)
os.replace(tmp, out)
print(f"run_images.sh: wrote {out}")
for row in rate:
    print(f"  {row['mode']:12s} threads {row['threads']:2d}: dpvae {row['dpvae_images_per_s']:8.0f} img/s"
          + (f", PIL {row['pil_images_per_s']:8.0f} img/s, ratio {row['ratio']:.2f}" if "ratio" in row else ""))
for c in pixels:
    print(f"  pixels against PIL, quality {c['quality']} ({c['chroma']}): {c['bytes_differing']} of {c['bytes']} bytes differ "
          f"(in {c['images_differing']} of {c['files']} images), max |difference| {c['max_abs_diff']}")
for m in memory:
    print(f"  memory {m['run']:12s}: peak {m['peak_rss_bytes'] / 2**20:7.1f} MiB, array {m['array_bytes'] / 2**20:7.1f} MiB, "
          f"(peak - baseline) / array {m['extra_over_array']:.3f}, {m['wall_s']:.2f} s")
PY
