"""Token quantisation and entropy coding."""
