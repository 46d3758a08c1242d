"""Polling: asking vendors what changed and turning the answers into change events.

`streams` keeps one EventStream per polled object of an instance; `scheduler` queues the
polls that are due and `tasks` registers the poll job; `requests` serves "poll now".
One poll (`poll`) claims its stream (`run`), then runs its steps — `listing` (baseline,
changes since the mark, full scans compared by `full_scan`) and `deletes` — committing
each page's events, fingerprints (`classify`, `fingerprint_store`), marks (`marks`) and
checkpoint (`progress`) together (`commit`).
"""
