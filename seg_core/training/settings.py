"""How a training setting is declared once and shown everywhere.

Each field of `TrainConfig` is declared with `setting(default, label, help, reason, ...)`: a
dataclass field whose metadata is a `Setting`. From that one declaration come the dataclass
default and its checks (`check_value`), the command line's flags and help (`add_arguments`),
the Train form's widgets (ui/train_form.py reads `declared`) and the docs' settings table
(`settings_table`). The help never states a default: every renderer prints the default from the
field itself, so the two cannot disagree.

Nothing here imports torch.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

# Where the Train form draws a setting; "hidden" settings keep their default in the form (the
# dataset and the run name have their own widgets; lineage is filled by fine-tuning).
GROUPS = ("model", "optimisation", "data", "advanced", "hidden")


@dataclass(frozen=True)
class Setting:
    """One training setting as people see it.

    label: the Train form's label. help: one sentence on what it does, shown by the form and by
    `--help` (never the default: that is printed from the field). reason: why the default is
    what it is (the docs' table). choices: the only values accepted; choice_labels: how the form
    names values (for `weights`, the form's options; any file path is accepted as well).
    minimum/maximum: accepted bounds, inclusive, also the form's; step/format: the form's
    number input; allowed: the docs' wording of a rule the bounds cannot express.
    """

    label: str
    help: str
    reason: str
    group: str = "advanced"
    choices: tuple[str, ...] | None = None
    choice_labels: dict[str, str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    format: str | None = None
    allowed: str = ""

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"group {self.group!r} is not one of: {', '.join(GROUPS)}")


def setting(default: Any, label: str, help: str, reason: str, **details: Any) -> Any:
    """A dataclass field carrying its `Setting` (`details`: the other `Setting` fields)."""
    return field(default=default, metadata={"setting": Setting(label, help, reason, **details)})


def declared(cls: type) -> dict[str, tuple[Field, Setting]]:
    """{field name: (field, its Setting)} in declaration order; every field must have one."""
    found = {}
    for f in fields(cls):
        if "setting" not in f.metadata or f.default is MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with setting(...)")
        found[f.name] = (f, f.metadata["setting"])
    return found


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def format_value(value: Any) -> str:
    """A default as a person writes it on the command line: 0.001, 6e-04 -> 0.0006, '' -> empty."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else ""


# --------------------------------------------------------------------------- checks


_TYPE_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def check_value(instance: Any, f: Field, declared_as: Setting) -> None:
    """Type, choices and bounds of one field of a frozen dataclass instance (ValueError naming
    the setting and the value). A whole number is accepted for a decimal setting and stored as
    float (a JSON config writes 1 for 1.0)."""
    value, kind = getattr(instance, f.name), type(f.default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
        object.__setattr__(instance, f.name, value)
    elif not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{f.name} {value!r} must be {_TYPE_WORDS[kind]}")
    if declared_as.choices is not None and value not in declared_as.choices:
        raise ValueError(f"{f.name} {value!r} is not one of: {', '.join(declared_as.choices)}")
    if declared_as.minimum is not None and value < declared_as.minimum:
        raise ValueError(f"{f.name} {value} must be at least {format_value(declared_as.minimum)}")
    if declared_as.maximum is not None and value > declared_as.maximum:
        raise ValueError(f"{f.name} {value} must be at most {format_value(declared_as.maximum)}")


def allowed_text(f: Field, declared_as: Setting) -> str:
    """What a setting accepts, in words: its choices, bounds, or rule."""
    if declared_as.allowed:
        return declared_as.allowed
    if declared_as.choices is not None:
        return ", ".join(declared_as.choices)
    low, high = declared_as.minimum, declared_as.maximum
    if low is not None and high is not None:
        return f"{format_value(low)}..{format_value(high)}"
    if low is not None:
        return f"at least {format_value(low)}"
    if high is not None:
        return f"at most {format_value(high)}"
    return _TYPE_WORDS[type(f.default)]


# --------------------------------------------------------------------------- command line


def argument_help(name: str, cls: type, default: Any = None) -> str:
    """`--help` text of one setting: its help, what it accepts, and its default (`default`:
    another default to print, e.g. the fine-tuning schedule's; None: the field's)."""
    f, declared_as = declared(cls)[name]
    default = f.default if default is None else default
    parts = [declared_as.help]
    allowed = allowed_text(f, declared_as)
    if allowed not in _TYPE_WORDS.values():
        parts.append(f"Allowed: {allowed}.")
    if format_value(default):
        parts.append(f"Default: {format_value(default)}.")
    return " ".join(parts).replace("%", "%%")  # argparse formats help with %


def add_arguments(
    parser: argparse.ArgumentParser, cls: type, names=None, defaults: dict | None = None
) -> None:
    """One `--flag` per setting of `cls` (or of `names`), parsed to the field's type, default None
    so that only the flags given override a config. `defaults`: other defaults to print."""
    defaults = defaults or {}
    for name, (f, _) in declared(cls).items():
        if names is not None and name not in names:
            continue
        kind = (
            {"action": argparse.BooleanOptionalAction}
            if isinstance(f.default, bool)
            else {"type": type(f.default)}
        )
        parser.add_argument(
            flag(name), dest=name, default=None, help=argument_help(name, cls, defaults.get(name)), **kind
        )


# --------------------------------------------------------------------------- docs table


def settings_table(cls: type) -> str:
    """The settings table of docs/reference/settings.md (Markdown), one row per setting, in declaration order."""
    rows = [
        "| Setting | Flag | Default | Allowed | What it does | Why this default |",
        "|---|---|---|---|---|---|",
    ]
    for name, (f, declared_as) in declared(cls).items():
        default = format_value(f.default)
        cells = [
            declared_as.label,
            f"`{flag(name)}`",
            f"`{default}`" if default else "",
            allowed_text(f, declared_as),
            declared_as.help,
            declared_as.reason,
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


README_BEGIN = "<!-- settings table: generated by `python scripts/settings_table.py`, do not edit -->"
README_END = "<!-- end of settings table -->"


def replace_table(readme: str, table: str) -> str:
    """`readme` with the text between the two markers replaced by `table`."""
    before, found, rest = readme.partition(README_BEGIN)
    _, found_end, after = rest.partition(README_END)
    if not (found and found_end):
        raise ValueError("the page has no settings table markers")
    return f"{before}{README_BEGIN}\n{table}\n{README_END}{after}"


def table_in(readme: str) -> str:
    """The settings table currently between the page's markers."""
    _, _, rest = readme.partition(README_BEGIN)
    return rest.partition(README_END)[0].strip("\n")
