"""Hostile-input battery for the surfaces added after ``test_hostile_inputs.py``: ``merge``/``--shard``,
``list``, judge metric specs, ``comet:model=``, several OpenAI base URLs, ``humeval export/import``,
``meta``, ``baseline save --all-metrics/--policy`` and the settings keys of a run config.

Same table and checks as the first battery: each case is (id, preparation, arguments, expected exit
code, fragment of the error line); afterwards exactly one ``mt-eval: error:`` line naming the problem,
no traceback, no temporary or half-written file, the listed outputs absent, and no secret on the
console. A FIFO reader blocked for ``HANG_SECONDS`` is unblocked by a watchdog and the case fails; the
fake judge servers answer on 127.0.0.1 only and a hanging one sleeps a bounded time, with the request
timeout of the spec far shorter, so no case can freeze the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hostile_guard import run_guarded, scored_workspace, setup_cli, temporaries

SECRET = "sk-hostile-SECRET-4711"  # an API key / password that must never reach the console
P1_STATS = "p1/stats/good/bleu.npy"
P1_DETAILS = "p1/stats/good/bleu.details.json"
LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
               b"size 2280000000\n")


# ------------------------------------------------------------------------------------ workspace
@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: test set, hypotheses, a scored run, its two shard parts, a run with human scores."""
    root = tmp_path_factory.mktemp("pristine_new")
    score = scored_workspace(root)
    setup_cli(*score, "--shard", "0/2", "-o", root / "p0")
    setup_cli(*score, "--shard", "1/2", "-o", root / "p1")
    setup_cli("humeval", "export", root / "run", "-o", root / "batch")
    key = json.loads((root / "batch" / "key.json").read_text(encoding="utf-8"))
    rows = [{"item_id": item, "score": 80.0 if info["system"] == "good" else 30.0 + info["segment_index"]}
            for item, info in key["items"].items()]
    (root / "ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    shutil.copytree(root / "run", root / "runh")
    setup_cli("humeval", "import", root / "runh", root / "ann.jsonl", "--key", root / "batch" / "key.json")
    return root


class _Judge:
    """A fake OpenAI-compatible judge on 127.0.0.1 that misbehaves: ``redirect``, ``500``, ``hang``,
    ``garbage`` (a 200 that is not JSON). ``seen`` records the Authorization headers it received."""

    def __init__(self, mode: str, redirect_to: str = "") -> None:
        self.mode, self.redirect_to, self.seen = mode, redirect_to, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                owner.seen.append(self.headers.get("Authorization", ""))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if owner.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", owner.redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if owner.mode == "hang" and self.command == "POST":
                    time.sleep(8)  # bounded: the spec's timeout is far shorter
                if owner.mode == "garbage" and self.command == "POST":
                    body, status = b"<html>proxy error</html>", 200
                elif owner.mode == "500" and self.command == "POST":
                    body, status = json.dumps({"error": {"message": "model crashed"}}).encode(), 500
                elif self.path.rstrip("/").endswith("/models"):
                    body, status = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}
                                              ).encode(), 200
                else:
                    missing = {"error": {"message": f"no such path {self.path}"}}
                    body, status = json.dumps(missing).encode(), 404
                self.send_response(status)
                kind = "text/html" if owner.mode == "garbage" else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # a client that timed out has gone
                    self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def judges() -> Any:
    other = _Judge("ok")  # another origin (another port): the redirect target
    servers = {"jother": other, "jredirect": _Judge("redirect", redirect_to=other.url.rsplit("/v1", 1)[0]),
               "j500": _Judge("500"), "jhang": _Judge("hang"), "jgarbage": _Judge("garbage")}
    yield servers
    for server in servers.values():
        server.close()


@dataclass
class Ctx:
    root: Path
    mp: pytest.MonkeyPatch


@pytest.fixture
def ws(pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ctx:
    """A fresh copy of the workspace, plus files every case may point at."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "")
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("MTE_HOSTILE_KEY", SECRET)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "ws"
    shutil.copytree(pristine, root)
    os.mkfifo(root / "fifo")
    (root / "cwd").mkdir()
    monkeypatch.chdir(root / "cwd")
    (root / "folder").mkdir()
    (root / "folder" / "keep.txt").write_text("not a run\n", encoding="utf-8")
    (root / "empty").mkdir()
    (root / "afile").write_text("a regular file\n", encoding="utf-8")
    return Ctx(root, monkeypatch)


# -------------------------------------------------------------------------------- preparations
Prep = Callable[[Ctx], None]


def nothing(_: Ctx) -> None:
    return None


def fifo(rel: str) -> Prep:
    def prep(ctx: Ctx) -> None:
        path = ctx.root / rel
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    return prep


def write(rel: str, data: bytes | str) -> Prep:
    def prep(ctx: Ctx) -> None:
        (ctx.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx.root / rel).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return prep


def truncate(rel: str, keep: int | Callable[[int], int]) -> Prep:
    def prep(ctx: Ctx) -> None:
        data = (ctx.root / rel).read_bytes()
        (ctx.root / rel).write_bytes(data[:keep(len(data)) if callable(keep) else keep])
    return prep


def edit_json(rel: str, change: Callable[[dict], None]) -> Prep:
    def prep(ctx: Ctx) -> None:
        path = ctx.root / rel
        obj = json.loads(path.read_text(encoding="utf-8"))
        change(obj)
        path.write_text(json.dumps(obj), encoding="utf-8")
    return prep


def symlink(rel: str, target: str) -> Prep:
    def prep(ctx: Ctx) -> None:
        (ctx.root / rel).symlink_to(ctx.root / target)
    return prep


def both(*preps: Prep) -> Prep:
    def prep(ctx: Ctx) -> None:
        for p in preps:
            p(ctx)
    return prep


def npy_copy(rel: str, make: Callable[[np.ndarray], np.ndarray]) -> Prep:
    def prep(ctx: Ctx) -> None:
        arr = np.load(ctx.root / rel, allow_pickle=False)
        np.save(ctx.root / rel, make(arr), allow_pickle=False)
    return prep


def comet_folder(ckpt: bytes | str | None, hparams: str | None = "default") -> Prep:
    """``cm/``: ``checkpoints/model.ckpt`` (bytes, ``None`` = absent, ``"fifo"``) and ``hparams.yaml``."""
    def prep(ctx: Ctx) -> None:
        folder = ctx.root / "cm"
        (folder / "checkpoints").mkdir(parents=True)
        (ctx.root / "enc").mkdir()
        if ckpt == "fifo":
            os.mkfifo(folder / "checkpoints" / "model.ckpt")
        elif isinstance(ckpt, bytes):
            (folder / "checkpoints" / "model.ckpt").write_bytes(ckpt)
        if hparams == "default":
            (folder / "hparams.yaml").write_text(
                f"class_identifier: regression_metric\npretrained_model: {ctx.root / 'enc'}\n",
                    encoding="utf-8")
        elif hparams == "fifo":
            os.mkfifo(folder / "hparams.yaml")
        elif hparams is not None:
            (folder / "hparams.yaml").write_text(hparams, encoding="utf-8")
    return prep


def plugin(kind: str, body: str) -> Prep:
    """A third-party plugin module ``mte_hostile_plugin`` registered as metric/backend ``broken``."""
    def prep(ctx: Ctx) -> None:
        (ctx.root / "plug").mkdir()
        (ctx.root / "plug" / "mte_hostile_plugin.py").write_text(body, encoding="utf-8")
        ctx.mp.syspath_prepend(str(ctx.root / "plug"))
        ctx.mp.delitem(sys.modules, "mte_hostile_plugin", raising=False)
        if kind == "metric":
            from mt_eval.metrics import registry

            ctx.mp.setitem(registry.METRICS.registered, "broken", "mte_hostile_plugin:Broken")
        else:
            from mt_eval.translators import registry as backends

            ctx.mp.setitem(backends.BACKENDS.registered, "broken", "mte_hostile_plugin:Broken")
    return prep


def chattr_immutable(rel: str) -> Prep:
    """An unwritable output folder (root ignores permission bits; an immutable folder stops it too)."""
    def prep(ctx: Ctx) -> None:
        path = ctx.root / rel
        path.mkdir()
        if os.system(f"chattr +i '{path}' 2>/dev/null") != 0:
            path.chmod(0o555)
            if os.access(path, os.W_OK):
                pytest.skip("cannot make a folder unwritable here (root without chattr)")
    return prep


def _drop(field_name: str) -> Callable[[dict], None]:
    def change(obj: dict) -> None:
        del obj[field_name]
    return change


def _set_shard(key: str, value: Any) -> Callable[[dict], None]:
    def change(obj: dict) -> None:
        obj["config"]["shard"][key] = value
    return change


# ------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    id: str
    prep: Prep
    args: tuple[str, ...]
    fragment: str
    code: int = 2
    absent: tuple[str, ...] = ()  # paths (relative to the workspace) that must not exist afterwards
    after: Callable[[Path], None] | None = None  # an extra check of the workspace
    marks: tuple[Any, ...] = field(default=())


def case(id: str, prep: Prep, args: str | list[str], fragment: str, *, code: int = 2, absent: str = "",
         after: Callable[[Path], None] | None = None, slow: bool = False) -> Any:
    argv = tuple(args.split()) if isinstance(args, str) else tuple(args)
    c = Case(id, prep, argv, fragment, code, tuple(absent.split()), after)
    return pytest.param(c, id=id, marks=(pytest.mark.slow,) if slow else ())


SCORE = "score --testset {ws}/ts --hyp {ws}/good.txt --hyp {ws}/weak.txt --resamples 20"
MERGE = "merge {ws}/p0 {ws}/p1"
CFG = "run -s file:{ws}/good.txt --testset {ws}/ts -m bleu --resamples 20 {ws}/c.toml -o {ws}/out"
EXPORT = "humeval export {ws}/run"
IMPORT = "humeval import {ws}/run {ws}/ann.jsonl --key {ws}/batch/key.json"
JUDGE = "openai:{%s}?model=m&timeout=1&max_retries=0&api_key_env=MTE_HOSTILE_KEY"


def judge_score(metric: str, server: str) -> list[str]:
    spec = f"{metric}:cache=false,judge=" + JUDGE % server
    return ["score", "--testset", "{ws}/ts", "--hyp", "{ws}/good.txt", "-m", spec, "--resamples", "20",
            "-o", "{ws}/out"]


def score_m(metric: str) -> list[str]:
    return [*SCORE.split(), "-m", metric, "-o", "{ws}/out"]


def translate_s(system: str) -> list[str]:
    return ["translate", "-t", "{ws}/ts", "-s", system, "-o", "{ws}/out", "--no-cache"]


def _link_kept(root: Path) -> None:
    assert (root / "link").is_symlink(), "the -o symlink was replaced"
    assert (root / "empty" / "results.json").is_file(), "the merge did not write through the link"


def _parts_untouched(root: Path) -> None:
    for part in ("p0", "p1"):
        assert json.loads((root / part / "results.json").read_text(encoding="utf-8"))["config"].get("shard")


def _no_key_sent_elsewhere(_: Path) -> None:
    other = _JUDGES["jother"]
    assert all(SECRET not in header for header in other.seen), "the API key went to another origin"


_JUDGES: dict[str, Any] = {}

CASES: list[Any] = [
    # --------------------------------------------------------------- merge: the parts
    case("merge/part-missing", nothing, "merge {ws}/nope {ws}/p1 -o {ws}/out", "nope: not found",
         absent="out"),
    case("merge/part-not-run-folder", nothing, "merge {ws}/folder {ws}/p1 -o {ws}/out", "not a run folder",
         absent="out"),
    case("merge/part-is-file", nothing, "merge {ws}/afile {ws}/p1 -o {ws}/out", "afile", absent="out"),
    case("merge/part-fifo", nothing, "merge {ws}/fifo {ws}/p1 -o {ws}/out", "FIFO", absent="out"),
    case("merge/same-part-twice", nothing, "merge {ws}/p0 {ws}/p0 -o {ws}/out", "given twice", absent="out"),
    case("merge/same-part-via-symlink", symlink("p0link", "p0"), "merge {ws}/p0 {ws}/p0link -o {ws}/out",
         "given twice", absent="out"),
    case("merge/unsharded-run", nothing, "merge {ws}/run {ws}/p1 -o {ws}/out", "not a partial run folder",
         absent="out"),
    case("merge/one-part-missing", nothing, "merge {ws}/p0 -o {ws}/out", "shard 1/2 missing", absent="out"),
    case("merge/no-parts", nothing, "merge -o {ws}/out", "Missing argument", absent="out"),
    case("merge/npy-zero-bytes", write(P1_STATS, b""), MERGE + " -o {ws}/out", "bleu.npy: empty statistics",
         absent="out"),
    case("merge/npy-truncated", truncate(P1_STATS, lambda n: n - 9), MERGE + " -o {ws}/out",
         "bleu.npy: unreadable statistics", absent="out"),
    case("merge/npy-fifo", fifo(P1_STATS), MERGE + " -o {ws}/out", "FIFO", absent="out"),
    case("merge/npy-wrong-width", npy_copy(P1_STATS, lambda a: a[:, :3]), MERGE + " -o {ws}/out", "bleu",
         absent="out"),
    case("merge/details-zero-bytes", write(P1_DETAILS, b""), MERGE + " -o {ws}/out",
         "p1/stats/good/bleu.details.json",
         absent="out"),
    case("merge/details-truncated", write(P1_DETAILS, '{"segm'), MERGE + " -o {ws}/out",
         "p1/stats/good/bleu.details.json", absent="out"),
    case("merge/details-fifo", fifo(P1_DETAILS), MERGE + " -o {ws}/out", "FIFO", absent="out"),
    case("merge/details-in-one-part", write(P1_DETAILS, json.dumps({"segments": [{}] * 3})),
         MERGE + " -o {ws}/out", "details", absent="out"),
    case("merge/results-truncated", truncate("p1/results.json", 120), MERGE + " -o {ws}/out", "results.json",
         absent="out"),
    case("merge/results-invalid-utf8", write("p1/results.json", b'{"run_name": "\xff"}'),
         MERGE + " -o {ws}/out",
         "not valid UTF-8", absent="out"),
    case("merge/results-nul", write("p1/results.json", b'{"run_name": "\x00"}'), MERGE + " -o {ws}/out",
         "NUL byte", absent="out"),
    case("merge/results-fifo", fifo("p1/results.json"), MERGE + " -o {ws}/out", "FIFO", absent="out"),
    case("merge/results-not-object", write("p1/results.json", "[]"), MERGE + " -o {ws}/out",
         "not a JSON object",
         absent="out"),
    case("merge/segments-truncated", truncate("p1/segments.jsonl", lambda n: n - 40), MERGE + " -o {ws}/out",
         "segments.jsonl", absent="out"),
    case("merge/segments-invalid-utf8", write("p1/segments.jsonl", b'{"a": "\xff"}\n'),
         MERGE + " -o {ws}/out",
         "not valid UTF-8", absent="out"),
    case("merge/shard-record-not-object", edit_json("p1/results.json",
         lambda o: o["config"].update(shard="x")),
         MERGE + " -o {ws}/out", "malformed shard record", absent="out"),
    case("merge/shard-count-huge", edit_json("p1/results.json", _set_shard("count", 10**30)),
         MERGE + " -o {ws}/out", "p1", absent="out"),
    case("merge/shard-index-negative", edit_json("p1/results.json", _set_shard("index", -1)),
         MERGE + " -o {ws}/out", "p1", absent="out"),
    case("merge/shard-index-wrong-type", edit_json("p1/results.json", _set_shard("index", "one")),
         MERGE + " -o {ws}/out", "malformed shard record", absent="out"),
    case("merge/shard-settings-unknown-key",
         edit_json("p1/results.json", lambda o: o["config"]["shard"]["settings"].update(evil=1)),
         MERGE + " -o {ws}/out", "malformed shard record", absent="out"),
    case("merge/shard-settings-negative-resamples",
         edit_json("p1/results.json", lambda o: o["config"]["shard"]["settings"].update(n_resamples=-5)),
         MERGE + " -o {ws}/out", "p1", absent="out"),
    case("merge/shard-testset-hash-edited",
         edit_json("p1/results.json", lambda o: o["config"]["shard"]["testset"].update(hash="0" * 64)),
         MERGE + " -o {ws}/out", "another test set", absent="out"),
    # --------------------------------------------------------------- merge: the output
    case("merge/output-is-file", nothing, MERGE + " -o {ws}/afile", "exists and is not a folder"),
    case("merge/output-non-run-folder", nothing, MERGE + " -o {ws}/folder", "is not a run folder"),
    case("merge/output-under-file", nothing, MERGE + " -o {ws}/afile/out", "afile is not a folder"),
    case("merge/output-is-a-part", nothing, MERGE + " -o {ws}/p1", "must not be one of the parts",
         after=_parts_untouched),
    case("merge/output-symlink-to-a-part", symlink("link", "p0"), MERGE + " -o {ws}/link",
         "must not be one of the parts", after=_parts_untouched),
    case("merge/output-symlink", symlink("link", "empty"), MERGE + " -o {ws}/link", "", code=0,
         after=_link_kept),
    case("merge/output-unwritable", chattr_immutable("ro"), MERGE + " -o {ws}/ro/out", "ro", absent="ro/out"),
    case("merge/name-traversal", nothing, MERGE + " --name ../../x -o {ws}/out", "plain folder name",
         absent="out x"),
    # --------------------------------------------------------------- --shard
    case("shard/score-huge-n", nothing, SCORE + " -m bleu --shard 0/999999999999999999 -o {ws}/out",
         "for a test set of 6 segments", absent="out"),
    case("shard/score-i-equals-n", nothing, SCORE + " -m bleu --shard 2/2 -o {ws}/out", "i must be below N",
         absent="out"),
    case("shard/score-zero-n", nothing, SCORE + " -m bleu --shard 0/0 -o {ws}/out", "N must be at least 1",
         absent="out"),
    case("shard/score-negative", nothing, SCORE + " -m bleu --shard -1/2 -o {ws}/out", "expected i/N",
         absent="out"),
    case("shard/score-garbage", nothing, SCORE + " -m bleu --shard a/b -o {ws}/out", "expected i/N",
         absent="out"),
    case("shard/score-superscript-digits", nothing, SCORE + " -m bleu --shard ²/³ -o {ws}/out",
         "expected i/N",
         absent="out"),
    case("shard/score-huge-digit-string", nothing,
         SCORE + " -m bleu --shard 0/" + "9" * 5000 + " -o {ws}/out",
         "--shard", absent="out"),
    case("shard/run-huge-n", nothing, "run -s copy --testset {ws}/ts -m bleu --shard 0/99 -o {ws}/out",
         "for a test set of 6 segments", absent="out"),
    case("shard/run-with-gate", nothing,
         "run -s copy --testset {ws}/ts -m bleu --shard 0/2 --gate {ws}/afile -o {ws}/out",
         "--gate cannot be used with --shard", absent="out"),
    case("shard/translate-huge-n", nothing, "translate -t {ws}/ts -s copy --shard 0/99 -o {ws}/out",
         "for a test set of 6 segments", absent="out"),
    case("shard/translate-file-system", nothing,
         "translate -t {ws}/ts -s file:{ws}/good.txt --shard 0/2 -o {ws}/out", "precomputed outputs",
         absent="out"),
    # --------------------------------------------------------------- list
    case("list/unknown-kind", nothing, "list nope", "'nope' is not one of"),
    case("list/traversal-kind", nothing, "list ../metrics", "is not one of"),
    case("list/broken-metric-import-error", plugin("metric", "raise RuntimeError('plugin is broken')\n"),
         "list metrics --json", "failed (RuntimeError: plugin is broken)", code=0),
    case("list/broken-metric-options-not-a-model",
         plugin("metric", "from mt_eval.metrics.base import Metric\n"
                          "class Broken(Metric):\n    '''A broken plugin.'''\n    name = 'broken'\n"
                          "    options_model = 'not a model'\n"), "list metrics --json", "cannot be", code=0),
    case("list/broken-metric-exits-on-import", plugin("metric", "raise SystemExit(3)\n"), "list metrics",
         "cannot be", code=0),
    case("list/broken-backend-options-not-a-model",
         plugin("backend", "from mt_eval.translators.base import Translator\n"
                           "class Broken(Translator):\n    '''A broken plugin.'''\n    backend = 'broken'\n"
                           "    Options = 42\n"), "list backends", "cannot be", code=0),
    case("list/broken-backend-syntax-error", plugin("backend", "def (:\n"), "list backends --json",
         "failed (SyntaxError", code=0),
    # --------------------------------------------------------------- judge metric specs
    case("judge/credentials-in-url", nothing,
         score_m(f"gemba-esa:judge=openai:http://user:{SECRET}@127.0.0.1:9/v1?model=m"), "no credentials",
         absent="out"),
    case("judge/credentials-in-query", nothing,
         score_m(f"gemba-mqm:judge=openai:http://127.0.0.1:9/v1?model=m&api_key={SECRET}"), "api_key",
         absent="out"),
    case("judge/empty", nothing, score_m("gemba-esa:judge="), "judge", absent="out"),
    case("judge/missing", nothing, score_m("gemba-mqm"), "judge", absent="out"),
    case("judge/unknown-backend", nothing, score_m("gemba-esa:judge=nope:x"), "nope", absent="out"),
    case("judge/cannot-complete", nothing, score_m("gemba-mqm:judge=copy"), "cannot complete text",
         absent="out"),
    case("judge/not-http", nothing, score_m("gemba-esa:judge=openai:file:///etc/passwd?model=m"),
         "needs a base URL", absent="out"),
    case("judge/no-model", nothing, score_m("gemba-esa:judge=openai:http://127.0.0.1:9/v1"), "needs a model",
         absent="out"),
    case("judge/bad-option", nothing, score_m("gemba-esa:samples=-3,judge=copy"), "samples", absent="out"),
    case("judge/huge-samples", nothing, score_m("gemba-esa:samples=100000000000,judge=copy"), "samples",
         absent="out"),
    case("judge/unknown-option", nothing, score_m("gemba-mqm:evil=1,judge=copy"), "evil", absent="out"),
    case("judge/cache-path-fifo", nothing,
         score_m("gemba-mqm:cache_path={ws}/fifo,judge=" + JUDGE % "jother"),
         "fifo", absent="out"),
    case("judge/server-redirects-cross-origin", nothing, judge_score("gemba-esa", "jredirect"), "judge",
         absent="out", after=_no_key_sent_elsewhere),
    case("judge/server-500", nothing, judge_score("gemba-mqm", "j500"), "500", absent="out"),
    case("judge/server-hangs", nothing, judge_score("gemba-mqm", "jhang"), "judge", absent="out"),
    case("judge/server-garbage", nothing, judge_score("gemba-esa", "jgarbage"), "judge", absent="out"),
    case("judge/server-down", nothing,
         score_m("gemba-mqm:cache=false,judge=openai:http://127.0.0.1:9/v1?model=m"
                                               "&timeout=1&max_retries=0"), "judge", absent="out"),
    # --------------------------------------------------------------- comet:model=
    case("comet/model-missing", nothing, score_m("comet:model={ws}/nope.ckpt"), "not found", absent="out"),
    case("comet/model-fifo", nothing, score_m("comet:model={ws}/fifo"), "FIFO", absent="out"),
    case("comet/model-empty-folder", nothing, score_m("comet:model={ws}/empty"), "model.ckpt", absent="out"),
    case("comet/folder-without-hparams", comet_folder(b"x" * 100, hparams=None),
         score_m("comet:model={ws}/cm"),
         "hparams.yaml not found", absent="out"),
    case("comet/hparams-fifo", comet_folder(b"x" * 100, hparams="fifo"), score_m("comet:model={ws}/cm"),
         "FIFO", absent="out"),
    case("comet/hparams-empty", comet_folder(b"x" * 100, hparams=""), score_m("comet:model={ws}/cm"),
         "no class_identifier", absent="out"),
    case("comet/hparams-not-yaml", comet_folder(b"x" * 100, hparams="a: [unclosed\n"),
         score_m("comet:model={ws}/cm"), "not readable YAML", absent="out"),
    case("comet/hparams-python-tag",
         comet_folder(b"x" * 100, hparams="!!python/object/apply:os.system ['touch pwned']\n"),
         score_m("comet:model={ws}/cm"), "hparams.yaml", absent="out cwd/pwned"),
    case("comet/ckpt-fifo", comet_folder("fifo"), score_m("comet:model={ws}/cm"), "FIFO", absent="out"),
    case("comet/ckpt-is-folder", both(comet_folder(None),
         lambda c: (c.root / "cm/checkpoints/model.ckpt").mkdir()),
         score_m("comet:model={ws}/cm"), "model.ckpt", absent="out"),
    case("comet/ckpt-lfs-pointer", comet_folder(LFS_POINTER), score_m("comet:model={ws}/cm"),
         "Git LFS pointer", absent="out"),
    case("comet/ckpt-zero-bytes", comet_folder(b""), score_m("comet:model={ws}/cm"), "is empty (0 bytes)",
         absent="out"),
    case("comet/ckpt-garbage", comet_folder(b"\x00garbage" * 40), score_m("comet:model={ws}/cm"),
         "model.ckpt", absent="out", slow=True),  # imports torch and COMET: ~8 s
    case("comet/bad-option", nothing, score_m("comet:batch_size=0"), "batch_size", absent="out"),
    # --------------------------------------------------------------- several OpenAI base URLs
    case("openai/empty-url-in-list", nothing, translate_s("openai:http://127.0.0.1:9/v1,?model=m"),
         "needs a base URL", absent="out"),
    case("openai/url-listed-twice", nothing,
         translate_s("openai:http://127.0.0.1:9/v1,http://127.0.0.1:9/v1?model=m"), "listed twice",
         absent="out"),
    case("openai/credentials-in-second-url", nothing,
         translate_s(f"openai:http://127.0.0.1:9/v1,http://u:{SECRET}@127.0.0.1:8/v1?model=m&timeout=1"
                     "&max_retries=0"), "openai", absent="out"),
    case("openai/key-in-query", nothing, translate_s(f"openai:http://127.0.0.1:9/v1?model=m&api_key={SECRET}"),
         "unknown option 'api_key'", absent="out"),
    case("openai/credentials-in-url-bad-option", nothing,
         translate_s(f"openai:http://u:{SECRET}@127.0.0.1:9/v1?model=m&timeout=-1"), "timeout", absent="out"),
    case("openai/all-servers-down", nothing,
         translate_s("openai:http://127.0.0.1:9/v1,http://127.0.0.1:8/v1?model=m&timeout=1&max_retries=0"),
         "openai", absent="out"),
    case("openai/bad-server-failures", nothing,
         translate_s("openai:http://127.0.0.1:9/v1,http://127.0.0.1:8/v1?model=m&server_failures=-1"),
         "server_failures", absent="out"),
    # --------------------------------------------------------------- humeval export
    case("export/run-missing", nothing, EXPORT.replace("/run", "/nope") + " -o {ws}/out", "nope: not found",
         absent="out"),
    case("export/run-fifo", nothing, "humeval export {ws}/fifo -o {ws}/out", "FIFO", absent="out"),
    case("export/output-is-file", nothing, EXPORT + " -o {ws}/afile", "afile"),
    case("export/output-non-export-folder", nothing, EXPORT + " -o {ws}/folder", "not a humeval export"),
    case("export/output-under-file", nothing, EXPORT + " -o {ws}/afile/b", "afile is not a folder"),
    case("export/output-unwritable", chattr_immutable("ro"), EXPORT + " -o {ws}/ro/b", "ro", absent="ro/b"),
    case("export/results-truncated", truncate("run/results.json", 80), EXPORT + " -o {ws}/out",
         "results.json",
         absent="out"),
    case("export/segments-truncated", truncate("run/segments.jsonl", lambda n: n - 30),
         EXPORT + " -o {ws}/out",
         "segments.jsonl", absent="out"),
    case("export/segments-nul", write("run/segments.jsonl", b'{"index": 0, "id": "\x00"}\n'),
         EXPORT + " -o {ws}/out", "NUL byte", absent="out"),
    case("export/zero-words", nothing, EXPORT + " -o {ws}/out --per-batch-words 0", "--per-batch-words",
         absent="out"),
    # accepted: a budget larger than the test set is one batch
    case("export/huge-words", nothing, EXPORT + " -o {ws}/out --per-batch-words 99999999999999999999999",
         "1 batch", code=0),
    case("export/negative-seed", nothing, EXPORT + " -o {ws}/out --seed -1", "--seed", absent="out"),
    # --------------------------------------------------------------- humeval import
    case("import/annotations-missing", nothing,
         "humeval import {ws}/run {ws}/nope.jsonl --key {ws}/batch/key.json", "nope.jsonl"),
    case("import/annotations-fifo", fifo("a.jsonl"), "humeval import {ws}/run {ws}/a.jsonl --key"
         " {ws}/batch/key.json", "FIFO"),
    case("import/annotations-folder", lambda c: (c.root / "d.tsv").mkdir(),
         "humeval import {ws}/run {ws}/d.tsv --key {ws}/batch/key.json", "is a folder"),
    case("import/annotations-no-suffix", nothing,
         "humeval import {ws}/run {ws}/afile --key {ws}/batch/key.json",
         "must end in .tsv or .jsonl"),
    case("import/annotations-invalid-utf8", write("ann.jsonl", b'{"item_id": "\xff"}\n'), IMPORT,
         "ann.jsonl:1: not valid UTF-8"),
    case("import/annotations-nul", write("ann.jsonl", b'{"item_id": "001-0001", "score": 5}\n\x00\n'), IMPORT,
         "NUL byte"),
    case("import/annotations-truncated", truncate("ann.jsonl", lambda n: n - 7), IMPORT, "ann.jsonl:"),
    case("import/annotations-empty", write("ann.jsonl", b""), IMPORT, "12 of 12 items"),
    case("import/annotations-tsv-garbage", write("a.tsv", "x\ty\n\x01\t\x02\n"),
         "humeval import {ws}/run {ws}/a.tsv --key {ws}/batch/key.json", "a.tsv"),
    case("import/score-out-of-range", write("ann.jsonl", '{"item_id": "001-0001", "score": 150}\n'), IMPORT,
         "ann.jsonl:1"),
    case("import/score-nan", write("ann.jsonl", '{"item_id": "001-0001", "score": NaN}\n'), IMPORT,
         "ann.jsonl:1"),
    case("import/score-huge", write("ann.jsonl", '{"item_id": "001-0001", "score": 1e999}\n'), IMPORT,
         "ann.jsonl:1"),
    case("import/score-wrong-type", write("ann.jsonl", '{"item_id": "001-0001", "score": [1]}\n'), IMPORT,
         "ann.jsonl:1"),
    case("import/spans-not-a-list", write("ann.jsonl", '{"item_id": "001-0001", "spans": 5}\n'), IMPORT,
         "ann.jsonl:1"),
    case("import/unknown-item", write("ann.jsonl", '{"item_id": "../../etc/passwd", "score": 5}\n'), IMPORT,
         "unknown item_id"),
    case("import/key-missing", nothing, "humeval import {ws}/run {ws}/ann.jsonl --key {ws}/nope.json",
         "nope.json"),
    case("import/key-fifo", nothing, "humeval import {ws}/run {ws}/ann.jsonl --key {ws}/fifo", "FIFO"),
    case("import/key-truncated", truncate("batch/key.json", 50), IMPORT, "key.json"),
    case("import/key-not-object", write("batch/key.json", "[1, 2]"), IMPORT, "key.json"),
    case("import/key-items-wrong-type",
         edit_json("batch/key.json", lambda o: o.update(items={"001-0001": {"segment_index": "x"}})), IMPORT,
         "key.json"),
    case("import/key-segment-index-out-of-range",
         edit_json("batch/key.json", lambda o: [v.update(segment_index=10**9) for v in o["items"].values()]),
         IMPORT, "key.json"),
    case("import/name-traversal", nothing, IMPORT + " --name ../../x", "--name"),
    case("import/name-empty", nothing, [*IMPORT.split(), "--name", ""], "--name"),
    case("import/name-existing-metric", nothing, IMPORT + " --name bleu", "already a computed metric"),
    case("import/bad-weights", nothing, IMPORT + " --weights 1,2", "--weights"),
    case("import/negative-weights", nothing, IMPORT + " --weights -1,5,10", "weight"),
    case("import/nan-weights", nothing, IMPORT + " --weights nan,5,10", "weight"),
    case("import/bad-protocol", nothing, IMPORT + " --protocol nope", "--protocol"),
    case("import/run-results-fifo", fifo("run/results.json"), IMPORT, "FIFO"),
    # --------------------------------------------------------------- meta
    case("meta/run-missing", nothing, "meta {ws}/nope --human human", "nope: not found"),
    case("meta/run-fifo", nothing, "meta {ws}/fifo --human human", "FIFO"),
    case("meta/no-human-metric", nothing, "meta {ws}/run --human human", "is not a metric"),
    case("meta/human-traversal", nothing, "meta {ws}/runh --human ../../x", "is not a metric"),
    # accepted: --human names the reference metric; meta.json says which (metric-vs-metric agreement)
    case("meta/human-is-another-metric", nothing, "meta {ws}/runh --human bleu --no-save --resamples 20"
         " --permutations 20 --spa-resamples 0", "bleu", code=0),
    case("meta/output-is-folder", nothing, "meta {ws}/runh --human human -o {ws}/folder", "is a folder"),
    case("meta/output-fifo", nothing, "meta {ws}/runh --human human -o {ws}/fifo", "FIFO"),
    case("meta/output-under-file", nothing, "meta {ws}/runh --human human -o {ws}/afile/m.json",
         "afile is not a folder"),
    case("meta/npy-zero-bytes", write("runh/stats/good/chrf.npy", b""), "meta {ws}/runh --human human",
         "empty statistics", absent="runh/meta.json"),
    case("meta/human-npy-truncated", truncate("runh/stats/good/human.npy", lambda n: n - 5),
         "meta {ws}/runh --human human", "human.npy", absent="runh/meta.json"),
    case("meta/zero-resamples", nothing, "meta {ws}/runh --human human --resamples 0", "--resamples"),
    case("meta/huge-permutations", nothing, "meta {ws}/runh --human human --permutations 100000000000000",
         "--permutations", absent="runh/meta.json"),
    case("meta/huge-resamples", nothing, "meta {ws}/runh --human human --resamples 100000000000000",
         "--resamples", absent="runh/meta.json"),
    case("meta/results-truncated", truncate("runh/results.json", 100), "meta {ws}/runh --human human",
         "results.json"),
    # --------------------------------------------------------------- baseline save --all-metrics / --policy
    case("baseline/policy-missing", nothing, "baseline save {ws}/run -o {ws}/b.json --policy {ws}/nope.toml",
         "nope.toml", absent="b.json"),
    case("baseline/policy-fifo", nothing, "baseline save {ws}/run -o {ws}/b.json --policy {ws}/fifo", "FIFO",
         absent="b.json"),
    case("baseline/policy-folder", nothing, "baseline save {ws}/run -o {ws}/b.json --policy {ws}/folder",
         "is a folder", absent="b.json"),
    case("baseline/policy-invalid-utf8", write("p.toml", b"alpha = 0.1 # \xff\n"),
         "baseline save {ws}/run -o {ws}/b.json --policy {ws}/p.toml", "not valid UTF-8", absent="b.json"),
    case("baseline/policy-unknown-key", write("p.toml", "alhpa = 0.1\n"),
         "baseline save {ws}/run -o {ws}/b.json --policy {ws}/p.toml", "alhpa", absent="b.json"),
    case("baseline/policy-negative-alpha", write("p.toml", "alpha = -0.5\n"),
         "baseline save {ws}/run -o {ws}/b.json --policy {ws}/p.toml", "alpha", absent="b.json"),
    case("baseline/policy-truncated", write("p.toml", "alpha = [0.1,"),
         "baseline save {ws}/run -o {ws}/b.json --policy {ws}/p.toml", "p.toml", absent="b.json"),
    case("baseline/policy-family-unknown", write("p.toml", 'family = ["nope"]\n'),
         "baseline save {ws}/run -o {ws}/b.json --policy {ws}/p.toml", "nope", absent="b.json"),
    case("baseline/all-metrics-with-metric", nothing,
         "baseline save {ws}/run -o {ws}/b.json --all-metrics --metric bleu", "--all-metrics",
             absent="b.json"),
    case("baseline/all-metrics-npy-zero", write("runh/stats/good/human.npy", b""),
         "baseline save {ws}/runh -o {ws}/b.json --all-metrics", "empty statistics", absent="b.json"),
    case("baseline/output-symlink-to-folder", symlink("blink", "folder"),
         "baseline save {ws}/run -o {ws}/blink", "is a folder", absent="folder/results.json"),
    # --------------------------------------------------------------- settings keys of a run config
    case("config/workers-negative", write("c.toml", "workers = -1\n"), CFG, "workers", absent="out"),
    case("config/workers-zero", write("c.toml", "workers = 0\n"), CFG, "workers", absent="out"),
    case("config/workers-huge", write("c.toml", "workers = 1000000000000\n"), CFG, "workers", absent="out"),
    case("config/workers-wrong-type", write("c.toml", 'workers = "lots"\n'), CFG, "workers", absent="out"),
    case("config/workers-bool", write("c.toml", "workers = true\n"), CFG, "workers", absent="out"),
    case("config/workers-float", write("c.toml", "workers = 1.5\n"), CFG, "workers", absent="out"),
    case("config/executor-unknown", write("c.toml", 'executor = "nope"\n'), CFG, "executor", absent="out"),
    case("config/executor-wrong-type", write("c.toml", "executor = 5\n"), CFG, "executor", absent="out"),
    case("config/ray-address-wrong-type", write("c.toml", "ray_address = [1]\n"), CFG, "ray_address",
         absent="out"),
    case("config/unknown-key", write("c.toml", "wrokers = 2\n"), CFG, "wrokers", absent="out"),
    case("config/resamples-huge", write("c.toml", "resamples = 1000000000000000\n"), CFG, "resamples",
         absent="out"),
    case("config/confidence-out-of-range", write("c.toml", "confidence = 2\n"), CFG, "confidence",
         absent="out"),
    case("config/alpha-zero", write("c.toml", "alpha = 0\n"), CFG, "alpha", absent="out"),
    case("config/seed-wrong-type", write("c.toml", 'seed = "x"\n'), CFG, "seed", absent="out"),
    # accepted: numpy seeds take any non-negative integer
    case("config/seed-huge", write("c.toml", "seed = 99999999999999999999999\n"), CFG, "", code=0),
    case("config/int-not-toml", write("c.toml", "seed = 1_\n"), CFG, "c.toml", absent="out"),
    case("config/metrics-empty", write("c.toml", "metrics = []\n"), "run -s copy --testset {ws}/ts"
         " --resamples 20 {ws}/c.toml -o {ws}/out", "metric", absent="out"),
    case("config/metrics-string", write("c.toml", 'metrics = "bleu"\n'), "run -s copy --testset {ws}/ts"
         " --resamples 20 {ws}/c.toml -o {ws}/out", "metrics", absent="out"),
    case("config/checks-wrong-type", write("c.toml", "checks = 5\n"), CFG, "checks", absent="out"),
    case("config/checks-unknown", write("c.toml", "[checks]\nevil = 1\n"), CFG, "evil", absent="out"),
    case("config/systems-wrong-type", write("c.toml", "systems = 5\n"), CFG, "systems", absent="out"),
    case("config/name-empty", write("c.toml", 'name = ""\n'), CFG, "name", absent="out"),
    case("config/name-nul", write("c.toml", 'name = "a\\u0000b"\n'), CFG, "name", absent="out"),
    case("config/output-traversal-into-file", write("c.toml", 'output = "afile/x"\n'),
         "run -s copy --testset {ws}/ts -m bleu --resamples 20 {ws}/c.toml", "afile is not a folder"),
    case("cli/workers-huge", nothing, SCORE + " -m bleu --workers 1000000000000 -o {ws}/out", "--workers",
         absent="out"),
    case("cli/workers-negative", nothing, SCORE + " -m bleu --workers -3 -o {ws}/out", "--workers",
         absent="out"),
    case("cli/executor-unknown", nothing, SCORE + " -m bleu --executor nope -o {ws}/out", "executor",
         absent="out"),
]


# ------------------------------------------------------------------------------------ the checks
def _unfreeze(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            os.system(f"chattr -i '{path}' 2>/dev/null")
            path.chmod(0o755)


@pytest.mark.parametrize("c", CASES)
def test_hostile_input_new_surfaces(c: Case, ws: Ctx, judges: dict[str, Any],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = ws.root
    _JUDGES.update(judges)
    for server in judges.values():
        server.seen.clear()
    try:
        c.prep(ws)
        args = [_fill(a, root, judges) for a in c.args]
        before = set(temporaries(root))
        started = time.monotonic()
        code, out, err, hung = run_guarded(capsys, root, args)
        seconds = time.monotonic() - started
    finally:
        _unfreeze(root)
    assert not hung, f"{c.id}: blocked reading a FIFO"
    assert seconds < 30, f"{c.id}: took {seconds:.0f} s (a hang?)"
    assert "Traceback" not in err and "Traceback" not in out, err
    assert SECRET not in err and SECRET not in out, f"{c.id}: the secret was printed"
    assert code == c.code, f"{c.id}: exit {code}, expected {c.code}\nstderr: {err}"
    if c.code == 2:
        errors = [line for line in err.splitlines() if not line.startswith("…") and line.strip()]
        assert len(errors) == 1, f"{c.id}: expected one error line, got {errors}"
        assert errors[0].startswith("mt-eval: error: "), errors
        assert c.fragment in errors[0], f"{c.id}: {c.fragment!r} not in {errors[0]!r}"
        assert "internal error" not in errors[0], errors[0]
    elif c.fragment:
        assert c.fragment in out, f"{c.id}: {c.fragment!r} not on stdout"
    assert set(temporaries(root)) <= before, f"{c.id}: left {set(temporaries(root)) - before}"
    for rel in c.absent:
        assert not (root / rel).exists(), f"{c.id}: {rel} was written"
    if c.after is not None:
        c.after(root)


def _fill(arg: str, root: Path, judges: dict[str, Any]) -> str:
    arg = arg.replace("{ws}", str(root))
    for name, server in judges.items():
        arg = arg.replace("{" + name + "}", server.url)
    return arg


def test_battery_covers_every_new_surface() -> None:
    groups = {c.values[0].id.split("/")[0] for c in CASES}
    assert groups >= {"merge", "shard", "list", "judge", "comet", "openai", "export", "import", "meta",
                      "baseline", "config"}
    kinds = " ".join(c.values[0].id for c in CASES)
    for kind in ("fifo", "truncated", "invalid-utf8", "nul", "zero-bytes", "symlink", "unwritable",
                 "traversal", "huge", "wrong-type", "unknown", "credentials", "redirect", "500", "hangs",
                 "lfs-pointer", "twice", "broken"):
        assert kind in kinds, kind
