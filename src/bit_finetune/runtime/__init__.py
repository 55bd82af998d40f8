"""What the machine decides: the cluster a process belongs to, the ``tf.distribute``
strategy, the precision policy and XLA."""
