"""Translators: a batch-first interface, a lazy registry of backends, a translation cache."""
