"""Fine-grained, compare-mt-style analysis of a run: scores by reference-length, source-length and
reference word-frequency bucket (with bootstrap CIs from the per-segment statistics), word-level match
F-measure by frequency bucket, and the n-grams one system matches in the reference and another misses.

``model`` holds the ``results.json`` schema (imported by :mod:`mt_eval.reports.results`), ``text`` the
word and n-gram matching, ``core`` :func:`mt_eval.analysis.core.analyse`. Nothing is re-exported here, so
importing the schema does not import numpy-heavy code.
"""
