"""Benchmarks that measure segment-gui against baseline programs in the same run.

Run `python -m benchmarks` from the repository root; `python -m benchmarks --help` lists the
options. docs/BENCHMARKS.md describes each benchmark and the latest results.
"""
