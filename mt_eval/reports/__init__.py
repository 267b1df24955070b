"""Results and reports: results.json, per-segment files, tables and the HTML report."""
