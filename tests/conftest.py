"""Project-wide test set-up: this folder is on ``sys.path``, so tests import ``mini_corpus``."""
