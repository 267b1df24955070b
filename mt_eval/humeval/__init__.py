"""Human evaluation round trip: annotation batches out of a run folder, judgements back in.

``mt-eval humeval export RUN -o batch/`` (:func:`mt_eval.humeval.export.export_batches`) writes, for
every evaluated system's output of every segment, one *item*; ``humeval import``
(:func:`mt_eval.humeval.annotations.import_annotations`) reads the judged items back and adds a
human metric to the run (:class:`mt_eval.humeval.metric.HumanMetric`).

Files of an export folder (all UTF-8):

- ``batch-NNN.tsv`` and ``batch-NNN.jsonl``: the same items, for annotators (TSV with a header row,
  fields quoted as by Python's ``csv`` module when they hold a tab, quote or newline; JSONL one object
  per line). Columns: ``item_id`` (opaque: it does not reveal the system), ``batch``, ``segment_id``,
  ``doc_id``, ``source``, ``hypothesis``, ``reference`` (absent with ``--no-reference``),
  ``context_before`` / ``context_after`` (previous/next source segment of the same document, ``""``
  at a document edge), and the columns to fill in: ``score`` (0–100), ``spans``, ``annotator``.
- ``key.json``: item id → ``{batch, segment_index, segment_id, system, hypothesis_sha256}``, with the
  run's name and test-set hash. Keep it away from annotators: it un-blinds the systems.

Annotation rows read by import: ``item_id`` (required), ``score`` (number 0–100, or empty/null),
``spans`` (a JSON list; in TSV a JSON-encoded list; empty = not annotated, ``[]`` = no error),
``annotator`` (optional: becomes the spans' ``source``); other columns are ignored. A span is
``{"start": int, "end": int, "severity": "minor|major|critical", "category": str?}`` with code-point
offsets into the hypothesis, or ``{"text": "quoted error", "severity": ...}`` to be located.
"""
