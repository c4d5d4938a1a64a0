"""Benchmarks of the werkregio pipeline: ``.venv/bin/python -m bench --scales 1 10 100`` writes docs/benchmarks.md.

Not a test suite: nothing here asserts timing. ``--quick`` runs 1x only (about a quarter of an hour
on 2 cores); the full run takes well over an hour, most of it the 100x builds.
"""
