"""Several OpenAI-compatible servers behind one system: ``openai:URL1,URL2?model=M``.

Two (or three) fake servers on 127.0.0.1: requests are spread over them, a server that is down or keeps
failing is set aside and the other takes all its work, the outputs equal a one-server run's, the
signature does not depend on which server answered (the cache is shared whatever the server list), and
the key still goes to the listed origins only and is never printed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FaultyServer, RedirectServer
from helpers.cli import run_cli
from helpers.corpora import make_testset

from mt_eval.errors import MtEvalError, SystemFailed
from mt_eval.translators.registry import create_translator
from mt_eval.translators.runner import translate_testset

FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 2.0, "concurrency": 2}
KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def two() -> Iterator[tuple[FaultyServer, FaultyServer]]:
    with FaultyServer() as a, FaultyServer() as b:
        yield a, b


def _expected(sources: list[str]) -> list[str]:
    """What the fake server answers, as the backend returns it (whitespace normalised)."""
    return [" ".join(f"EN:{s}".split()) for s in sources]


def _dead_url() -> str:
    """The URL of a server that has stopped: its port refuses connections."""
    with FaultyServer() as gone:
        url = gone.url
    return url


def _translate(spec: str, sources: list[str], **options: object) -> tuple[list[str], object]:
    translator = create_translator(spec, {**FAST, **options})
    try:
        return translator.translate(sources), translator
    finally:
        translator.close()


def test_requests_are_spread_over_both_servers_and_outputs_equal_one_server(
        two: tuple[FaultyServer, FaultyServer]) -> None:
    a, b = two
    sources = make_testset(20).sources
    alone, _ = _translate(f"openai:{a.url}?model=m", sources)
    a.requests.clear()
    both, translator = _translate(f"openai:{a.url},{b.url}?model=m", sources)
    assert both == alone == _expected(sources)
    assert len(a.requests) + len(b.requests) == len(sources)  # each segment once
    assert len(a.requests) >= 6 and len(b.requests) >= 6  # round robin, whatever the thread timing
    assert translator.where == f"{a.url},{b.url}"  # type: ignore[attr-defined]


def test_signature_names_the_model_not_the_server_and_the_urls_are_recorded(
        two: tuple[FaultyServer, FaultyServer]) -> None:
    a, b = two
    with FaultyServer() as c:
        sigs = [create_translator(f"openai:{urls}?model=m", FAST).signature()
                for urls in (f"{a.url},{b.url}", f"{b.url},{a.url}", f"{a.url},{b.url},{c.url}")]
        assert sigs[0] == sigs[1] == sigs[2]
        assert all(u not in str(sigs[0]) for u in (a.url, b.url, c.url)) and sigs[0]["model"] == "m"
        single = create_translator(f"openai:{a.url}?model=m", FAST).signature()
        assert single["url"] == f"{a.url}/chat/completions"  # one server: unchanged (caches stay valid)
        env = create_translator(f"openai:{b.url},{a.url}?model=m", FAST).environment()
        assert env["servers"] == [b.url, a.url]


def test_the_cache_is_shared_whatever_servers_answer(two: tuple[FaultyServer, FaultyServer],
                                                     tmp_path: Path) -> None:
    a, b = two
    ts = make_testset(8)
    db = tmp_path / "cache.sqlite"
    first = translate_testset(ts, f"openai:{a.url},{b.url}?model=m", options=FAST, cache=db, progress=False)
    with FaultyServer() as c:
        again = translate_testset(ts, f"openai:{b.url},{c.url}?model=m", options=FAST, cache=db,
                                  progress=False)
        assert c.requests == []  # everything came from the cache
    assert again.outputs == first.outputs and again.signature == first.signature
    assert first.environment["servers"] == [a.url, b.url]


def test_a_server_that_is_down_is_set_aside_and_the_other_takes_all(two: tuple[FaultyServer, FaultyServer]
                                                                   ) -> None:
    a, _ = two
    sources = make_testset(30).sources
    outputs, translator = _translate(f"openai:{_dead_url()},{a.url}?model=m", sources,
                                     server_failures=2, server_cooldown=60, max_retries=5)
    assert outputs == _expected(sources)
    assert len(a.requests) == len(sources)  # every segment answered once, by the live server
    dead = translator.http.servers[0]  # type: ignore[attr-defined]
    # the dead server got no more than server_failures attempts plus those already in flight
    assert dead.requests <= 2 + FAST["concurrency"]  # type: ignore[operator]
    assert dead.down_until > time.monotonic()


def test_a_failing_server_is_set_aside_until_its_cooldown_ends(
        two: tuple[FaultyServer, FaultyServer]) -> None:
    a, b = two
    sources = [f"s{i}" for i in range(12)]
    a.faults = {s: ["503"] * 5 for s in sources}  # a answers 503 to everything (five times per source)
    outputs, translator = _translate(f"openai:{a.url},{b.url}?model=m", sources,
                                     server_failures=3, server_cooldown=0.3, concurrency=1)
    assert outputs == [f"EN:{s}" for s in sources]
    assert len(a.requests) == 3 and len(b.requests) == len(sources)  # set aside after three 503s
    time.sleep(0.35)  # cool-down over: a gets requests again (and a success clears its count)
    a.faults = {}
    outputs, _ = _translate_with(translator, ["t1", "t2", "t3", "t4"])
    assert outputs == ["EN:t1", "EN:t2", "EN:t3", "EN:t4"] and len(a.requests) > 3


def _translate_with(translator: object, sources: list[str]) -> tuple[list[str], object]:
    try:
        return translator.translate(sources), translator  # type: ignore[attr-defined]
    finally:
        translator.close()  # type: ignore[attr-defined]


def test_retry_after_is_kept_when_the_retry_goes_to_another_server(
        two: tuple[FaultyServer, FaultyServer]) -> None:
    a, b = two
    a.faults = {"x": ["retry-after:0.5"]}
    b.faults = {"x": ["retry-after:0.5"]}
    t0 = time.perf_counter()
    outputs, _ = _translate(f"openai:{a.url},{b.url}?model=m", ["x"], max_backoff=5.0, concurrency=1)
    assert outputs == ["EN:x"] and time.perf_counter() - t0 >= 1.0  # two waits of the servers' 0.5 s
    assert len(a.requests) + len(b.requests) == 3 and a.requests and b.requests


def test_every_server_down_fails_the_system_naming_a_server_and_caches_nothing(tmp_path: Path) -> None:
    first, second = _dead_url(), _dead_url()
    ts = make_testset(3)
    with pytest.raises(SystemFailed, match="gave up after 3 attempts") as info:
        translate_testset(ts, f"openai:{first},{second}?model=m", options={**FAST, "max_retries": 2},
                          cache=tmp_path / "c.sqlite", progress=False)
    assert "connection failed" in str(info.value)
    assert first in str(info.value) or second in str(info.value)


def test_the_key_goes_to_each_listed_server_only_and_is_never_printed(
        two: tuple[FaultyServer, FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    a, elsewhere = two
    monkeypatch.setenv("KEY_FOR_TEST", KEY)
    with RedirectServer(elsewhere.url, status=307) as front:  # a listed server that redirects elsewhere
        spec = f"openai:{a.url},{front.url}?model=m&api_key_env=KEY_FOR_TEST"
        outputs, _ = _translate(spec, [f"s{i}" for i in range(6)])
        assert outputs == [f"EN:s{i}" for i in range(6)]
        assert a.headers and all(h.get("Authorization") == f"Bearer {KEY}" for h in a.headers)
        assert front.headers and all(h.get("Authorization") == f"Bearer {KEY}" for h in front.headers)
        assert elsewhere.headers and all("Authorization" not in h and "authorization" not in h
                                         for h in elsewhere.headers)
    a.faults = {s: ["401-echo"] for s in make_testset(2).sources}
    make_testset(2).save(tmp_path / "ts")
    code, out, err = run_cli(capsys, "translate", "-t", tmp_path / "ts", "-s",
                             f"openai:{a.url},{_dead_url()}?model=m&api_key_env=KEY_FOR_TEST&max_retries=0",
                             "-o", tmp_path / "out", "--no-cache", "-q")
    assert code == 2 and KEY not in out + err and "SECRET" not in out + err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("target", "fragment"), [
    ("http://127.0.0.1:1/v1,ftp://127.0.0.1:2/v1", "needs a base URL"),
    ("http://127.0.0.1:1/v1,", "needs a base URL"),
    ("http://127.0.0.1:1/v1,http://127.0.0.1:1/v1/", "listed twice"),
])
def test_bad_server_lists_are_one_line_errors(target: str, fragment: str) -> None:
    with pytest.raises(MtEvalError, match=fragment):
        create_translator(f"openai:{target}?model=m")
