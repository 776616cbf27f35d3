"""Micro-benchmarks for the CDK app; run e.g. ``python -m benchmarks.synth``."""
