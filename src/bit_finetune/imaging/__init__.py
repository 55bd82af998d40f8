"""Kedro-free image handling with Pillow (no TensorFlow, so pool workers start fast).

``probe`` reads what an encoded image is without trusting it; ``plots`` draws the
profile's figures (Matplotlib, imported only with it).
"""

from bit_finetune.imaging.probe import MAX_PIXELS, ImageProbe, probe, probe_reads

__all__ = ["MAX_PIXELS", "ImageProbe", "probe", "probe_reads"]
