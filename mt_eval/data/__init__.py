"""Data in: test sets, bilingual-document building, alignment, language ID and importers."""
