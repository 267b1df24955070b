"""The ``analysis`` part of ``results.json`` (schema 4): plain pydantic models, nothing computed here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BucketScore(_Model):
    """A metric's score on one bucket's segments, with its percentile bootstrap CI (``None``: undefined,
    e.g. a judge that could score none of the bucket's segments)."""

    score: float | None
    ci_low: float | None = None
    ci_high: float | None = None


class Bucket(_Model):
    label: str
    segments: int
    # system -> metric key -> score on this bucket's segments
    scores: dict[str, dict[str, BucketScore]] = Field(default_factory=dict)


class Bucketing(_Model):
    """Segments split by one property (``ref_length``, ``src_length``, ``ref_frequency``)."""

    name: str
    title: str
    description: str
    buckets: list[Bucket] = Field(default_factory=list)


class WordScore(_Model):
    """compare-mt's word accuracy of one system on one frequency bucket: reference and output words in
    the bucket, the clipped matches, precision, recall and F-measure (0-1), the F-measure's CI."""

    matches: int
    out_words: int
    precision: float
    recall: float
    fmeasure: float
    ci_low: float | None = None
    ci_high: float | None = None


class WordBucket(_Model):
    label: str
    ref_words: int
    systems: dict[str, WordScore] = Field(default_factory=dict)


class NgramCount(_Model):
    ngram: str
    n: int
    count: int


class PairNgrams(_Model):
    """For systems ``a`` and ``b``: reference n-gram occurrences that one matches and the other does not
    (per segment, clipped as BLEU clips), most frequent first, at most ``cap`` each way."""

    a: str
    b: str
    a_only: list[NgramCount] = Field(default_factory=list)
    b_only: list[NgramCount] = Field(default_factory=list)
    a_only_total: int = 0  # every such occurrence, also those past the cap
    b_only_total: int = 0


class Analysis(_Model):
    """Empty (``bucketings == []``) for runs before schema 4 or with ``analysis = false``."""

    words: str = ""  # how words are found, e.g. "whitespace-separated tokens of the first reference"
    frequency_source: str = ""  # "test-set references" or the corpus file's name
    metrics: list[str] = Field(default_factory=list)  # metric keys with bucket scores
    n_resamples: int = 0
    confidence: float = 0.0
    seed: int | None = None
    bucketings: list[Bucketing] = Field(default_factory=list)
    word_buckets: list[WordBucket] = Field(default_factory=list)
    max_ngram: int = 4
    ngram_cap: int = 0
    ngrams: list[PairNgrams] = Field(default_factory=list)
