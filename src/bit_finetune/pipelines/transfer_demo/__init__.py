"""Transfer demo: pretrain upstream, fine-tune downstream from it and from random init,
compare the two."""

from bit_finetune.pipelines.transfer_demo.pipeline import transfer_demo

__all__ = ["transfer_demo"]
