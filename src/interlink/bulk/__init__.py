"""Bulk: query jobs to files, uploads with per-row results."""
