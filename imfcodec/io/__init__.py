"""Reading videos into model-sized RGB frames, and writing decoded frames out."""
