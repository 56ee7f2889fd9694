#!/usr/bin/env python3
"""docs/options.md, made from the settings as declared (imfcodec/optionspec.py), so that the
docs, the command line and the API cannot disagree on a bound, a choice or a default:

    python bin/options_doc.py > docs/options.md

(tests/test_options.py checks that the committed page is what this writes). A script, not a
module of the package: it reads the training settings too, and the codec never imports those.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imfcodec.options import EncodeSettings, Tuning  # noqa: E402
from imfcodec.optionspec import table  # noqa: E402
from imfcodec.train.options import TrainOptions  # noqa: E402


def page() -> str:
    tuning = ", ".join(f"`{name}` = {value}" for name, value in vars(Tuning()).items())
    return f"""# Options

Made by `python bin/options_doc.py` from the settings as the code declares them
(`imfcodec/options.py`: `EncodeSettings`; `imfcodec/train/options.py`: `TrainOptions`): the
command line, the Python API (`Codec.encode(..., quality=5, adaptive=True)`) and this page
read the same declarations. Not set means the option is off unless `--adaptive` turns it on
(docs/adaptive.md). `imfcodec COMMAND --help` lists the options that are not the encoder's
(model, rates, sound, output).

## `imfcodec encode`

{table(EncodeSettings)}
The encoder's measured constants are not command-line options; the API and the studies in
benchmarks/studies/ set them as `tuning=imfcodec.options.Tuning(...)`. Their defaults: {tuning}.

## `imfcodec train`

{table(TrainOptions)}"""


if __name__ == "__main__":
    print(page(), end="")
