"""Each user option described once: its default, bounds or choices, and help.

A settings dataclass (options.EncodeSettings, train.options.TrainOptions) declares each field
with ``setting(default, help, ...)``. From that one declaration:
- ``check(obj)`` validates an instance (the API's checks: ``__post_init__`` calls it),
- the command line builds its options from it (``cli.common.options_of``), and
- ``table(cls)`` writes the markdown table of the docs (docs/options.md, checked by a test).
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Spec:
    """How one field appears to a user."""

    help: str
    flag: str | None = None  # the command-line name (default: --field-name)
    short: str | None = None  # a one-letter alias, e.g. "-q"
    low: float | None = None  # bounds, inclusive unless open
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    path: bool = False  # a file or folder name
    exists: bool = False  # ... that must exist
    metavar: str | None = None
    cli: bool = True  # False: an API and config field, not on the command line

    def bounds(self) -> str:
        """'0..7', '>= 0', 'crop, pad' or ''."""
        if self.choices:
            return ", ".join(self.choices)
        if self.low is not None and self.high is not None:
            return f"{self.low:g}..{self.high:g}" + (" (below)" if self.high_open else "")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return ""


def setting(default: Any = MISSING, help: str = "", **spec: Any) -> Any:
    """A dataclass field with its user-facing description (no default: required)."""
    return field(default=default, metadata={"spec": Spec(help, **spec)})


def specs(cls: type) -> dict[str, tuple[Spec, Any, Any]]:
    """Field name -> (spec, default (MISSING: required), resolved type), for fields with one."""
    hints = typing.get_type_hints(cls)
    return {f.name: (f.metadata["spec"], f.default, hints[f.name])
            for f in fields(cls) if "spec" in f.metadata}


def base_type(hint: Any) -> type:
    """int for ``int | None``, and so on."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args and typing.get_origin(hint) is not tuple else hint


def flag_name(name: str, spec: Spec) -> str:
    return spec.flag or "--" + name.replace("_", "-")


def check(obj: Any) -> None:
    """ValueError naming the option for a value outside its bounds or choices (None passes
    where the default is None: "not given")."""
    for name, (spec, default, _) in specs(type(obj)).items():
        value = getattr(obj, name)
        if value is None and default is None:
            continue
        what = flag_name(name, spec).lstrip("-")
        if spec.choices is not None and value not in spec.choices:
            raise ValueError(f"{what} must be one of {', '.join(spec.choices)}, got {value!r}")
        if spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low):
            raise ValueError(f"{what} must be {spec.bounds()}, got {value}")
        if spec.high is not None and (value >= spec.high if spec.high_open else value > spec.high):
            raise ValueError(f"{what} must be {spec.bounds()}, got {value}")


def table(cls: type) -> str:
    """The markdown table of a settings class's command-line options."""
    lines = ["| option | values | default | what it does |", "| --- | --- | --- | --- |"]
    for name, (spec, default, hint) in specs(cls).items():
        if not spec.cli:
            continue
        flag = flag_name(name, spec) + (f", {spec.short}" if spec.short else "")
        if base_type(hint) is bool:
            shown = "off"
        else:
            shown = "required" if default is MISSING else "not set" if default is None else str(default)
        lines.append(f"| `{flag}` | {spec.bounds()} | {shown} | {spec.help.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
