"""bit-finetune: fine-tune BigTransfer (BiT) image classifiers following the BiT-HyperRule."""

__version__ = "0.1.0"
