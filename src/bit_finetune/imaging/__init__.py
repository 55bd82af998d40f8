"""Kedro-free image handling with Pillow (no TensorFlow, so pool workers start fast).

``probe`` reads what an encoded image is without trusting it; ``profile`` tabulates and
summarises the probes; ``screening`` keeps or rejects images by their profile; ``encode``
resizes and re-encodes them for the shards; ``plots`` draws the profile's figures
(Matplotlib, imported only with it).
"""

from bit_finetune.imaging.probe import MAX_PIXELS, ImageProbe, probe, probe_reads

__all__ = ["MAX_PIXELS", "ImageProbe", "probe", "probe_reads"]
