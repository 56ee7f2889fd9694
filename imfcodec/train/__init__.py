"""Training the IMF model: data, losses, the loop."""
