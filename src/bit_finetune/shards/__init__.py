"""TFRecord shards: the record schema, the shard plan that streams encoded records, the
shard set that writes and checks them, and the transforms that turn a parsed record into a
training or evaluation example."""
