"""Each option is declared once (optionspec.py): the API's checks, the command line and
docs/options.md all come from that declaration."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from imfcodec.cli import main
from imfcodec.options import EncodeSettings, Tuning
from imfcodec.optionspec import specs
from imfcodec.train.options import TrainOptions

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs" / "options.md"


def test_the_options_page_is_what_the_declarations_make():
    import runpy

    page = runpy.run_path(str(ROOT / "bin" / "options_doc.py"), run_name="options_doc")["page"]
    assert DOCS.read_text() == page(), "run: python bin/options_doc.py > docs/options.md"


@pytest.mark.parametrize("bad, message", [
    ({"quality": 8}, "quality must be 0..7"),
    ({"references": 5}, "references must be 1..4"),
    ({"fit": "stretch"}, "fit must be one of crop, pad"),
    ({"intra": "h264"}, "intra must be one of hevc, av1"),
    ({"scene_cut": 1.5}, "scene-cut must be 0..1"),
    ({"refine": -1}, "refine must be 0..1000"),
])
def test_the_api_refuses_what_the_command_line_refuses(bad, message):
    with pytest.raises(ValueError, match=message):
        EncodeSettings(**bad)
    (name, value), = bad.items()
    spec = specs(EncodeSettings)[name][0]
    flag = spec.flag or "--" + name.replace("_", "-")
    result = CliRunner().invoke(main, ["encode", "in.mp4", "out.imf", flag, str(value)])
    assert result.exit_code == 2 and flag in result.output


def test_the_command_line_defaults_are_the_declared_ones():
    command = main.get_command(None, "encode")
    defaults = {p.name: p.default for p in command.params}
    for name, value in vars(EncodeSettings()).items():
        if name != "tuning":
            assert defaults[name] == value, name
    train = {p.name: p.default for p in main.get_command(None, "train").params}
    for name, (spec, default, _) in specs(TrainOptions).items():
        assert (name in train) == spec.cli, name
        if spec.cli and name not in ("data", "out"):
            assert train[name] == default, name


def test_train_options_are_checked_where_they_are_made():
    with pytest.raises(ValueError, match="ema must be 0..1"):
        TrainOptions(data="d", out="o", ema=1.0)
    with pytest.raises(ValueError, match="preset must be one of"):
        TrainOptions(data="d", out="o", preset="huge")
    with pytest.raises(ValueError):
        Tuning(refresh_horizon=0)
