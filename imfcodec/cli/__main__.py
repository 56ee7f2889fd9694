"""`python -m imfcodec.cli`: the command line."""

from .app import main

main()
