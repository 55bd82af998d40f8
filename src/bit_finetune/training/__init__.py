"""Kedro-free training library: the HyperRule schedule, the input pipeline, the loop,
checkpoints and workspaces, head-only features and the training curves."""
