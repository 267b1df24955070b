"""LLM judges of translation quality: prompts (:mod:`.prompts`), answer parsing (:mod:`.parsing`) and the
cached judge client (:mod:`.client`). The metrics that use them are in :mod:`mt_eval.metrics.judge`."""
