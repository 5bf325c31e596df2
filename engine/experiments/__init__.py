"""Experiments in the service: champion, challengers, shadows, exploration, guardrails.

See docs/experiments.md. The file is named by ``TACT_EXPERIMENT_FILE``.
"""
