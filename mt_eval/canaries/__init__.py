"""Metric canaries: does a metric get worse when a good translation is damaged in ways that matter, and
stay when nothing that matters changed — on the user's own test set, for every metric plugin.

``perturbations`` (the seeded changes), ``runner`` (scoring them through the metric contract and judging
each metric × canary), ``report`` (``canaries.json``, the terminal table, the report section),
``verdict`` (:func:`canary_verdict`, for the CI gate).
"""
