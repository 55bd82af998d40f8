"""Evaluate a trained classifier: distributed inference, metrics and report figures.

Kedro-free. ``metrics`` needs only NumPy, ``plots`` only Matplotlib; ``inference`` runs the
model with TensorFlow under a ``tf.distribute`` strategy.
"""
