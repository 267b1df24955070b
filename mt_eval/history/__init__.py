"""Quality over time (``mt-eval history``): many run folders → one static page.

:mod:`mt_eval.history.collect` finds and reads the runs (through
:class:`mt_eval.reports.run_folder.RunFolder`) and orders them; :mod:`mt_eval.history.series` groups
their scores into lines (one per system × metric × test set × metric signature) and tests each step
between consecutive points with the run's own paired test (:func:`mt_eval.evaluate.paired_tests`) on
the saved statistics; :mod:`mt_eval.history.site` draws the page and writes the publishable folder in
one swap.
"""
