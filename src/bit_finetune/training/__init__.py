"""Kedro-free training library: schedule, input pipeline, strategy, loop, export and
the training curves."""
