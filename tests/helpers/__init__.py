"""Fixtures only the tests use (``tests/`` is on ``sys.path`` through pytest's ``pythonpath``); those the
benchmark scripts share with the tests live in :mod:`mt_eval.testing`."""
