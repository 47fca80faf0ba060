"""The saved-sweep file: its JSON format, its checks, and the atomic write.

A sweep file may come from anywhere, so reading one trusts nothing in it: every field is
checked, no number read from it sizes a buffer (arrays hold the points actually present, and
``num_it`` is bounded by ``MAX_NUM_IT``), and deep nesting, huge integers and damaged text all
give an :class:`LRWidgetValueError` naming the file.  Nothing in a file is ever executed.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import reprlib
import secrets
import stat
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrwidget._checks import MAX_NUM_IT, STATUSES, Status, count_text
from lrwidget._errors import LRWidgetValueError

FORMAT = "lrwidget.sweep"
VERSION = 1
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class SweepRecord:
    """Everything a sweep file holds, as checked plain values."""

    num_it: int
    start_lr: float
    end_lr: float
    stop_div: bool
    status: Status
    error: str | None
    lrs: FloatArray
    losses: FloatArray
    fastai_smooth_losses: FloatArray | None
    schedule: str = "exp"
    preset: str | None = None
    losses_are_smoothed: bool = False
    label: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


# A value quoted in an error message may be a file's worth of nested lists: quote a bounded
# prefix of it, never its whole repr.
_PREVIEW = reprlib.Repr()
_PREVIEW.maxlevel = 2
_PREVIEW.maxlist = 4
_PREVIEW.maxdict = 4
_PREVIEW.maxstring = 60
_PREVIEW.maxother = 60
_PREVIEW.maxlong = 30


def _preview(value: object) -> str:
    return _PREVIEW.repr(value)


# --- writing ------------------------------------------------------------------------------------
def _encode_float(value: float) -> float | str:
    # JSON has no NaN or infinity; finite floats round-trip exactly through repr.
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _encode_floats(values: np.ndarray) -> list[float | str]:
    return [_encode_float(value) for value in values.tolist()]


def encode(record: SweepRecord) -> str:
    """The file's text: standard JSON (no NaN or Infinity tokens), one object."""
    smooth = record.fastai_smooth_losses
    document = {
        "format": FORMAT,
        "version": VERSION,
        "num_it": record.num_it,
        "start_lr": _encode_float(record.start_lr),
        "end_lr": _encode_float(record.end_lr),
        "stop_div": record.stop_div,
        "status": record.status,
        "error": record.error,
        "lrs": _encode_floats(record.lrs),
        "losses": _encode_floats(record.losses),
        "fastai_smooth_losses": None if smooth is None else _encode_floats(smooth),
        "schedule": record.schedule,
        "preset": record.preset,
        "losses_are_smoothed": record.losses_are_smoothed,
        "label": record.label,
        "context": _checked_context(record.context),
    }
    return json.dumps(document, allow_nan=False)


def _checked_context(context: object) -> dict[str, Any]:
    """``Sweep.context``, refused unless it reads back equal: JSON values only."""
    if not isinstance(context, dict):
        raise LRWidgetValueError(
            f"Sweep.context must be a dict to be saved; got {_preview(context)} "
            f"({type(context).__name__}). Set sweep.context = {{}} or a dict of JSON values."
        )
    _check_json_value(context, "context")
    return context


def _check_json_value(value: object, where: str, depth: int = 0) -> None:
    # Only what JSON reads back as the same value: a tuple would come back a list, numpy's
    # numbers would not be written at all, NaN has no JSON form.
    if depth > 20:
        raise LRWidgetValueError(
            f"Sweep.{where} nests more than 20 levels (or refers to itself); keep the "
            "context to plain values, lists and dicts."
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LRWidgetValueError(
                    f"Sweep.{where} has the key {_preview(key)} ({type(key).__name__}); JSON "
                    "keys are strings. Use str keys in the context."
                )
            _check_json_value(item, f"{where}[{key!r}]", depth + 1)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _check_json_value(item, f"{where}[{position}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise LRWidgetValueError(
            f"Sweep.{where} is {value!r}, which JSON cannot hold; use None or a finite number."
        )
    elif value is not None and type(value) not in (str, int, float, bool):
        raise LRWidgetValueError(
            f"Sweep.{where} is {_preview(value)} ({type(value).__name__}), which a sweep file "
            "cannot hold: the context keeps JSON values only (str, int, float, bool, None, "
            "lists and dicts of them). Convert it, e.g. with float(...), int(...) or str(...)."
        )


def write(record: SweepRecord, path: str | os.PathLike[str]) -> None:
    """Write ``record`` to ``path`` atomically, through symlinks, keeping an existing mode.

    Raises:
        OSError: of the original type, naming ``path`` (not the temporary file).
    """
    text = encode(record)  # before touching the disk: an encoding error changes nothing
    requested = os.fspath(path)
    target = os.path.realpath(requested)
    try:
        _replace_atomically(target, text)
    except OSError as error:
        if error.errno is None:
            raise
        link = f" (a link to {target})" if target != os.path.abspath(requested) else ""
        raise OSError(
            error.errno,
            f"{error.strerror}: cannot save the sweep to {requested}{link}: it is written to a "
            f"temporary file in {os.path.dirname(target)} and moved into place, so that folder "
            f"must be writable; the file was left as it was",
            requested,
        ) from error


def _replace_atomically(target: str, text: str) -> None:
    # The temporary file sits beside the final target (not beside a symlink to it), so that
    # os.replace is a rename within one folder and the link keeps pointing at the new file.
    folder = os.path.dirname(target)
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: the usual 0o666 less the umask, as open() would give
    temporary, handle = _create_temporary(folder, os.path.basename(target))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _create_temporary(folder: str, base: str) -> tuple[str, int]:
    # mkstemp would create the file 0o600 whatever the umask; O_EXCL keeps its safety.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = os.path.join(folder, f".{base[:100]}.lrwidget-{secrets.token_hex(4)}.tmp")
        try:
            return name, os.open(name, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", folder)


# --- reading ------------------------------------------------------------------------------------
def _decode_float(path: str, field: str, value: object) -> float:
    if isinstance(value, bool):
        raise LRWidgetValueError(f"{path}: {field} holds {value!r}, which is not a number.")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise LRWidgetValueError(
                f"{path}: {field} holds the integer {count_text(value)}, beyond the float64 "
                "range (about 1.8e308). The file is damaged: save the sweep again."
            ) from None
    if isinstance(value, float):
        return value
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    raise LRWidgetValueError(
        f"{path}: {field} holds {_preview(value)}; expected a number or one of 'nan', 'inf', "
        "'-inf'."
    )


def _decode_floats(path: str, field: str, values: object) -> FloatArray:
    if not isinstance(values, list):
        raise LRWidgetValueError(
            f"{path}: {field} must be a list of numbers; got {_preview(values)}."
        )
    return np.array([_decode_float(path, field, value) for value in values], dtype=np.float64)


def _refuse_constant(token: str) -> float:
    raise ValueError(f"non-standard JSON constant {token}")


def _parse(name: str) -> dict[str, Any]:
    try:
        with open(name, encoding="utf-8") as stream:
            document = json.load(stream, parse_constant=_refuse_constant)
    except RecursionError:
        raise LRWidgetValueError(
            f"{name} is not a saved lrwidget sweep: its JSON is nested too deeply to read (a "
            "saved sweep nests two levels). Save the sweep again with Sweep.save(path)."
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise LRWidgetValueError(
            f"{name} is not a saved lrwidget sweep: it is not valid JSON ({error}). "
            "Was it truncated? Save it again with Sweep.save(path)."
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise LRWidgetValueError(
            f"{name} is not a saved lrwidget sweep: expected a JSON object with "
            f"format={FORMAT!r}. Save sweeps with Sweep.save(path)."
        )
    if document.get("version") != VERSION:
        raise LRWidgetValueError(
            f"{name}: unsupported sweep file version {_preview(document.get('version'))}; "
            f"this lrwidget reads version {VERSION}."
        )
    return document


def _check_num_it(name: str, num_it: object, count: int) -> int:
    if isinstance(num_it, bool) or not isinstance(num_it, int) or num_it < 1:
        raise LRWidgetValueError(
            f"{name}: num_it must be a positive integer; got {_preview(num_it)}."
        )
    if num_it > MAX_NUM_IT:
        raise LRWidgetValueError(
            f"{name}: num_it is {count_text(num_it)}, above the most lrwidget accepts, "
            f"{MAX_NUM_IT:,} (lrwidget.sweep.MAX_NUM_IT); the file holds {count} points. "
            "The file is damaged or was not written by lrwidget: if its points are genuine, "
            "set num_it in the file to the number of iterations that sweep requested and "
            "load it again."
        )
    return num_it


def read(path: str | os.PathLike[str]) -> SweepRecord:
    """Read and check a sweep file; every problem is an error naming the file."""
    name = os.fspath(path)
    document = _parse(name)
    status = document.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise LRWidgetValueError(
            f"{name}: status must be one of {', '.join(STATUSES)}; got {_preview(status)}."
        )
    stop_div = document.get("stop_div")
    if not isinstance(stop_div, bool):
        raise LRWidgetValueError(
            f"{name}: stop_div must be true or false; got {_preview(stop_div)}."
        )
    error_text = document.get("error")
    if error_text is not None and not isinstance(error_text, str):
        raise LRWidgetValueError(
            f"{name}: error must be a string or null; got {_preview(error_text)}."
        )
    lrs = _decode_floats(name, "lrs", document.get("lrs"))
    losses = _decode_floats(name, "losses", document.get("losses"))
    smooth_field = document.get("fastai_smooth_losses")
    smooth = (
        None if smooth_field is None else _decode_floats(name, "fastai_smooth_losses", smooth_field)
    )
    if len(lrs) != len(losses) or (smooth is not None and len(smooth) != len(lrs)):
        raise LRWidgetValueError(
            f"{name}: lrs, losses and fastai_smooth_losses must have the same length; got "
            f"{len(lrs)}, {len(losses)} and {'none' if smooth is None else len(smooth)}."
        )
    return SweepRecord(
        num_it=_check_num_it(name, document.get("num_it"), len(lrs)),
        start_lr=_decode_float(name, "start_lr", document.get("start_lr")),
        end_lr=_decode_float(name, "end_lr", document.get("end_lr")),
        stop_div=stop_div,
        status=status,  # type: ignore[arg-type]  # checked against STATUSES above
        error=error_text,
        lrs=lrs,
        losses=losses,
        fastai_smooth_losses=smooth,
        **_origin(name, document),
        **_description(name, document),
    )


def _origin(name: str, document: dict[str, Any]) -> dict[str, Any]:
    """How the sweep was made; files written before these keys existed read as fastai's."""
    schedule = document.get("schedule", "exp")
    preset = document.get("preset")
    smoothed = document.get("losses_are_smoothed", False)
    if schedule not in ("exp", "linear"):
        raise LRWidgetValueError(
            f"{name}: schedule must be 'exp' or 'linear'; got {_preview(schedule)}."
        )
    if preset is not None and not (isinstance(preset, str) and len(preset) <= 100):
        raise LRWidgetValueError(
            f"{name}: preset must be a short string or null; got {_preview(preset)}."
        )
    if not isinstance(smoothed, bool):
        raise LRWidgetValueError(
            f"{name}: losses_are_smoothed must be true or false; got {_preview(smoothed)}."
        )
    return {"schedule": schedule, "preset": preset, "losses_are_smoothed": smoothed}


def _description(name: str, document: dict[str, Any]) -> dict[str, Any]:
    """The sweep's label and context; files written before these keys existed have none."""
    label = document.get("label")
    context = document.get("context", {})
    if label is not None and not isinstance(label, str):
        raise LRWidgetValueError(f"{name}: label must be a string or null; got {_preview(label)}.")
    if not isinstance(context, dict):
        raise LRWidgetValueError(f"{name}: context must be an object; got {_preview(context)}.")
    return {"label": label, "context": context}
