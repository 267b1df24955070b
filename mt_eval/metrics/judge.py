"""LLM-judge metrics: ``gemba-esa`` and ``gemba-mqm`` (prompts in :mod:`mt_eval.judges.prompts`).

Spec: ``gemba-esa:samples=3,judge=openai:http://127.0.0.1:8000/v1?model=NAME``. Everything after ``judge=``
is the judge's system spec (with its own ``?key=value&...`` options), so ``judge=`` comes last.

Per segment score:

- ``gemba-esa``: the judge's 0–100 ESA score (step 2 of GEMBA-ESA, given its own step-1 error spans);
- ``gemba-mqm``: ``−penalty``, the negated weighted error count, as GEMBA-MQM reports it (Kocmi &
  Federmann 2023): with ``weights=gemba`` (default) minor 1, major 5, critical 25, at most 5 errors
  counted and the penalty capped at 25, so a segment scores from −25 to 0; ``weights=wmt`` uses 1/5/10
  without cap or count limit (see :mod:`mt_eval.spans`). Higher is better either way.

The corpus score is the mean over the segments the judge could score. Statistics per segment are
``[value, judged, failed]`` (float64): a judged segment is ``[score, 1, 0]``, a failed one ``[0, 0, 1]``.
The score is ``Σ value / Σ judged``, so a failed segment is *excluded* from the mean — in the corpus score,
every bootstrap resample and every paired test — instead of being counted as a zero (which would turn a
judge's formatting slip into the worst possible translation). The third column keeps the failure count
in the saved statistics, and :attr:`details` says why each failed (with the judge's raw answer). A run in
which no segment could be judged raises an error instead of reporting a score; a segment's sentence score
is NaN (``null`` in ``segments.jsonl``) when it failed. Caveat: two systems compared by a paired test are
each averaged over their own judged segments; compare their failure counts too.

A segment fails when no sample could be parsed: an empty answer, an answer without the error-list format or
the single 0–100 score (a negative one included), an answer far longer than ``max_tokens`` allows (a server
that ignores the cap: only its start is kept, :func:`mt_eval.judges.client.answer_limit`), or an answer cut
by ``max_tokens`` (a truncated error list would undercount errors;
GEMBA-ESA's score step has its own, short cap ``score_max_tokens``, 32 by default, since its answer is one
number — a judge that rambles there fails fast instead of after ``max_tokens``). ``samples=k`` asks each
segment k times (seeds ``seed..seed+k-1``; only useful with ``temperature > 0``): the segment's value is the
**mean over the parsed samples** (the usual way to reduce a sampled judge's variance; failed samples are
dropped and counted in ``usage``), and its spans are **those of the first parsed sample** — a union would
repeat the same error once per sample, and spans of different samples cannot be merged reliably, so one
coherent annotation is shown.

Error quotes are located in the hypothesis by :func:`mt_eval.spans.span_from_quote` (code-point offsets);
a quote that is absent (e.g. an omission quoted from the source) or ambiguous is an unlocated span. Spans
carry ``segment_id = str(segment index)``, ``system = ""`` and ``source = ""``; the run fills in the
segment id, the system and the metric key as the source (so two judges in one run stay apart).

A judge metric is never a default metric and is not in the CI gate's family unless a policy names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

import mt_eval
from mt_eval.errors import MtEvalError
from mt_eval.judges import prompts
from mt_eval.judges.client import JudgeAnswer, JudgeClient, JudgeRequest, Sampling
from mt_eval.judges.parsing import ErrorItem, JudgeParseError, parse_error_list, parse_score
from mt_eval.metrics.base import Metric, SegmentDetail
from mt_eval.spans import GEMBA_WEIGHTS, WMT_WEIGHTS, Span, mqm_penalty, span_from_quote

#: judge spec options that would carry a credential (``api_key_env`` names a variable and is fine)
_SECRET_KEY = re.compile(r"key|token|secret|pass|auth|bearer|credential")


class JudgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    judge: str = Field(min_length=1, description="the judge's system spec (llama-cpp:… or openai:…)")
    samples: int = Field(1, ge=1, le=32, description="answers per segment (mean of the parsed ones)")
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy")
    seed: int = Field(0, ge=0, description="sampling seed of sample 0 (sample k: seed + k)")
    max_tokens: int = Field(512, ge=1, le=65536, description="longest answer; a cut answer is a failure")
    reference: bool = Field(False, description="show the judge the first reference (GEMBA is reference-free)")
    source_lang: str | None = Field(None, min_length=1,
                                    description="source language in the prompt (default: the test set's)")
    target_lang: str | None = Field(None, min_length=1,
                                    description="target language in the prompt (default: the test set's)")
    cache: bool = Field(True, description="keep answers in the translation cache")
    cache_path: str | None = Field(None, description="cache file (default: $MT_EVAL_CACHE or .mt-eval-cache)")
    batch_size: int = Field(16, ge=1, le=100_000, description="requests per cache commit")


class ESAOptions(JudgeOptions):
    score_max_tokens: int = Field(32, ge=1, le=65536,
                                  description="longest answer of the score step (one number is expected)")


class MQMOptions(JudgeOptions):
    weights: Literal["gemba", "wmt"] = Field("gemba", description="severity weights (see mt_eval.spans)")


@dataclass
class _Sample:
    """One sample of one segment: its value, spans, or why it failed."""

    value: float | None = None
    items: list[ErrorItem] = field(default_factory=list)
    failure: str | None = None
    raw: str | None = None


class JudgeMetric(Metric):
    """Mean of per-segment judge scores over the judged segments; see the module docstring."""

    needs_sources: ClassVar[bool] = True
    reports_details: ClassVar[bool] = True
    gate_family_default: ClassVar[bool] = False
    run_only_options: ClassVar[frozenset[str]] = frozenset({"cache", "cache_path", "batch_size"})
    options_model: ClassVar[type[BaseModel] | None] = JudgeOptions
    config: JudgeOptions
    #: the severities the protocol knows
    severities: ClassVar[tuple[str, ...]] = ("critical", "major", "minor")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        base, _, query = self.config.judge.partition("?")
        keys = [pair.partition("=")[0].strip().lower() for pair in query.split("&") if pair]
        secret = next((k for k in keys if k != "api_key_env" and _SECRET_KEY.search(k)), None)
        if "@" in base or secret is not None:  # never echoed: the spec is printed and stored in results.json
            where = "URL" if "@" in base else f"options ({secret}=…)"
            raise MtEvalError(f"metric {self.name}: put no credentials in the judge {where}; name an"
                              " environment variable with ?api_key_env=NAME")
        self._client: JudgeClient | None = None

    # ------------------------------------------------------------------ languages
    def use_languages(self, source_lang: str, target_lang: str) -> None:
        """The test set's languages, for the prompt, unless the spec names them (a run calls this)."""
        updates = {key: value for key, value in (("source_lang", source_lang), ("target_lang", target_lang))
                   if getattr(self.config, key) is None and value}
        if updates:
            self.config = self.config.model_copy(update=updates)
            self.options.update(updates)
            self.close()  # the client names the old languages in its prompts

    def languages(self) -> tuple[str, str]:
        """(source, target) named in the prompt: the spec's, the test set's, else Arabic→English."""
        return self.config.source_lang or "ar", self.config.target_lang or "en"

    # ------------------------------------------------------------------ judge plumbing
    def client(self) -> JudgeClient:
        if self._client is None:
            c = self.config
            source_lang, target_lang = self.languages()
            self._client = JudgeClient(c.judge, name=self.name, langs=(source_lang, target_lang),
                                       sampling=Sampling(c.max_tokens, c.temperature, c.seed),
                                       batch_size=c.batch_size)
        return self._client

    def _open_cache(self) -> Any:
        if not self.config.cache:
            return None
        from mt_eval.workcache.store import TranslationCache

        return TranslationCache(Path(self.config.cache_path) if self.config.cache_path else None)

    def close(self) -> None:
        """Close the judge's client (its HTTP connections or loaded model); :meth:`client` reopens one."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ the contract
    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        hyps = list(hypotheses)
        refs = [[r] if isinstance(r, str) else list(r) for r in references]
        if sources is None:
            raise MtEvalError(f"metric {self.name}: an LLM judge needs the source segments")
        srcs = list(sources)
        if not len(hyps) == len(refs) == len(srcs):
            raise MtEvalError(f"metric {self.name}: {len(hyps)} hypotheses, {len(refs)} reference lists and"
                              f" {len(srcs)} sources")
        client = self.client()
        store = self._open_cache()
        client.cache = store
        try:
            samples, usage = self._judge(client, srcs, hyps, [prompts.first_reference(r) for r in refs])
        except MtEvalError as exc:  # the server's failure, named as this metric's judge
            text = str(exc)
            exc.args = (f"metric {self.name}: {'' if text.startswith('judge') else 'judge '}{text}",)
            raise
        finally:
            client.cache = None
            if store is not None:
                store.close()
        stats = np.zeros((len(hyps), 3), dtype=np.float64)
        details = []
        for i, per_sample in enumerate(samples):
            parsed = [s for s in per_sample if s.failure is None]
            use = dict(usage[i])
            use["samples_failed"] = float(len(per_sample) - len(parsed))
            if parsed:
                stats[i] = (float(np.mean([s.value for s in parsed])), 1.0, 0.0)
                spans = [self._span(item, hyps[i], i) for item in parsed[0].items]
                details.append(SegmentDetail(spans=spans, usage=use))
            else:
                stats[i] = (0.0, 0.0, 1.0)
                first = per_sample[0]
                details.append(SegmentDetail(failure=first.failure, raw=first.raw, usage=use))
        self.details = details
        return stats

    def _span(self, item: ErrorItem, hypothesis: str, index: int) -> Span:
        return span_from_quote(item.quote, hypothesis, segment_id=str(index), system="",
                               severity=item.severity, source="", category=item.category)

    def _judge(self, client: JudgeClient, sources: list[str], hyps: list[str],
               refs: list[str | None]) -> tuple[list[list[_Sample]], list[dict[str, float]]]:
        raise NotImplementedError

    def _parse_errors(self, answer: JudgeAnswer) -> _Sample:
        if answer.oversized:
            return _Sample(failure=_oversized(answer, "max_tokens", self.config.max_tokens), raw=answer.text)
        if answer.completion.truncated:
            return _Sample(failure=f"answer cut at max_tokens={self.config.max_tokens}", raw=answer.text)
        try:
            return _Sample(items=parse_error_list(answer.text, severities=self.severities), raw=answer.text)
        except JudgeParseError as exc:
            return _Sample(failure=f"unparseable error list: {exc}", raw=answer.text)

    def _ref(self, ref: str | None) -> str | None:
        return ref if self.config.reference else None

    @staticmethod
    def _usage(answers: Sequence[JudgeAnswer]) -> dict[str, float]:
        return {"prompt_tokens": float(sum(a.completion.prompt_tokens or 0 for a in answers)),
                "completion_tokens": float(sum(a.completion.completion_tokens or 0 for a in answers)),
                "seconds": float(sum(a.seconds for a in answers)), "requests": float(len(answers))}

    def score_from_stats(self, stats: np.ndarray) -> np.ndarray:
        s = np.asarray(stats, dtype=np.float64)
        judged = s[..., 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(judged > 0, s[..., 0] / np.where(judged > 0, judged, 1.0), np.nan)

    def corpus_score(self, stats: np.ndarray) -> float:
        arr = np.asarray(stats)
        if arr.ndim == 2 and arr.shape[0] and arr.shape[1] >= 2 and not float(arr[:, 1].sum()) > 0:
            raise MtEvalError(f"metric {self.name}: the judge could not score any of the {arr.shape[0]}"
                              " segments (see the failures in segments.jsonl, or re-run with a larger"
                              " max_tokens or another judge)")
        return super().corpus_score(stats)

    @staticmethod
    def failures(stats: np.ndarray) -> int:
        """Segments the judge could not score, read from the statistics' third column."""
        return int(np.asarray(stats)[:, 2].sum())

    def signature(self) -> dict[str, str]:
        c = self.config
        sig: dict[str, str] = {"judge": c.judge.split("?", 1)[0]}
        try:
            identity = self.client().signature()["judge"]
        except MtEvalError:  # the judge cannot be reached or loaded now: "?" = not known (_check_signature)
            identity = None
        if identity is None:
            sig["judge_model"] = "?"
        elif identity.get("backend") == "llama-cpp":
            sig["judge_model"] = (f"{identity['model']}|{identity['revision']}"
                                  f"|extra_buffers={identity['extra_buffers']}")
        elif identity.get("backend") == "openai":
            served = identity.get("served_model") or {}
            sig["judge_model"] = (f"{identity['model']}|served={served.get('id', '?')}"
                                  f"|{served.get('root', '')}")
        else:
            sig["judge_model"] = str(identity)
        sig.update({
            "prompt": f"{self.name}/{prompts.template_hash(self.name)}",
            "ref": "yes" if c.reference else "no",
            "langs": "-".join(self.languages()),
            "samples": str(c.samples), "temperature": f"{c.temperature:g}", "seed": str(c.seed),
            "max_tokens": str(c.max_tokens), "failures": "excluded",
        })
        sig.update(self._extra_signature())
        sig["version"] = mt_eval.__version__
        return sig

    def _extra_signature(self) -> dict[str, str]:
        return {}


def _oversized(answer: JudgeAnswer, option: str, cap: int) -> str:
    """Why an answer far beyond its cap failed (only its start was kept: see ``answer_limit``)."""
    return (f"answer of {answer.chars:,} characters, far beyond {option}={cap} (the judge ignored the cap;"
            f" its first {len(answer.text):,} characters are kept)")


class GembaESA(JudgeMetric):
    """GEMBA-ESA: error spans (major/minor), then a 0–100 score given them; mean over judged segments."""

    name = "gemba-esa"
    severities = ("major", "minor")
    options_model: ClassVar[type[BaseModel] | None] = ESAOptions
    config: ESAOptions

    def _judge(self, client: JudgeClient, sources: list[str], hyps: list[str],
               refs: list[str | None]) -> tuple[list[list[_Sample]], list[dict[str, float]]]:
        c = self.config
        langs = dict(zip(("source_lang", "target_lang"), self.languages(), strict=True))
        n, k = len(hyps), c.samples
        step1 = client.ask([JudgeRequest(prompts.esa_span_messages(sources[i], hyps[i], self._ref(refs[i]),
                                                                   **langs), s)
                            for i in range(n) for s in range(k)])
        samples = [[self._parse_errors(step1[i * k + s]) for s in range(k)] for i in range(n)]
        wanted = [(i, s) for i in range(n) for s in range(k) if samples[i][s].failure is None]
        step2 = client.ask([JudgeRequest(prompts.esa_score_messages(
            sources[i], hyps[i], step1[i * k + s].text, self._ref(refs[i]), **langs), s, c.score_max_tokens)
            for i, s in wanted])
        answers: list[list[JudgeAnswer]] = [list(step1[i * k:(i + 1) * k]) for i in range(n)]
        for (i, s), answer in zip(wanted, step2, strict=True):
            answers[i].append(answer)
            sample = samples[i][s]
            if answer.oversized:
                sample.failure = _oversized(answer, "score_max_tokens", c.score_max_tokens)
                sample.raw = answer.text
                continue
            if answer.completion.truncated:
                sample.failure = f"score cut at score_max_tokens={c.score_max_tokens}"
                sample.raw = answer.text
                continue
            try:
                sample.value = parse_score(answer.text)
            except JudgeParseError as exc:
                sample.failure, sample.raw = f"unparseable score: {exc}", answer.text
        return samples, [self._usage(a) for a in answers]

    def _extra_signature(self) -> dict[str, str]:
        return {"score_max_tokens": str(self.config.score_max_tokens)}


class GembaMQM(JudgeMetric):
    """GEMBA-MQM: error spans with three severities; segment score −penalty, mean over judged segments."""

    name = "gemba-mqm"
    options_model: ClassVar[type[BaseModel] | None] = MQMOptions
    config: MQMOptions

    def _judge(self, client: JudgeClient, sources: list[str], hyps: list[str],
               refs: list[str | None]) -> tuple[list[list[_Sample]], list[dict[str, float]]]:
        c = self.config
        n, k = len(hyps), c.samples
        source_lang, target_lang = self.languages()
        answers = client.ask([JudgeRequest(prompts.mqm_messages(sources[i], hyps[i], self._ref(refs[i]),
                                                                source_lang=source_lang,
                                                                target_lang=target_lang), s)
                              for i in range(n) for s in range(k)])
        samples = []
        for i in range(n):
            row = []
            for s in range(k):
                sample = self._parse_errors(answers[i * k + s])
                if sample.failure is None:
                    sample.value = -self.penalty([{"severity": e.severity} for e in sample.items])
                row.append(sample)
            samples.append(row)
        return samples, [self._usage(answers[i * k:(i + 1) * k]) for i in range(n)]

    def penalty(self, spans: Sequence[Any]) -> float:
        if self.config.weights == "gemba":
            return mqm_penalty(spans, GEMBA_WEIGHTS, max_errors=5, cap=25.0)
        return mqm_penalty(spans, WMT_WEIGHTS)

    def _extra_signature(self) -> dict[str, str]:
        return {"weights": "gemba(1/5/25,max5,cap25)" if self.config.weights == "gemba" else "wmt(1/5/10)"}
