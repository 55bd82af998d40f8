"""Kedro-free training library: schedule, input pipeline, strategy, loop and export."""
