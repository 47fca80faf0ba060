"""Find a widget's controls the way the browser tests do: by their DOM classes.

The DOM classes (``lrw-run``, ``lrw-status``, ``lrw-beta``, ``lrw-readout``, ``lrw-figure``...)
are the widget's contract with the front end, so tests that find controls by them do not
depend on where the widget keeps its controls in Python::

    browser_update(control(widget, "lrw-beta"), value=0.9)
    assert "done" in control(widget, "lrw-status").value
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["control", "walk"]


def walk(root: Any) -> Iterator[Any]:
    """``root`` and every widget under it: the children of boxes, the marks of figures."""
    yield root
    for child in [*getattr(root, "children", ()), *getattr(root, "marks", ())]:
        yield from walk(child)


def control(widget: Any, dom_class: str) -> Any:
    """The one widget under ``widget`` that carries ``dom_class``.

    Raises:
        LookupError: if none or several do (the class names a control, so it is unique).
    """
    found = [item for item in walk(widget) if dom_class in getattr(item, "_dom_classes", ())]
    if len(found) != 1:
        raise LookupError(
            f"expected one widget with DOM class {dom_class!r} under {type(widget).__name__}; "
            f"found {len(found)}"
        )
    return found[0]
