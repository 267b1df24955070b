"""The CI regression gate: baseline files, verdicts, exit codes."""
