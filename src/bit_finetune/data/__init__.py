"""Image sources and what is made of them before any pixel is read: the source contract,
the image sources themselves (an image folder, the digits, a TFDS dataset), the image
index, the splits and the walk of a folder."""
