"""Metrics: per-segment sufficient statistics and a score from their sum (sacrebleu's design)."""
