"""What a training run is asked to do: each option declared once, with its bounds and help.

The ``train`` command's options are made from these fields (cli.common.options_of), and checkpoints
store them (checkpoint.py) so that ``--resume`` continues the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..device import DEVICE_HELP, DEVICES
from ..models.config import PRESETS
from ..optionspec import check, setting


@dataclass
class TrainOptions:
    data: str = setting(help="Folder (searched recursively) or file of training clips.",
                        path=True, exists=True)
    out: str = setting(help="Run folder: ckpt/, log.jsonl, best.safetensors.", path=True)
    val: str | None = setting(None, "Clips coded by the real codec every --eval-every steps.",
                              path=True, exists=True)
    preset: str = setting("small", "The model's size (models/config.py).", choices=tuple(PRESETS))
    # start a fresh run from these weights (a shipped name or a file)
    init: str | None = setting(None, "Start a new run from these weights (a shipped model's "
                                     "name or a .safetensors file; their config replaces "
                                     "--preset). --resume takes OUT/ckpt first.", metavar="MODEL")
    steps: int = setting(100000, "Training steps.", low=1)
    batch: int = setting(8, "Pairs per step (per process under torchrun).", low=1)
    lr: float = setting(2e-4, "Learning rate.")
    # "cosine": down to 0 at `steps` (for a run of known length)
    lr_schedule: str = setting("constant", "After the 100-step warm-up: --lr throughout, or a "
                                           "half cosine from --lr down to 0 at --steps.",
                               choices=("constant", "cosine"))
    ema: float = setting(0.999, "Decay of the weights' moving average, which is validated, kept "
                                "as best and exported (0: off).", low=0, high=1, high_open=True)
    l1_weight: float = setting(10.0, "Weight of the L1 loss.", cli=False)
    perceptual_weight: float = setting(10.0, "Weight of the perceptual loss.", cli=False)
    rate_weight: float = setting(0.05, "Weight of the token rate proxy.")
    # the rate term ramps in over rate_start..2*rate_start steps
    rate_start: int = setting(2000, "Steps before the rate term ramps in.", low=0)
    # quantisation noise ramps in likewise, once the token is in use
    noise_start: int = setting(2000, "Steps without quantisation noise before it ramps in.", low=0)
    gan_weight: float = setting(1.0, "Weight of the hinge GAN loss.")
    gan_start: int = setting(10000, "Steps of reconstruction-only warm-up before the GAN loss.",
                             low=0)
    disc_width: int = setting(64, "Channels of the discriminator's first layer.", low=1)
    vgg_weights: str | None = setting(None, "VGG-19 feature weights (safetensors) for the "
                                            "perceptual loss (else a substitute).",
                                      path=True, exists=True)
    eval_every: int = setting(500, "Steps between validations (0: none).", low=0)
    save_every: int = setting(100, "Steps between checkpoints.", low=1)
    val_frames: int = setting(50, "Frames of each val clip coded by the real codec at each "
                                  "validation.", low=2)
    val_qualities: tuple[int, ...] = setting((0, 3), "Quality levels validated.", cli=False)
    max_frames: int | None = setting(None, "Frames read per training clip (bounds memory).", low=2)
    far_pairs: float = setting(0.0, "Share of training pairs whose frames lie any distance "
                                    "apart in their clip (the rest: log-uniform distances up to "
                                    "250 frames).", low=0, high=1)
    coarse_pixels: bool = setting(False, "Add coarse pixels to the starting model (the 32x32 "
                                         "level moves pixels too; its blend starts at zero, so "
                                         "--init weights keep their function; docs/training.md).")
    threads: int | None = setting(None, "CPU threads for torch.", low=1)
    workers: int = setting(0, "Processes that prepare training pairs (use several on a GPU).",
                           low=0)
    max_minutes: float | None = setting(None, "Stop after this much wall time, with a checkpoint "
                                              "(--resume continues).", low=0, low_open=True)
    device: str = setting("auto", DEVICE_HELP, choices=DEVICES)
    seed: int = setting(0, "Random seed.", cli=False)
    name: str = setting("imf-small", "Model name stored in the weights.", cli=False)

    def __post_init__(self) -> None:
        check(self)
