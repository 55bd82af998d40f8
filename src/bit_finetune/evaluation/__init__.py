"""Evaluate a trained classifier: distributed inference, metrics, figures and the report.

Kedro-free. ``metrics`` needs only NumPy, ``plots`` only Matplotlib, ``report`` (the
Markdown run report) only pandas; ``inference`` runs the model with TensorFlow under a
``tf.distribute`` strategy.
"""
