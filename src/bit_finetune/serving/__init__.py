"""A trained classifier put to use: the serving module exported as a SavedModel, and
prediction over a folder of images."""
