"""obs/: the logic behind `cal obs …` (start, stop, status, port checks, evidence files).

Rules: each command is a function taking plain values and returning a result record; the cyclopts
layer only parses flags. Every command given --evidence-dir writes one JSON evidence file there.
"""
