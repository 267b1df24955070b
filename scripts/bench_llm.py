"""Local LLM cost per segment, ``prefix_cache`` on vs off: translation, GEMBA-MQM, GEMBA-ESA; a real server.

    python scripts/bench_llm.py [--flores 100] [--judge-segments 12] [--threads 1] [--server-segments 8]
                                [--no-server] [-o results/bench/llm.json]
    python scripts/bench_llm.py --judges-only [--judge-segments 12]   # replaces the judges part only
    python scripts/bench_llm.py --exactness-sweep results/bench/llm_exactness.json

Gemma 3 270M Q4_K_M through the ``llama-cpp`` backend, two models loaded side by side (``prefix_cache``
on and off, otherwise the same options). Each segment is timed on both, alternating which goes first, so
both see the same load on a shared machine; per segment: wall and CPU seconds, llama.cpp's own split of its
compute time into prompt micro-batches and single-token (generation) decodes, prompt tokens, prompt tokens
evaluated (the prefix evaluation counts for the segment that needed it), and whether the outputs are
identical. Translation: the seed paragraphs and the first ``--flores`` FLORES sources (read in place from
``$MT_EVAL_FLORES`` or /work/shared/external/flores-ara-eng/source.ara). Judges: the backend's
``complete`` on the GEMBA-MQM and GEMBA-ESA conversations of the first ``--judge-segments`` FLORES sources
with a real MT system's outputs (the seed segments, references as translations, where FLORES is absent;
ESA step 2 gets step 1's answer), as ``gemba-mqm``/``gemba-esa`` ask them; ``after_the_first`` adds what no
prefix reuse can save (the tokens after the shared prefix, generation) and the speedup that leaves.

Server (unless ``--no-server``): llama-cpp-python's own OpenAI-compatible server on 127.0.0.1
(:mod:`mt_eval.testing.llama_server`), the ``openai`` backend with ``endpoint=completions`` at
``concurrency`` 1 and 4 on the first ``--server-segments`` FLORES sources (each twice, the best time kept),
and agreement with the ``llama-cpp`` backend (same ``max_tokens``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _bench import machine

from mt_eval.data.build import default_testset
from mt_eval.fsio import atomic_write_text
from mt_eval.judges.prompts import esa_score_messages, esa_span_messages, mqm_messages
from mt_eval.translators.registry import create_translator

FLORES = Path(os.environ.get("MT_EVAL_FLORES", "/work/shared/external/flores-ara-eng/source.ara"))
LANGS = {"source_lang": "ar", "target_lang": "en"}
STEPS = ("gemba-mqm", "gemba-esa step 1", "gemba-esa step 2")


def _pair(threads: int, **options: Any) -> dict[bool, Any]:
    """The same ``llama-cpp:default`` twice: prefix_cache on (True) and off (False), both loaded."""
    pair = {flag: create_translator("llama-cpp:default", {"n_threads": threads, "prefix_cache": flag,
                                                          **options}) for flag in (True, False)}
    for translator in pair.values():
        translator.load()
    return pair


def _timed(pair: dict[bool, Any], index: int, call: Callable[[Any], Any],
           prompt_tokens: Callable[[Any], int]) -> dict[str, Any]:
    """``call`` on both models (alternating which goes first): wall and CPU seconds, tokens evaluated, the
    answers, and llama.cpp's own split of its compute time (``llama_perf_context``): micro-batches of
    several tokens (the prompt) and single-token decodes (generation)."""
    import llama_cpp

    row: dict[str, Any] = {}
    answers = {}
    for flag in ((True, False) if index % 2 == 0 else (False, True)):
        translator = pair[flag]
        kv = translator.prefix_kv
        before = kv.evaluated
        llama_cpp.llama_perf_context_reset(kv.llm.ctx)
        started, cpu = time.perf_counter(), time.process_time()
        answers[flag] = call(translator)
        name = "on" if flag else "off"
        row[f"seconds_{name}"] = round(time.perf_counter() - started, 4)
        row[f"cpu_seconds_{name}"] = round(time.process_time() - cpu, 4)
        perf = llama_cpp.llama_perf_context(kv.llm.ctx)
        row[f"prompt_seconds_{name}"] = round(perf.t_p_eval_ms / 1000, 4)
        row[f"generation_seconds_{name}"] = round(perf.t_eval_ms / 1000, 4)
        row[f"generation_decodes_{name}"] = int(perf.n_eval)
        row[f"evaluated_{name}"] = kv.evaluated - before
    row["prompt_tokens"] = prompt_tokens(pair[False])
    row["identical"] = answers[True] == answers[False]
    row["answer"] = answers[True]
    return row


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float:
        return round(statistics.fmean(r[key] for r in rows), 4)

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 4)

    out: dict[str, Any] = {"segments": len(rows), "identical": sum(r["identical"] for r in rows)}
    timings = ("cpu_seconds", "prompt_seconds", "generation_seconds")
    keys = ["seconds_off", "seconds_on", "evaluated_off", "evaluated_on", "prompt_tokens", "shared_tokens",
            *(f"{key}_{name}" for key in timings for name in ("off", "on"))]
    for key in keys:
        if all(key in r for r in rows):
            out[f"mean_{key}"] = mean(key)
    out["median_seconds_off"], out["median_seconds_on"] = median("seconds_off"), median("seconds_on")
    out["speedup_mean"] = round(out["mean_seconds_off"] / out["mean_seconds_on"], 2)
    out["speedup_median"] = round(out["median_seconds_off"] / out["median_seconds_on"], 2)
    out["evaluated_ratio"] = round(out["mean_evaluated_off"] / max(out["mean_evaluated_on"], 1e-9), 2)
    if "mean_cpu_seconds_on" in out:
        out["speedup_cpu_mean"] = round(out["mean_cpu_seconds_off"] / out["mean_cpu_seconds_on"], 2)
    out["slower_segments"] = sum(r["seconds_on"] > r["seconds_off"] for r in rows)
    if len(rows) > 1:  # the first segment evaluates the prefix: after it, every segment reuses it
        steady = rows[1:]
        off = statistics.fmean(r["seconds_off"] for r in steady)
        on = statistics.fmean(r["seconds_on"] for r in steady)
        out["after_the_first"] = {
            "mean_seconds_off": round(off, 4), "mean_seconds_on": round(on, 4), "speedup": round(off / on, 2),
            "mean_evaluated_off": round(statistics.fmean(r["evaluated_off"] for r in steady), 1),
            "mean_evaluated_on": round(statistics.fmean(r["evaluated_on"] for r in steady), 1)}
        if all("prompt_seconds_on" in r and "shared_tokens" in r for r in steady):
            out["after_the_first"].update(_bound(steady))
    return out


def _bound(steady: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What no reuse of the fixed prefix can save, from the segments that reused it: the tokens after the
    shared prefix (the segment and whatever follows it) are evaluated in the one-piece evaluation's own last
    micro-batches, and the answer is generated token by token, with the cache on or off. ``speedup_limit``:
    the speedup if every shared token were reused (the evaluation of the tokens read beyond the
    unavoidable ones — alignment — scaled away)."""
    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in steady)

    unavoidable = mean("prompt_tokens") - mean("shared_tokens")
    prompt_on, generation_on = mean("prompt_seconds_on"), mean("generation_seconds_on")
    other_on = mean("seconds_on") - prompt_on - generation_on
    floor = prompt_on * unavoidable / max(mean("evaluated_on"), 1e-9) + generation_on + other_on
    return {"unavoidable_tokens": round(unavoidable, 1),
            "prompt_seconds_off": round(mean("prompt_seconds_off"), 4),
            "generation_seconds_off": round(mean("generation_seconds_off"), 4),
            "prompt_seconds_on": round(prompt_on, 4), "generation_seconds_on": round(generation_on, 4),
            "other_seconds_on": round(other_on, 4),
            "speedup_limit": round(mean("seconds_off") / floor, 2),
            "speedup_if_no_prompt_were_read": round(mean("seconds_off") / (generation_on + other_on), 2),
            "mean_cpu_seconds_off": round(mean("cpu_seconds_off"), 4),
            "mean_cpu_seconds_on": round(mean("cpu_seconds_on"), 4),
            "speedup_cpu": round(mean("cpu_seconds_off") / mean("cpu_seconds_on"), 2)}


def translation(sources: Sequence[str], threads: int) -> dict[str, Any]:
    pair = _pair(threads)
    try:
        rows = []
        for i, source in enumerate(sources):
            row = _timed(pair, i, lambda t, s=source: t.translate([s])[0],
                         lambda t, s=source: len(t.prefix_kv.prompt_tokens(t.prompt(s))))
            rows.append(row)
        return {"summary": _summary(rows), "segments": rows,
                "prefix_evaluations": pair[True].prefix_kv.prefix_evaluations}
    finally:
        for translator in pair.values():
            translator.close()


def judge_pairs(count: int) -> tuple[str, list[tuple[str, str]]]:
    """(source, translation) pairs to judge: the first FLORES sources with a real MT system's output, read in
    place (``systems/opus-mt-tc-big-ar-en.eng`` beside ``$MT_EVAL_FLORES``); else the seed segments with
    their references as translations."""
    system = FLORES.parent / "systems" / "opus-mt-tc-big-ar-en.eng"
    if FLORES.is_file() and system.is_file():
        sources = FLORES.read_text(encoding="utf-8").splitlines()[:count]
        hypotheses = system.read_text(encoding="utf-8").splitlines()[:count]
        return "FLORES-200 devtest sources, opus-mt-tc-big-ar-en outputs", list(zip(sources, hypotheses,
                                                                                     strict=True))
    testset = default_testset()
    pairs = [(testset.sources[i], testset.references[i][0]) for i in range(min(count, len(testset.sources)))]
    return "seed segments, references as translations", pairs


def judges(pairs: Sequence[tuple[str, str]], threads: int) -> dict[str, Any]:
    from mt_eval.translators.llama_cpp import conversation_prompt
    from mt_eval.translators.llama_prefix import common_length

    pair = _pair(threads)

    def measure(n: int, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
        def tokens(t: Any) -> int:
            return len(t.prefix_kv.prompt_tokens(conversation_prompt(messages)[0]))

        row = _timed(pair, n, lambda t: t.complete([messages], max_tokens=max_tokens)[0].text, tokens)
        kv = pair[True].prefix_kv
        text, fixed = conversation_prompt(messages)
        return {"segment": n, **row, "shared_tokens": common_length(kv.prompt_tokens(text),
                                                                    kv.prompt_tokens(fixed))}

    out: dict[str, Any] = {}
    try:
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in STEPS}
        for n, (source, hypothesis) in enumerate(pairs):
            rows["gemba-mqm"].append(measure(n, mqm_messages(source, hypothesis, **LANGS), 512))
        for n, (source, hypothesis) in enumerate(pairs):  # as gemba-esa asks: every step 1, then every step 2
            rows["gemba-esa step 1"].append(measure(n, esa_span_messages(source, hypothesis, **LANGS), 512))
        for n, ((source, hypothesis), step1) in enumerate(zip(pairs, rows["gemba-esa step 1"], strict=True)):
            score = esa_score_messages(source, hypothesis, step1["answer"], **LANGS)
            rows["gemba-esa step 2"].append(measure(n, score, 32))
        for name, found in rows.items():
            out[name] = {"summary": _summary(found), "segments": found}
        sums = ("seconds_on", "seconds_off", "evaluated_on", "evaluated_off", "prompt_tokens")
        both = [{**{key: a[key] + b[key] for key in sums}, "identical": a["identical"] and b["identical"]}
                for a, b in zip(rows["gemba-esa step 1"], rows["gemba-esa step 2"], strict=True)]
        out["gemba-esa (both steps)"] = {"summary": _summary(both)}
        return out
    finally:
        for translator in pair.values():
            translator.close()


def mechanisms(threads: int) -> dict[str, Any]:
    """First-token logits of a few prompts after a reused prefix, against one-piece evaluation: the
    backend's rules, plain truncation (as llama-cpp-python reuses a prefix), and save_state/load_state."""
    import numpy as np

    from mt_eval.translators.llama_cpp import conversation_prompt
    from mt_eval.translators.llama_prefix import ALIGN, common_length

    seed = default_testset().sources
    translator = create_translator("llama-cpp:default", {"n_threads": threads})
    try:
        kv = translator.prefix_kv
        llm = kv.llm
        prompts = {
            "translation, 150 tokens": (translator.prompt(seed[1].split("،")[0]), translator.prompt("")),
            "translation, 587 tokens": (translator.prompt(" ".join(seed[:6])), translator.prompt("")),
            "gemba-mqm": conversation_prompt(mqm_messages(seed[1].split("،")[2], "A soldier of the Ukrainian"
                                                          " forces.", **LANGS)),
            "gemba-esa step 1": conversation_prompt(esa_span_messages(seed[0], seed[0], **LANGS)),
        }
        tokens = {name: (kv.prompt_tokens(p), kv.prompt_tokens(f)) for name, (p, f) in prompts.items()}

        def logits() -> Any:
            import llama_cpp

            pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()

        def one_piece(t: list[int]) -> Any:
            llm.reset()
            llm.eval(t)
            return logits()

        def truncated(t: list[int], length: int) -> Any:
            llm.reset()
            llm.eval(t[:length])
            llm._ctx.kv_cache_seq_rm(-1, length, -1)
            llm.n_tokens = length
            llm.eval(t[length:])
            return logits()

        out: dict[str, Any] = {}
        for name, (t, f) in tokens.items():
            shared = common_length(t, f)
            reference = one_piece(t)
            row: dict[str, Any] = {"prompt_tokens": len(t), "shared_prefix_tokens": shared}
            kv.invalidate()
            kv.first_logits_tokens(t, f)  # the prefix evaluated, as after an earlier segment
            row["backend_reuse"] = len(kv.tokens)
            row["backend (prefix_cache)"] = float(np.abs(kv.first_logits_tokens(t, f) - reference).max())
            row["truncation at the shared length"] = float(np.abs(truncated(t, shared) - reference).max())
            aligned = shared // ALIGN * ALIGN
            row["truncation at a multiple of 32, rest in one piece"] = float(
                np.abs(truncated(t, aligned) - reference).max())
            llm.reset()
            llm.eval(t[:aligned])
            started = time.perf_counter()
            state = llm.save_state()
            saved = time.perf_counter() - started
            started = time.perf_counter()
            llm.load_state(state)
            loaded = time.perf_counter() - started
            llm.eval(t[aligned:])
            row["save_state/load_state"] = float(np.abs(logits() - reference).max())
            row["state_bytes"] = len(state.llama_state) + state.scores.nbytes
            row["save_load_seconds"] = round(saved + loaded, 3)
            kv.invalidate()
            out[name] = row
        return {"max_abs_logit_difference": out}
    finally:
        translator.close()


def sweep(configs: Sequence[tuple[bool, int]]) -> dict[str, Any]:
    """First-token logits with ``prefix_cache`` against one-piece evaluation on 22 prompts — translation
    prompts of 110–587 tokens, GEMBA prompts cut at lengths around the 512-token micro-batch boundaries — in
    two random orders, per (extra buffers, threads) configuration."""
    import random

    import numpy as np

    from mt_eval.translators.llama_cpp import conversation_prompt

    seed = default_testset().sources
    flores = FLORES.read_text(encoding="utf-8").splitlines()
    out: dict[str, Any] = {}
    for extra_buffers, threads in configs:
        pair = _pair(threads, extra_buffers=extra_buffers)
        try:
            on, off = pair[True].prefix_kv, pair[False].prefix_kv
            translator = pair[True]
            fixed = on.prompt_tokens(translator.prompt(""))
            cases = [(on.prompt_tokens(translator.prompt(s)), fixed)
                     for s in [*flores[:6], " ".join(seed[:6]), "كلمة", "نعم شكرا"]]
            mqm = [on.prompt_tokens(p) for p in conversation_prompt(
                mqm_messages(seed[2], "A soldier of the Ukrainian forces.", **LANGS))]
            esa = [on.prompt_tokens(p) for p in conversation_prompt(
                esa_span_messages(" ".join(seed[:3]), "The official said.", **LANGS))]
            cuts = (820, 833, 840, 900, 1000, 1023, 1024, 1025, 1026, 1030, 1040)
            cases += [(mqm[0][:n], mqm[1]) for n in cuts if n <= len(mqm[0])]
            cases += [(esa[0][:n], esa[1]) for n in (1100, 1168) if n <= len(esa[0])]
            expected = [off.first_logits_tokens(t, f) for t, f in cases]
            rng = random.Random(0)
            worst = 0.0
            for _ in range(2):
                order = list(range(len(cases)))
                rng.shuffle(order)
                for i in order:
                    got = on.first_logits_tokens(*cases[i])
                    worst = max(worst, float(np.abs(got - expected[i]).max()))
            out[f"extra_buffers={extra_buffers}, n_threads={threads}"] = {
                "prompts": len(cases), "prompt_tokens": sorted(len(t) for t, _ in cases),
                "comparisons": 2 * len(cases), "max_abs_logit_difference": worst,
                "reused_tokens": on.reused, "prefix_evaluations": on.prefix_evaluations}
        finally:
            for translator in pair.values():
                translator.close()
    return out


def server(sources: Sequence[str], threads: int) -> dict[str, Any]:
    from mt_eval.testing.llama_server import serve
    from mt_eval.translators.llama_cpp import default_gguf

    gguf, _ = default_gguf()
    fixed = {"max_tokens": 40}
    local = create_translator("llama-cpp:default", {"n_threads": threads, **fixed})
    try:
        started = time.perf_counter()
        reference = local.translate(sources)
        local_seconds = time.perf_counter() - started
    finally:
        local.close()
    out: dict[str, Any] = {"segments": len(sources), "max_tokens": fixed["max_tokens"],
                           "llama_cpp_backend_seconds": round(local_seconds, 2)}
    with tempfile.TemporaryDirectory() as tmp, \
            serve(gguf, Path(tmp) / "server.log", n_threads=threads) as srv:
        outputs = {}
        for concurrency in (1, 4, 1, 4):
            remote = create_translator(srv.spec(concurrency=concurrency, **fixed))
            try:
                started = time.perf_counter()
                outputs[concurrency] = remote.translate(sources)
                seconds = time.perf_counter() - started
            finally:
                remote.close()
            out.setdefault(f"concurrency_{concurrency}_seconds", []).append(round(seconds, 2))
        for concurrency in (1, 4):
            best = min(out[f"concurrency_{concurrency}_seconds"])
            out[f"concurrency_{concurrency}_segments_per_s"] = round(len(sources) / best, 3)
            out[f"concurrency_{concurrency}_agreement_with_llama_cpp"] = round(
                sum(a == b for a, b in zip(outputs[concurrency], reference, strict=True)) / len(sources), 3)
        out["concurrency_1_vs_4_identical"] = sum(a == b for a, b in zip(outputs[1], outputs[4], strict=True))
    return out


def judge_report(count: int, threads: int) -> dict[str, Any]:
    """The ``judges`` part of the report, with what was judged and the load around it."""
    what, pairs = judge_pairs(count)
    before = os.getloadavg()
    found = judges(pairs, threads)
    return {"judges": {"segments": what, "threads": threads, "load_average_before": before, **found},
            "load_average_after_judges": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flores", type=int, default=100, help="short FLORES sources to translate")
    parser.add_argument("--judge-segments", type=int, default=12, help="segments to judge")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--server-segments", type=int, default=8, help="FLORES sources sent to the server")
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("-o", "--output", type=Path, default=Path("results/bench/llm.json"))
    parser.add_argument("--server-only", action="store_true",
                        help="measure the server again and replace that part of the output file")
    parser.add_argument("--judges-only", action="store_true",
                        help="measure the judges again and replace that part of the output file")
    parser.add_argument("--exactness-sweep", type=Path, metavar="JSON",
                        help="only compare logits on 22 prompts per configuration and write them here")
    args = parser.parse_args()
    if args.exactness_sweep:
        from mt_eval.translators.llama_cpp import default_gguf, extra_buffers_default

        configs = [(False, 1), (False, 2)]
        if extra_buffers_default(default_gguf()[0]):
            configs = [(True, 1), (True, 2), *configs]
        report = {"machine": {**machine(), "cpus": os.cpu_count()}, "sweep": sweep(configs)}
        atomic_write_text(args.exactness_sweep, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        return
    seed = default_testset().sources
    flores = FLORES.read_text(encoding="utf-8").splitlines()[:args.flores]
    if args.server_only or args.judges_only:
        report = json.loads(args.output.read_text(encoding="utf-8"))
        if args.server_only:
            report["server"] = server(flores[:args.server_segments], args.threads)
        else:
            report.update(judge_report(args.judge_segments, args.threads))
        atomic_write_text(args.output, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        return
    report: dict[str, Any] = {"machine": {**machine(), "cpus": os.cpu_count()}, "threads": args.threads,
                              "load_average_before": os.getloadavg()}
    started = time.perf_counter()
    report["translation"] = {"seed paragraphs": translation(seed, args.threads),
                             f"flores first {len(flores)}": translation(flores, args.threads)}
    report["load_average_after_translation"] = os.getloadavg()
    report["exactness"] = mechanisms(args.threads)
    report.update(judge_report(args.judge_segments, args.threads))
    if not args.no_server:
        report["server"] = server(flores[:args.server_segments], args.threads)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    report["load_average_after"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, json.dumps(report, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
