"""Benchmarks: CODAL-Bench (coding preferences, LLM-judged against references)."""
