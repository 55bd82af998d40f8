"""The bottom layer: file operations (staged writes, sizes, hashes), the run lock, and the
architecture and published-weights tables. Plain Python, no TensorFlow, no Kedro."""
