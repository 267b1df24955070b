"""Translators: a batch-first interface, a lazy registry of backends, the runner that translates a test
set through the work cache (:mod:`mt_eval.workcache`)."""
