"""Hostile and broken servers: redirects, echoed keys, Retry-After, 200s without a translation, bad usage."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FaultyServer, RedirectServer
from helpers.cli import run_cli
from helpers.corpora import make_testset

from mt_eval.errors import MtEvalError, SystemFailed
from mt_eval.translators.openai_http import parse_retry_after, retry_delay
from mt_eval.translators.registry import create_translator
from mt_eval.translators.runner import translate_testset
from mt_eval.workcache.store import TranslationCache

FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 2.0, "concurrency": 2}
KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


@pytest.mark.parametrize("status", [307, 302])
def test_redirect_to_another_origin_never_carries_the_key(server: FaultyServer, status: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_FOR_TEST", KEY)
    with RedirectServer(server.url, status=status) as front:
        translator = create_translator(f"openai:{front.url}?model=m&api_key_env=KEY_FOR_TEST",
                                       {**FAST, "max_retries": 0})
        try:
            if status == 307:  # method and body kept: the second origin answers
                assert translator.translate(["a"]) == ["EN:a"]
            else:  # a 302 turns the POST into a GET, which the fake server does not answer
                with pytest.raises(SystemFailed):
                    translator.translate(["a"])
        finally:
            translator.close()
        assert front.headers and all(h.get("Authorization") == f"Bearer {KEY}" for h in front.headers)
    if status == 307:
        assert server.headers, "the redirect was not followed"
    assert all("Authorization" not in h and "authorization" not in h for h in server.headers)


def test_a_401_that_echoes_the_key_is_redacted_in_the_error_and_on_the_cli(
        server: FaultyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KEY_FOR_TEST", KEY)
    server.faults = {s: ["401-echo"] for s in [*make_testset(2).sources, "x"]}
    make_testset(2).save(tmp_path / "ts")
    spec = f"openai:{server.url}?model=m&api_key_env=KEY_FOR_TEST"
    translator = create_translator(spec, FAST)
    with pytest.raises(SystemFailed) as info:
        translator.translate(["x"])
    translator.close()
    message = str(info.value)
    assert "HTTP 401" in message and "invalid key" in message and "***" in message
    assert KEY not in message and "SECRET" not in message
    code, out, err = run_cli(capsys, "translate", "-t", tmp_path / "ts", "-s", spec, "-o", tmp_path / "out",
                             "--no-cache", "-q")
    assert code == 2 and "HTTP 401" in err
    assert KEY not in out + err and "SECRET" not in out + err
    assert not (tmp_path / "out").exists()


def test_retry_after_is_honoured_and_capped_by_max_backoff(server: FaultyServer) -> None:
    server.faults = {"a": ["retry-after:0.4", "retry-after:0.4"]}
    translator = create_translator(f"openai:{server.url}?model=m", {**FAST, "max_backoff": 5.0})
    t0 = time.perf_counter()
    assert translator.translate(["a"]) == ["EN:a"]
    assert time.perf_counter() - t0 >= 0.8  # two waits of the server's 0.4 s, not 0.01 s backoff
    server.faults = {"b": ["retry-after:120"]}
    capped = create_translator(f"openai:{server.url}?model=m", {**FAST, "max_backoff": 0.2})
    t0 = time.perf_counter()
    assert capped.translate(["b"]) == ["EN:b"]
    assert time.perf_counter() - t0 < 5


def test_retry_delay_jitter_and_retry_after_parsing() -> None:
    rng = random.Random(1)
    delays = [retry_delay(3, backoff=0.5, max_backoff=20, retry_after=None, rng=rng) for _ in range(50)]
    assert all(2.0 <= d <= 4.0 for d in delays) and len(set(delays)) > 40  # jittered around 0.5 * 2**3
    assert retry_delay(30, backoff=0.5, max_backoff=3, retry_after=None, rng=rng) <= 3
    assert retry_delay(0, backoff=0.5, max_backoff=3, retry_after=100, rng=rng) == 3
    assert parse_retry_after("7") == 7 and parse_retry_after("-3") == 0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


@pytest.mark.parametrize("fault", ["error-200", "no-choices", "null", "number", "empty"])
def test_200_without_a_translation_is_retried(server: FaultyServer, fault: str) -> None:
    server.faults = {"a": [fault, fault]}
    translator = create_translator(f"openai:{server.url}?model=m", FAST)
    assert translator.translate(["a", "b"]) == ["EN:a", "EN:b"]
    assert len(server.requests) == 3 + 1  # two bad replies for "a", then its translation; one for "b"


@pytest.mark.parametrize(("fault", "message"), [
    ("error-200", "model overloaded, try later"), ("no-choices", "without choices"),
    ("null", r"null content \(finish_reason=content_filter\)"), ("number", "int content"),
])
def test_a_reply_without_translation_is_never_cached(server: FaultyServer, tmp_path: Path, fault: str,
                                                     message: str) -> None:
    ts = make_testset(3)
    bad = ts.sources[1]
    server.faults = {bad: [fault] * 3}
    spec = f"openai:{server.url}?model=m"
    db = tmp_path / "c.sqlite"
    with pytest.raises(SystemFailed, match=message) as info:
        translate_testset(ts, spec, options={**FAST, "max_retries": 2}, cache=db, progress=False)
    assert "gave up after 3 attempts" in str(info.value)
    with TranslationCache(db) as cache:
        assert cache.count() == 0  # the whole batch failed: nothing of it, above all not the null
    again = translate_testset(ts, spec, options={**FAST, "max_retries": 2}, cache=db, progress=False)
    assert again.outputs == [" ".join(f"EN:{s}".split()) for s in ts.sources]


@pytest.mark.parametrize("fault", ["bad-usage", "usage-list"])
def test_malformed_usage_means_unknown_tokens_not_a_traceback(server: FaultyServer, fault: str) -> None:
    server.faults = {"a": [fault]}
    translator = create_translator(f"openai:{server.url}?model=m", FAST)
    assert translator.translate(["a", "b"]) == ["EN:a", "EN:b"]
    assert translator.last_output_tokens is None  # one unknown count: fall back to counting words


def test_connection_pool_is_reused_and_closed(server: FaultyServer) -> None:
    translator = create_translator(f"openai:{server.url}?model=m", FAST)
    translator.translate(["a", "b", "c"])
    client = translator.client()  # type: ignore[attr-defined]
    translator.translate(["d"])
    assert translator.client() is client  # type: ignore[attr-defined]
    translator.close()
    assert client.is_closed


@pytest.mark.parametrize(("spec", "options", "field"), [
    ("openai:http://127.0.0.1:9/v1?model=m", {"max_retries": -1}, "max_retries"),
    ("openai:http://127.0.0.1:9/v1?model=m", {"timeout": -1}, "timeout"),
    ("openai:http://127.0.0.1:9/v1?model=m", {"timeout": 0}, "timeout"),
    ("openai:http://127.0.0.1:9/v1?model=m", {"batch_size": 0}, "batch_size"),
    ("openai:http://127.0.0.1:9/v1?model=m", {"concurrency": 0}, "concurrency"),
    ("openai:http://127.0.0.1:9/v1?model=m", {"backoff": -0.5}, "backoff"),
    ("openai:http://127.0.0.1:9/v1?model=m", {"max_tokens": 0}, "max_tokens"),
    ("llama-cpp:default", {"n_ctx": 0}, "n_ctx"),
    ("llama-cpp:default", {"batch_size": 0}, "batch_size"),
    ("llama-cpp:default", {"max_tokens_ratio": 0}, "max_tokens_ratio"),
    ("ct2:/nowhere", {"beam_size": 0}, "beam_size"),
    ("ct2:/nowhere", {"max_length": -5}, "max_length"),
    ("marian:/nowhere", {"threads": 0}, "threads"),
    ("marian:/nowhere", {"batch_size": -1}, "batch_size"),
    ("file:x.txt", {"format": "csv"}, "format"),
])
def test_options_are_bounded_in_every_backend(spec: str, options: dict, field: str) -> None:
    with pytest.raises(MtEvalError, match=rf"option {field}: ") as info:
        create_translator(spec, options)
    assert "\n" not in str(info.value)


def test_every_backend_option_has_a_description() -> None:
    from mt_eval.translators.registry import available_backends, load_backend

    for name in available_backends():
        if name == "copy":
            continue
        cls = load_backend(name)
        undocumented = [k for k, f in cls.Options.model_fields.items() if not f.description]
        assert not undocumented, (name, undocumented)


def test_translate_exits_2_naming_the_failed_system_and_keeps_earlier_outputs(
        server: FaultyServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ts = make_testset(3)
    ts.save(tmp_path / "ts")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "translate", "-t", tmp_path / "ts", "-s", "copy", "-o", out, "--no-cache",
                           "-q")
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    server.faults = {s: ["500"] * 10 for s in ts.sources}
    spec = f"openai:{server.url}?model=m&max_retries=1&backoff=0.01&max_backoff=0.02"
    args = ["translate", "-t", str(tmp_path / "ts"), "-s", "copy", "-s", spec, "-o", str(out), "--no-cache",
            "-q"]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    last = err.strip().splitlines()[-1]  # earlier lines: the systems that did translate
    assert last.startswith("mt-eval: error: ") and err.count("mt-eval: error") == 1
    assert "gave up after 2 attempts (HTTP 500" in last and server.url in last
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing half-replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left behind
    code, _, err = run_cli(capsys, *args, "--allow-skip")
    assert code == 0, err
    assert "failed" in err and "HTTP 500" in err
    summary = json.loads((out / "translations.json").read_text(encoding="utf-8"))
    assert summary["systems"][spec]["status"] == "failed"
    assert "HTTP 500" in summary["systems"][spec]["reason"]
    assert summary["systems"]["copy"]["status"] == "ok"
    assert oct((out / "copy.txt").stat().st_mode & 0o777) != oct(0o600)


def test_translate_refuses_an_output_folder_it_did_not_write(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    make_testset(2).save(tmp_path / "ts")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.md").write_text("keep me", encoding="utf-8")
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    for target, fragment in (("mine", "notes.md"), ("afile", "not a folder")):
        code, _, err = run_cli(capsys, "translate", "-t", tmp_path / "ts", "-s", "copy",
                               "-o", tmp_path / target, "--no-cache", "-q")
        assert code == 2 and fragment in err and err.count("\n") == 1
    assert (tmp_path / "mine" / "notes.md").read_text(encoding="utf-8") == "keep me"


def test_translate_through_a_symlinked_output_keeps_the_link(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    ts = make_testset(2)
    ts.save(tmp_path / "ts")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    code, _, err = run_cli(capsys, "translate", "-t", tmp_path / "ts", "-s", "copy", "-o", tmp_path / "link",
                           "--no-cache", "-q")
    assert code == 0, err
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "real" / "copy.txt").read_text(encoding="utf-8").splitlines() == ts.sources
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real", "ts"]


def test_run_exits_2_when_a_system_fails(server: FaultyServer, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ts = make_testset(3)
    ts.save(tmp_path / "ts")
    server.faults = {s: ["503"] * 10 for s in ts.sources}
    spec = f"openai:{server.url}?model=m&max_retries=1&backoff=0.01&max_backoff=0.02"
    code, _, err = run_cli(capsys, "run", "--testset", tmp_path / "ts", "-s", "copy", "-s", spec,
                           "-m", "bleu", "-o", tmp_path / "run")
    assert code == 2 and "HTTP 503" in err and server.url in err
    assert err.strip().splitlines()[-1].startswith("mt-eval: error: ")
    code, _, err = run_cli(capsys, "run", "--testset", tmp_path / "ts", "-s", "copy", "-s", spec,
                           "-m", "bleu", "-o", tmp_path / "run", "--allow-skip")
    assert code == 0, err
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    failed = [info for info in results["systems"].values() if info["status"] != "ok"]
    assert len(failed) == 1 and "failed while running" in failed[0]["reason"]
    assert "HTTP 503" in failed[0]["reason"]
