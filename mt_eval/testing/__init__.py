"""Fixtures shared by the test suite and the benchmark scripts: a tiny MarianMT trained in seconds on
template sentence pairs, a test-only translator backend and a local Ray cluster (fixtures only the tests
use are in ``tests/helpers/``).

Nothing in the library imports this package; its heavy imports (torch, transformers, Ray) happen inside
the functions that need them.
"""
