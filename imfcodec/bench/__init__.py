"""`imfcodec bench`: rate-distortion sweeps of imfcodec and conventional anchors, BD-rate, plots."""
