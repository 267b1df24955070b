"""Hostile-input battery, third round (issue 23): the twelve failures left after the first two batteries.

Same table and checks as the earlier batteries: each case is (id, preparation, arguments, expected exit
code, fragment of the error line); afterwards one ``mt-eval: error:`` line naming the problem (exit 2),
no traceback, no temporary file, the listed outputs absent. A FIFO reader blocked for ``HANG_SECONDS`` is
unblocked and the case fails; the fake servers (a judge, a TCP port that never answers, an HTTP service)
listen on 127.0.0.1 only. What a table cannot express has its own test below: a closed stdout (a real
process whose reader has gone), a real Ray head, a run killed with ``kill -9`` and resumed.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import REFS, SOURCES
from hostile_guard import HANG_SECONDS, run_guarded, scored_workspace, setup_cli, temporaries

#: how long a wrong Ray address may take to answer (the option under test)
CONNECT_S = 2
#: what the misbehaving judge answers instead of an error list: far beyond any max_tokens
HUGE_ANSWER = "ZQX" * 700_000  # 2.1 MB
NO_ERRORS = "Major:\nno-error\nMinor:\nno-error"


# ------------------------------------------------------------------------------------ workspace
@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: test set, hypotheses, a scored run, its baseline, a run with human scores."""
    root = tmp_path_factory.mktemp("pristine_round3")
    score = scored_workspace(root)
    setup_cli(*score, "--shard", "0/2", "-o", root / "p0")
    setup_cli("baseline", "save", root / "run", "-o", root / "baseline.json")
    setup_cli("humeval", "export", root / "run", "-o", root / "batch")
    key = json.loads((root / "batch" / "key.json").read_text(encoding="utf-8"))
    rows = [{"item_id": item, "score": 80.0 if info["system"] == "good" else 30.0 + info["segment_index"]}
            for item, info in key["items"].items()]
    (root / "ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    shutil.copytree(root / "run", root / "runh")
    setup_cli("humeval", "import", root / "runh", root / "ann.jsonl", "--key", root / "batch" / "key.json")
    return root


class _Judge:
    """A fake OpenAI-compatible GEMBA-ESA judge on 127.0.0.1. Segments of even index misbehave:
    ``negative`` scores them -40; ``huge`` answers their error-span step with :data:`HUGE_ANSWER`,
    ignoring ``max_tokens``. Other segments get no errors and a score of 80."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        owner = self
        odd = [s for i, s in enumerate(SOURCES) if i % 2 == 0]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, obj: dict[str, Any]) -> None:
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "m", "object": "model"}]})

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
                bad = any(source in prompt for source in odd)
                if int(request.get("max_tokens") or 0) <= 32:  # GEMBA-ESA's score step
                    text = "-40" if bad and owner.mode == "negative" else "80"
                else:
                    text = HUGE_ANSWER if bad and owner.mode == "huge" else NO_ERRORS
                self._send({"choices": [{"message": {"role": "assistant", "content": text},
                                         "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 5}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _SilentPort:
    """A TCP port on 127.0.0.1 that accepts connections and never says a word (not a Ray head)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.sock.accept()[0])

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    found: dict[str, Any] = {"negative": _Judge("negative"), "huge": _Judge("huge"), "silent": _SilentPort(),
             "http": _Judge("ok")}
    yield found
    for server in found.values():
        server.close()


@dataclass
class Ctx:
    root: Path
    mp: pytest.MonkeyPatch


@pytest.fixture
def ws(pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ctx:
    """A fresh copy of the workspace."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "")
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("MT_EVAL_RAY_CONNECT_S", str(CONNECT_S))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    root = tmp_path / "ws"
    shutil.copytree(pristine, root)
    (root / "cwd").mkdir()
    monkeypatch.chdir(root / "cwd")
    return Ctx(root, monkeypatch)


# -------------------------------------------------------------------------------- preparations
Prep = Callable[[Ctx], None]


def nothing(_: Ctx) -> None:
    return None


def write(rel: str, data: bytes | str) -> Prep:
    def prep(ctx: Ctx) -> None:
        (ctx.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx.root / rel).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return prep


def both(*preps: Prep) -> Prep:
    def prep(ctx: Ctx) -> None:
        for p in preps:
            p(ctx)
    return prep


def symlink_loop(a: str, b: str) -> Prep:
    """``a`` -> ``b`` -> ``a``."""
    def prep(ctx: Ctx) -> None:
        (ctx.root / a).symlink_to(ctx.root / b)
        (ctx.root / b).symlink_to(ctx.root / a)
    return prep


def chattr_immutable(rel: str) -> Prep:
    """An unwritable folder (root ignores permission bits; an immutable folder stops it too)."""
    def prep(ctx: Ctx) -> None:
        path = ctx.root / rel
        path.mkdir(exist_ok=True)
        if os.system(f"chattr +i '{path}' 2>/dev/null") != 0:
            path.chmod(0o555)
            if os.access(path, os.W_OK):
                pytest.skip("cannot make a folder unwritable here (root without chattr)")
    return prep


def plain_folder(source: list[str], reference: list[str]) -> Prep:
    """``pf/``: a plain-folder test set (``source.ar``, ``reference.en``)."""
    def prep(ctx: Ctx) -> None:
        (ctx.root / "pf").mkdir()
        (ctx.root / "pf" / "source.ar").write_text("\n".join(source) + "\n", encoding="utf-8")
        (ctx.root / "pf" / "reference.en").write_text("\n".join(reference) + "\n", encoding="utf-8")
    return prep


class _Reduce:
    """Pickles as a call of ``os.system``: what a hostile checkpoint holds (never called here)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, ("touch pwned",)


def comet_folder_calling_a_function(ctx: Ctx) -> None:
    """``cm/``: a COMET folder whose ``model.ckpt`` pickle calls ``os.system`` when loaded unsafely."""
    folder = ctx.root / "cm"
    (folder / "checkpoints").mkdir(parents=True)
    (ctx.root / "enc").mkdir()
    (folder / "checkpoints" / "model.ckpt").write_bytes(
        pickle.dumps({"state_dict": {}, "hook": _Reduce()}, protocol=2))
    (folder / "hparams.yaml").write_text(
        f"class_identifier: regression_metric\npretrained_model: {ctx.root / 'enc'}\n", encoding="utf-8")


SHADOW_PLUGIN = "class Bleu:\n    pass\n"


def plugin_taking_bleu(ctx: Ctx) -> None:
    """An installed distribution (a dist-info on sys.path) whose entry point registers metric ``bleu``."""
    from mt_eval.metrics import registry

    plug = ctx.root / "plug"
    dist = plug / "mte_shadow-1.0.dist-info"
    dist.mkdir(parents=True)
    (plug / "mte_shadow.py").write_text(SHADOW_PLUGIN, encoding="utf-8")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mte-shadow\nVersion: 1.0\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text("[mt_eval.metrics]\nbleu = mte_shadow:Bleu\n", encoding="utf-8")
    ctx.mp.syspath_prepend(str(plug))
    ctx.mp.delitem(sys.modules, "mte_shadow", raising=False)
    # read the entry points again now, and again after the test (monkeypatch restores both)
    ctx.mp.delitem(registry.METRICS.__dict__, "discovered", raising=False)
    ctx.mp.setattr(registry.METRICS, "shadowed", {})


# ------------------------------------------------------------------------------------- the checks
def _meta_untouched(root: Path) -> None:
    assert not (root / "runh" / "meta.json").exists(), "meta.json was written before -o was checked"
    before = (root.parent / "pristine_report.html").read_bytes()
    assert (root / "runh" / "report.html").read_bytes() == before, "report.html was rewritten"


def _negative_is_a_failure(root: Path) -> None:
    records = [json.loads(line) for line in (root / "out" / "segments.jsonl").read_text().splitlines()]
    key = next(k for k in records[1]["scores"]["good"] if k.startswith("gemba-esa"))
    for i, record in enumerate(records):
        failure = ((record.get("failures") or {}).get("good") or {}).get(key)
        if i % 2 == 0:  # answered -40: out of range, never 40
            assert failure is not None and "-40 is outside 0–100" in failure["failure"], record
            assert record["scores"]["good"][key] is None
        else:
            assert failure is None and record["scores"]["good"][key] == 80.0
    results = json.loads((root / "out" / "results.json").read_text())
    assert results["scores"]["good"][key]["score"] == pytest.approx(80.0)
    assert results["judge_failures"]["good"][key] == 3


def _huge_answer_bounded(root: Path) -> None:
    out = root / "out"
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 400_000, f"the run folder holds {size:,} bytes for six 2 MB answers"
    cache = root.parent / "cache.sqlite"
    cache_size = sum(p.stat().st_size for p in cache.parent.glob("cache.sqlite*"))
    assert cache_size < 400_000, f"the cache holds {cache_size:,} bytes"
    records = [json.loads(line) for line in (out / "segments.jsonl").read_text().splitlines()]
    key = next(k for k in records[1]["scores"]["good"] if k.startswith("gemba-esa"))
    failure = records[0]["failures"]["good"][key]
    assert "answer of 2,100,000 characters, far beyond max_tokens=512" in failure["failure"]
    assert len(failure["raw"]) < 1200 and failure["raw"].endswith("more characters in the details file]")
    details = json.loads(next((out / "stats" / "good").glob("gemba-esa*.details.json")).read_text())
    whole = details["details"][0]["raw"]  # the one copy of the (bounded) answer
    assert HUGE_ANSWER.startswith(whole) and 1000 < len(whole) <= 16_384
    assert "ZQX" * 400 not in (out / "report.html").read_text()
    assert "ZQX" * 400 not in (out / "results.json").read_text()
    assert records[1]["scores"]["good"][key] == 80.0


def _required_in_table(out: str) -> None:
    rows = [line.replace("|", " ").split() for line in out.splitlines()]  # piped: a Markdown pipe table
    row = next(r for r in rows if r[:1] == ["judge"])
    assert row[:3] == ["judge", "str", "required"], row


def _required_in_json(out: str) -> None:
    metrics = {m["name"]: m for m in json.loads(out)["metrics"]}
    judge = next(o for o in metrics["gemba-esa"]["options"] if o["name"] == "judge")
    assert judge["required"] is True and judge["default"] is None, judge
    samples = next(o for o in metrics["gemba-esa"]["options"] if o["name"] == "samples")
    assert samples["required"] is False and samples["default"] == 1, samples


def _shadow_noted(out: str) -> None:
    assert "mte-shadow also registers metric 'bleu' (mte_shadow:Bleu); the built-in is used" in out
    assert "mt_eval.metrics.sacrebleu_metrics:BLEU" in out  # the built-in is the one listed
    assert "mte_shadow" not in sys.modules, "the shadowing plugin was imported"


def _no_pickle_ran(root: Path) -> None:
    assert not (root / "cwd" / "pwned").exists()


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
    stdout: Callable[[str], None] | None = None  # for exit 0: an extra check of stdout
    stderr: str = ""  # for exit 0: what stderr must say (once)
    seconds: float = 30.0  # the most a case may take
    process: bool = False  # run as its own process, killed after ``seconds`` (a hang cannot freeze the suite)


def case(id: str, prep: Prep, args: str | list[str], fragment: str, *, code: int = 2, absent: str = "",
         after: Callable[[Path], None] | None = None, stdout: Callable[[str], None] | None = None,
         stderr: str = "", seconds: float = 30.0, process: bool = False, slow: bool = False) -> Any:
    argv = tuple(args.split()) if isinstance(args, str) else tuple(args)
    c = Case(id, prep, argv, fragment, code, tuple(absent.split()), after, stdout, stderr, seconds, process)
    return pytest.param(c, id=id, marks=(pytest.mark.slow,) if slow else ())


SCORE = "score --testset {ws}/ts --hyp {ws}/good.txt --resamples 20"
CFG = "run -s file:{ws}/good.txt --testset {ws}/ts -m bleu --resamples 20 {ws}/c.toml -o {ws}/out"
JUDGE = "gemba-esa:judge=openai:http://127.0.0.1:{%s}/v1?model=m&max_retries=0"
RAY = SCORE + " -m bleu --executor ray --ray-address 127.0.0.1:{%s} -o {ws}/out"
BLANK_SOURCE = [*SOURCES[:2], "  ", *SOURCES[3:]]
BLANK_REF = [*REFS[:4], "", REFS[5]]

CASES: list[Any] = [
    # 1. a Ray address that accepts TCP but is not a Ray head: bounded, one line (Ray's own logs would go
    # to the process's stderr, which only a process of its own shows), exit 2
    case("ray/address-accepts-tcp-but-is-silent", nothing, RAY % "silent",
         f"cannot reach a Ray cluster at 127.0.0.1:{{silent}} (no answer within {CONNECT_S} s)", absent="out",
         seconds=CONNECT_S + 15, process=True),
    case("ray/address-is-an-http-service", nothing, RAY % "http", "does not speak gRPC", absent="out",
         seconds=CONNECT_S + 15, process=True),
    # the bound is an option too: --ray-connect-timeout (the environment's 2 s is overridden by 1 s)
    case("ray/connect-timeout-option", nothing, RAY % "silent" + " --ray-connect-timeout 1",
         "cannot reach a Ray cluster at 127.0.0.1:{silent} (no answer within 1 s)", absent="out",
         seconds=CONNECT_S + 15, process=True),
    case("ray/connect-timeout-without-ray", nothing, SCORE + " -m bleu --ray-connect-timeout 1 -o {ws}/out",
         "--ray-connect-timeout needs --executor ray", absent="out"),
    # 3. a judge's negative score is out of range: a failure of that segment, never 40
    case("judge/negative-score", nothing, [*SCORE.split(), "-m", JUDGE % "negative", "-o", "{ws}/out"],
         "", code=0, after=_negative_is_a_failure),
    # 4. meta checks its output paths before any work
    case("meta/output-in-unwritable-folder", chattr_immutable("ro"),
         "meta {ws}/runh --human human --resamples 20 --permutations 20 --spa-resamples 0 -o {ws}/ro/m.json",
         "not writable", absent="ro/m.json runh/meta.json", after=_meta_untouched),
    case("meta/output-where-nothing-can-be-written", nothing,
         "meta {ws}/runh --human human --resamples 20 --permutations 20 --spa-resamples 0"
         " -o /proc/mte-hostile-meta.json", "mte-hostile-meta.json", absent="runh/meta.json",
         after=_meta_untouched),
    case("meta/run-folder-unwritable", chattr_immutable("runh"),
         "meta {ws}/runh --human human --resamples 20 --permutations 20 --spa-resamples 0"
         " -o {ws}/m.json", "runh", absent="m.json runh/meta.json"),
    # 5. an answer far beyond max_tokens: a failure, bounded and stored once
    case("judge/answers-megabytes-ignoring-max-tokens", nothing,
         [*SCORE.split(), "-m", JUDGE % "huge", "-o", "{ws}/out"], "", code=0, after=_huge_answer_bounded),
    # 6. internal errors that are user errors
    case("translate/empty-system-spec", nothing, ["translate", "-t", "{ws}/ts", "-s", "", "-o", "{ws}/out"],
         "empty system spec", absent="out"),
    case("translate/blank-system-spec", nothing, ["translate", "-t", "{ws}/ts", "-s", "  ", "-o", "{ws}/out"],
         "empty system spec", absent="out"),
    case("merge/part-is-a-symlink-loop", symlink_loop("la", "lb"), "merge {ws}/p0 {ws}/la -o {ws}/out",
         "symbolic links", absent="out"),
    case("merge/output-is-a-symlink-loop", symlink_loop("la", "lb"), "merge {ws}/p0 -o {ws}/la",
         "symbolic link loop"),
    case("merge/output-under-a-symlink-loop", symlink_loop("la", "lb"), "merge {ws}/p0 -o {ws}/la/out",
         "la"),
    # 7. misleading messages
    case("list/required-option-text", nothing, "list metrics", "gemba-esa", code=0,
         stdout=_required_in_table),
    case("list/required-option-json", nothing, "list metrics --json", '"required": true', code=0,
         stdout=_required_in_json),
    case("comet/checkpoint-pickle-calls-a-function", comet_folder_calling_a_function,
         [*SCORE.split(), "-m", "comet:model={ws}/cm", "-o", "{ws}/out"], "unsafe globals", absent="out",
         after=_no_pickle_ran, seconds=120, slow=True),  # imports torch and COMET: ~8-20 s
    # 8. silently accepted: strict types in files, one plugin name, one blank-line rule
    case("config/all-pairs-string", write("c.toml", 'all_pairs = "yes"\n'), CFG, "all_pairs", absent="out"),
    case("config/alpha-string", write("c.toml", 'alpha = "0.05"\n'), CFG, "alpha", absent="out"),
    case("config/resamples-string", write("c.toml", 'resamples = "100"\n'), CFG, "resamples", absent="out"),
    case("config/confidence-bool", write("c.toml", "confidence = true\n"), CFG, "confidence", absent="out"),
    # accepted: an integer for a float, and the command line's values as before
    case("config/alpha-integer-float-field", write("c.toml", "confidence = 1\n"), CFG, "confidence",
         absent="out"),
    case("config/typed-values-and-cli-overrides", write("c.toml", "alpha = 0.1\nall_pairs = false\n"),
         CFG + " --all-pairs --seed 7 --workers 1", "run folder", code=0),
    case("policy/alpha-string", write("p.toml", 'alpha = "0.05"\n'),
         "baseline save {ws}/run -o {ws}/b.json --policy {ws}/p.toml", "alpha", absent="b.json"),
    case("policy/require-same-environment-string", write("p.toml", 'require_same_environment = "yes"\n'),
         "baseline save {ws}/run -o {ws}/b.json --policy {ws}/p.toml", "require_same_environment",
         absent="b.json"),
    case("plugin/entry-point-takes-bleu-list", plugin_taking_bleu, "list metrics", "bleu", code=0,
         stdout=_shadow_noted, stderr="mte-shadow also registers metric 'bleu'"),
    case("plugin/entry-point-takes-bleu-score", plugin_taking_bleu, SCORE + " -m bleu -m chrf -o {ws}/out",
         "run folder", code=0, stderr="mte-shadow also registers metric 'bleu'"),
    case("testset/plain-folder-blank-source", plain_folder(BLANK_SOURCE, REFS),
         "score --testset {ws}/pf --hyp {ws}/good.txt -m bleu -o {ws}/out",
         "pf/source.ar:3: blank source line", absent="out"),
    case("testset/plain-folder-empty-reference", plain_folder(SOURCES, BLANK_REF),
         "score --testset {ws}/pf --hyp {ws}/good.txt -m bleu -o {ws}/out",
         "pf/reference.en:5: blank reference line", absent="out"),
    case("testset/import-same-rule", plain_folder(BLANK_SOURCE, REFS),
         "testset import --source {ws}/pf/source.ar --reference {ws}/pf/reference.en -o {ws}/imp",
         "pf/source.ar:3: blank source line", absent="imp"),
]


def _run_process(args: list[str], cwd: Path, seconds: float) -> tuple[int, str, str, bool]:
    """``mt-eval`` as its own process (the test's environment), killed when it outlives ``seconds``."""
    try:
        proc = subprocess.run([sys.executable, "-m", "mt_eval", *args], capture_output=True, text=True,
                              cwd=cwd, timeout=seconds, check=False)
    except subprocess.TimeoutExpired as exc:
        return -9, str(exc.stdout or ""), str(exc.stderr or ""), True
    return proc.returncode, proc.stdout, proc.stderr, False


def _unfreeze(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            os.system(f"chattr -i '{path}' 2>/dev/null")
            path.chmod(0o755)


def _fill(arg: str, root: Path, servers: dict[str, Any]) -> str:
    arg = arg.replace("{ws}", str(root))
    for name, server in servers.items():
        arg = arg.replace("{" + name + "}", str(server.port))
    return arg


@pytest.mark.parametrize("c", CASES)
def test_hostile_input_round3(c: Case, ws: Ctx, servers: dict[str, Any], capsys: pytest.CaptureFixture[str],
                              caplog: pytest.LogCaptureFixture) -> None:
    root = ws.root
    shutil.copyfile(root / "runh" / "report.html", root.parent / "pristine_report.html")
    try:
        c.prep(ws)
        args = [_fill(a, root, servers) for a in c.args]
        before = set(temporaries(root))
        started = time.monotonic()
        if c.process:
            code, out, err, hung = _run_process(args, root / "cwd", c.seconds)
        else:
            code, out, err, hung = run_guarded(capsys, root, args)
        seconds = time.monotonic() - started
    finally:
        _unfreeze(root)
    assert not hung, f"{c.id}: hung (blocked reading a FIFO, or killed after {c.seconds:g} s)"
    assert seconds < c.seconds, f"{c.id}: took {seconds:.0f} s (a hang?)"
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code == c.code, f"{c.id}: exit {code}, expected {c.code}\nstderr: {err}"
    if c.code == 2:
        errors = [line for line in err.splitlines() if not line.startswith("…") and line.strip()]
        assert len(errors) == 1, f"{c.id}: expected one error line, got {errors}"
        assert errors[0].startswith("mt-eval: error: "), errors
        fragment = _fill(c.fragment, root, servers)
        assert fragment in errors[0], f"{c.id}: {fragment!r} not in {errors[0]!r}"
        assert "internal error" not in errors[0] and "PydanticUndefined" not in errors[0], errors[0]
    else:
        assert c.fragment in out, f"{c.id}: {c.fragment!r} not on stdout"
        assert "PydanticUndefined" not in out
        if c.stdout is not None:
            c.stdout(out)
        if c.stderr:  # a warning: on stderr in a real process, in pytest's log capture here
            said = err.count(c.stderr) + sum(r.getMessage().count(c.stderr) for r in caplog.records)
            assert said == 1, f"{c.id}: {c.stderr!r} said {said} times: {err} {caplog.text}"
    assert set(temporaries(root)) <= before, f"{c.id}: left {set(temporaries(root)) - before}"
    for rel in c.absent:
        assert not (root / rel).exists(), f"{c.id}: {rel} was written"
    if c.after is not None:
        c.after(root)


def test_battery_covers_every_item_of_issue_23() -> None:
    ids = " ".join(c.values[0].id for c in CASES)
    for kind in ("ray/", "negative-score", "meta/output", "megabytes", "empty-system-spec", "symlink-loop",
                 "required-option", "pickle-calls-a-function", "all-pairs-string", "alpha-string",
                 "takes-bleu", "plain-folder-blank"):
        assert kind in ids, kind


# ------------------------------------------------------------------ 2. a closed stdout is not exit 1
def _mt_eval_reader_gone(args: list[object], cwd: Path) -> tuple[int, str]:
    """Run ``mt-eval`` in its own process with stdout a pipe whose reader has gone before the first
    write (``mt-eval … | head -1`` after its line); returns (exit code, stderr)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write gets EPIPE
    try:
        proc = subprocess.run([sys.executable, "-m", "mt_eval", *map(str, args)], stdout=write_end,
                              stderr=subprocess.PIPE, cwd=cwd, timeout=HANG_SECONDS * 3, check=False,
                              env={**os.environ, "COLUMNS": "120", "GITHUB_STEP_SUMMARY": ""})
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("command", ["gate-pass", "list", "score"])
def test_closed_stdout_keeps_the_outcome_and_the_files(command: str, pristine: Path, tmp_path: Path) -> None:
    root = pristine
    if command == "gate-pass":  # a pass: exit 0, and the files named by options written
        args: list[object] = ["gate", "-b", root / "baseline.json", "-c", root / "run",
                              "--json", tmp_path / "v.json", "--junit", tmp_path / "j.xml"]
        files = [tmp_path / "v.json", tmp_path / "j.xml"]
    elif command == "list":
        args, files = ["list"], []
    else:
        args = ["score", "--testset", root / "ts", "--hyp", root / "good.txt", "-m", "bleu", "--resamples",
                "20", "-o", tmp_path / "out"]
        files = [tmp_path / "out" / "results.json", tmp_path / "out" / "report.html"]
    code, err = _mt_eval_reader_gone(args, tmp_path)
    assert code == 0, f"{command}: exit {code} with stdout closed\n{err}"
    assert "Traceback" not in err and "error" not in err.lower(), err
    for path in files:
        assert path.is_file() and path.stat().st_size > 0, f"{command}: {path.name} not written"
    if command == "gate-pass":
        assert json.loads(files[0].read_text(encoding="utf-8"))["outcome"] == "pass"


def test_shadowing_plugin_is_said_once_on_the_stderr_of_a_real_process(ws: Ctx) -> None:
    plugin_taking_bleu(ws)
    root = ws.root
    path = os.pathsep.join([str(root / "plug"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-m", "mt_eval", "score", "--testset", str(root / "ts"), "--hyp",
                           str(root / "good.txt"), "-m", "bleu", "-m", "chrf", "--resamples", "20", "-o",
                           str(root / "out")], capture_output=True, text=True, timeout=HANG_SECONDS * 3,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    note = "mte-shadow also registers metric 'bleu' (mte_shadow:Bleu); the built-in is used"
    assert proc.stderr.count(note) == 1, proc.stderr
    results = json.loads((root / "out" / "results.json").read_text(encoding="utf-8"))
    assert results["scores"]["good"]["bleu"]["score"] > 0  # the built-in BLEU scored


def test_closed_stdout_gate_regression_still_exits_1(pristine: Path, tmp_path: Path) -> None:
    """The closed pipe changes nothing but the printing: a failing gate still exits 1."""
    code, err = _mt_eval_reader_gone(["gate", "-b", pristine / "baseline.json", "-c", pristine / "run",
                                      "--min-score", "bleu=101", "--json", tmp_path / "v.json"], tmp_path)
    assert code == 1, err
    assert json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))["exit_code"] == 1


# ------------------------------------------------------------------ 3. the score parser
@pytest.mark.parametrize(("answer", "value"), [("85", 85.0), ("85/100", 85.0), ("-40", None), ("−40", None),
                                               ("150", None), ("0", 0.0), ("Score: 0-100 scale: 70", None)])
def test_negative_and_out_of_range_scores_are_failures(answer: str, value: float | None) -> None:
    from mt_eval.judges.parsing import JudgeParseError, parse_score

    if value is None:
        with pytest.raises(JudgeParseError):
            parse_score(answer)
    else:
        assert parse_score(answer) == value


# ------------------------------------------------------------------ 1. a real Ray head still connects
@pytest.mark.slow
def test_a_real_ray_head_passes_the_bounded_connect(ws: Ctx, capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    from mt_eval.cluster.probe import probe_ray_head
    from mt_eval.testing.ray_cluster import RayHead

    head = RayHead(num_cpus=1)
    try:
        head.wait_ready()
        started = time.monotonic()
        assert probe_ray_head("127.0.0.1", head.port, CONNECT_S) is None
        assert time.monotonic() - started < 1.0
        root = ws.root
        code, _, err, hung = run_guarded(capsys, root, [
            "score", "--testset", str(root / "ts"), "--hyp", str(root / "good.txt"), "-m", "bleu",
            "--resamples", "20", "--executor", "ray", "--ray-address", head.address, "-o", str(root / "out")])
        assert not hung and code == 0, err
        assert (root / "out" / "results.json").is_file()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        from mt_eval.cluster import executor

        executor._current.clear()
        head.stop()


# ------------------------------------------------------------------ 9. no stale claims after kill -9
_KILLED_RUN = """
import sys
from mt_eval.translators.registry import register_backend
register_backend("slow", "mt_eval.testing.backends:SlowTranslator")
from mt_eval.cli import main
main(sys.argv[1:])
"""
SLOW = "slow?delay=0.4&batch_size=1"


def _committed(cache: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM translations").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_claims_of_a_killed_run_are_gone_once_the_resumed_run_commits(
        ws: Ctx, capsys: pytest.CaptureFixture[str]) -> None:
    from mt_eval.translators.registry import register_backend, unregister_backend
    from mt_eval.workcache.store import TranslationCache

    root, cache = ws.root, ws.root.parent / "cache.sqlite"
    translate = ["translate", "-t", root / "ts", "-s", SLOW, "-o", root / "out", "--cache", cache]
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, *map(str, translate)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root / "cwd")
    try:
        deadline = time.monotonic() + HANG_SECONDS * 2
        while _committed(cache) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = _committed(cache)
    assert 2 <= done < len(SOURCES), f"the killed run committed {done} of {len(SOURCES)}: no kill mid-run"
    register_backend("slow", "mt_eval.testing.backends:SlowTranslator")
    try:
        code, _, err, hung = run_guarded(capsys, root, [str(a) for a in translate])
        assert not hung and code == 0, err
        code, out, err, _ = run_guarded(capsys, root, ["cache", "stats", "--cache", str(cache)])
        assert code == 0, err
    finally:
        unregister_backend("slow")
    with TranslationCache(cache) as store:
        rows = store.stats()
    assert [(r["segments"], r["claimed"]) for r in rows] == [(len(SOURCES), 0)], rows
    line = next(line for line in out.splitlines() if "slow" in line)
    assert line.strip("│| ").split()[-1] == "0", f"cache stats still reports claims: {line}"
