"""Several sweeps in one widget: the list, the current one, the shown ones (a mixin).

Every Run keeps the sweeps before it (:attr:`CompareControl.sweeps`, newest last); saved sweeps
join with :meth:`CompareControl.compare` or :meth:`CompareControl.from_sweeps`.  The *current*
sweep (the ``current_sweep`` trait) is drawn in full and its suggestions are what ``w.lr``,
``w.suggestions`` and ``w.apply()`` use; every other *shown* sweep (``shown_sweeps``) is drawn
lighter, with its own dash and marker shape, and gets a column in the readout.  Every setting
applies to all of them at once (:attr:`CompareControl.analyses`).

Repeats (``w.run(repeats=3)``) are sweeps from the same restored Learner with different data
orders (seeded): the readout gives each rule's log10 mean and range over them.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lrwidget._compare_row import compare_changes
from lrwidget._compare_view import (
    Compared,
    EarlierView,
    earlier_view,
    legend_html,
    style_of,
    union_range,
)
from lrwidget._context import default_label
from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget._stream import Change
from lrwidget._sweep_list import SweepList
from lrwidget.compare import Spread, check_sweeps, spread
from lrwidget.peers import PRESETS
from lrwidget.settings import Settings
from lrwidget.sweep import Sweep

if TYPE_CHECKING:
    from lrwidget._chart import LossChart
    from lrwidget._frames import AnalysisCache, Frames
    from lrwidget._runner import SweepRunner
    from lrwidget.analysis import Analysis


class CompareControl:
    """Many sweeps on one chart (mixed into the widget)."""

    if TYPE_CHECKING:  # provided by LRFinderWidget
        _lock: threading.RLock
        _sweep: Sweep | None
        _sweeps: list[Sweep]
        _caches: dict[int, AnalysisCache]
        _earlier_views: dict[int, tuple[Any, EarlierView]]
        _repeat_of: dict[int, tuple[int, int, int]]
        _analyses: AnalysisCache
        _runner: SweepRunner
        _skip_start_follows: bool
        _following_skip: bool
        _syncing: bool
        _chart: LossChart
        _frames: Frames
        _visible: tuple[float, float] | None
        _compare_parts: Any
        current_sweep: int
        preset: str
        shown_sweeps: list[int]
        rule_names: tuple[str, ...]
        shown_rules: list[str]

        @property
        def settings(self) -> Settings: ...
        def _refresh(self) -> None: ...
        def hold_trait_notifications(self) -> Any: ...
        def _on_sweeps_setting(self, change: dict[str, Any]) -> None: ...

    def _start_keeping(self, sweep: Sweep | None, *, follow_skip: bool) -> None:
        """The widget's sweeps (``sweep`` alone, if any) and what is kept for each;
        ``follow_skip``: skip_start was left at its default (each sweep's own num_it // 10)."""
        self._skip_start_follows = follow_skip
        self._following_skip = False  # True while skip_start follows the current sweep
        self._sweeps = [] if sweep is None else [sweep]
        self._caches = {}  # the analysis of each earlier sweep
        self._earlier_views = {}  # what is drawn of each earlier sweep
        self._repeat_of = {}  # (group, k, n) of a repeat, until it is named

    # ----------------------------------------------------------------------------------------
    # public API
    @property
    def sweeps(self) -> SweepList:
        """Every sweep of this widget, oldest first (``del``, ``remove``, ``pop`` take one off;
        ``append`` adds one, as :meth:`compare`)."""
        return SweepList(self)

    def compare(self, sweep: Sweep | str | os.PathLike[str]) -> Sweep:
        """Add a sweep (or the path of a saved one, :meth:`Sweep.save`) to compare with.

        It is shown at once, lighter, with its own markers; the current sweep stays current.

        Returns:
            The sweep added.
        """
        if isinstance(sweep, str | os.PathLike):
            sweep = Sweep.load(sweep)
        check_sweeps([sweep])
        with self._lock:
            if any(sweep is other for other in self._sweeps):
                raise LRWidgetValueError(
                    f"compare: that sweep ({sweep.label!r}) is already in widget.sweeps; pass "
                    "another one, e.g. Sweep.load(path)."
                )
        self._add_sweep(sweep, current=self._sweep is None)
        return sweep

    @classmethod
    def from_sweeps(
        cls, sweeps: Sequence[Sweep | str | os.PathLike[str]], methods: Any = None, **settings: Any
    ) -> Any:
        """Open saved sweeps together, no Learner: the last one is current, all are shown.

        Args:
            sweeps: Sweeps, or paths of saved sweeps, oldest first.
            methods, settings: As :meth:`from_sweep`.

        Example:
            >>> LRFinderWidget.from_sweeps(["frozen.json", "unfrozen.json"])  # doctest: +SKIP
        """
        loaded = [
            Sweep.load(item) if isinstance(item, str | os.PathLike) else item for item in sweeps
        ]
        loaded = check_sweeps(loaded)
        if len({id(sweep) for sweep in loaded}) != len(loaded):
            raise LRWidgetValueError(
                "from_sweeps: the same sweep is listed twice; pass each sweep once."
            )
        from_sweep: Any = cls.from_sweep  # type: ignore[attr-defined]
        options = {} if methods is None else {"methods": methods}
        widget = from_sweep(loaded[-1], **options, **settings)
        with widget._lock:  # oldest first, as given
            widget._sweeps = list(loaded)
            for sweep in loaded:
                if sweep.label is None:
                    widget._label(sweep)
        with widget.hold_trait_notifications():
            widget.shown_sweeps = list(range(len(loaded)))
            widget.current_sweep = len(loaded) - 1
        widget._refresh()
        return widget

    @property
    def analyses(self) -> list[Analysis | None]:
        """``analyze(sweep, **current settings)`` of every shown sweep, in ``sweeps`` order
        (None where the settings do not fit that sweep).  ``skip_start`` at its default
        (``num_it // 10`` of the current sweep) means each sweep's own ``num_it // 10``."""
        with self._lock:
            sweeps = list(self._sweeps)
        return [self._analysis_of(sweeps[index])[0] for index in self._shown_indices()]

    # ----------------------------------------------------------------------------------------
    # the list
    def _add_sweep(self, sweep: Sweep, *, current: bool) -> None:
        with self._lock:
            self._sweeps.append(sweep)
            index = len(self._sweeps) - 1
            if sweep.label is None and len(sweep) and sweep.context:
                self._label(sweep)
            shown = sorted({*self._shown_indices(), index})
        with self.hold_trait_notifications():
            self.shown_sweeps = shown
            if current:
                self.current_sweep = index
        self._refresh()

    def _remove_sweeps(self, chosen: Iterable[Sweep]) -> None:
        with self._lock:
            doomed = {id(sweep) for sweep in chosen}
            running = self._runner.sweep if self._runner.running else None
            if running is not None and id(running) in doomed:
                raise SweepRunningError(
                    "the running sweep cannot be removed from widget.sweeps; stop it first "
                    "(widget.stop(); widget.wait())."
                )
            keep = [sweep for sweep in self._sweeps if id(sweep) not in doomed]
            shown = {id(self._sweeps[index]) for index in self._shown_indices()}
            current = (
                self._sweep if self._sweep is not None and id(self._sweep) not in doomed else None
            )
            self._sweeps = keep
            for key in doomed:
                self._caches.pop(key, None)
                self._earlier_views.pop(key, None)
            if current is None and keep:
                current = keep[-1]
            new_shown = [index for index, sweep in enumerate(keep) if id(sweep) in shown]
            new_current = next((i for i, s in enumerate(keep) if s is current), -1)
        moved = new_current == self.current_sweep and current is not self._sweep
        with self.hold_trait_notifications():
            self.shown_sweeps = new_shown
            self.current_sweep = new_current
        if moved:  # the index stayed, the sweep at it did not: show it all the same
            self._on_sweeps_setting({"name": "current_sweep", "new": new_current})
        self._refresh()

    def _shown_indices(self) -> list[int]:
        """The indices drawn: ``shown_sweeps`` within range, the current one always."""
        with self._lock:
            count = len(self._sweeps)
            shown = {index for index in self.shown_sweeps if 0 <= index < count}
            if 0 <= self.current_sweep < count:
                shown.add(self.current_sweep)
        return sorted(shown)

    def _label(self, sweep: Sweep) -> None:
        """Give ``sweep`` its default label, from what differs from the sweep before it."""
        with self._lock:
            position = next(i for i, other in enumerate(self._sweeps) if other is sweep)
            previous = self._sweeps[position - 1] if position else None
        repeat = sweep.context.get("repeat")
        if repeat is not None and repeat[0] > 1 and previous is not None and previous.label:
            base = previous.label.split(" · repeat ")[0]
        else:
            before = previous.context if previous is not None else None
            base = default_label(sweep.context, before, position + 1)
            if before is None and (sweep.context.get("frozen_params") or 0) > 0:
                base = "frozen"  # the first sweep of fastai's frozen -> unfrozen workflow
            if repeat is not None and base == f"sweep {position + 1}" and previous is not None:
                base = (previous.label or base).split(" · repeat ")[0]  # repeats of the same
        sweep.label = f"{base} · repeat {repeat[0]}/{repeat[1]}" if repeat else base

    # ----------------------------------------------------------------------------------------
    # the analysis of each sweep
    def _settings_for(self, sweep: Sweep) -> Settings:
        """The current settings for ``sweep``: ``skip_start`` at its default is fastai's
        ``num_it // 10`` of that sweep (a peer's preset fixes it for all)."""
        settings = self.settings
        fixed = PRESETS.get(self.preset, {}).get("skip_start") is not None
        if self._skip_start_follows and not fixed:
            settings = settings.replace(skip_start=sweep.num_it // 10)
        return settings

    def _analysis_of(self, sweep: Sweep) -> tuple[Analysis | None, str | None]:
        if sweep is self._sweep:
            return self._analyses.get(sweep, self._settings_for(sweep))
        with self._lock:  # one cache per sweep, of the current sweep's kind
            cache = self._caches.setdefault(id(sweep), type(self._analyses)())
        return cache.get(sweep, self._settings_for(sweep))

    def _earlier(self) -> list[tuple[Sweep, Analysis | None, EarlierView]]:
        """Every shown sweep but the current one, with its analysis and what is drawn of it."""
        with self._lock:
            sweeps, current = list(self._sweeps), self._sweep
        entries: list[tuple[Sweep, Analysis | None, EarlierView]] = []
        for index in self._shown_indices():
            sweep = sweeps[index]
            if sweep is current:
                continue
            analysis = self._analysis_of(sweep)[0]
            # the same analysis, rules and slot draw the same: no reduction again
            key = (id(analysis), tuple(self.shown_rules), self.rule_names, len(entries))
            cached = self._earlier_views.get(id(sweep))
            if cached is not None and cached[0] == key and analysis is not None:
                view = cached[1]
            else:
                view = earlier_view(
                    len(entries), sweep, analysis, self.shown_rules, self.rule_names
                )
                self._earlier_views[id(sweep)] = (key, view)
            entries.append((sweep, analysis, view))
        return entries

    def _spreads(self) -> dict[str, Spread] | None:
        """Each rule's spread over the current sweep's repeats (None: not a repeat)."""
        current = self._sweep
        group = None if current is None else current.context.get("repeat_group")
        if group is None:
            return None
        with self._lock:
            members = [s for s in self._sweeps if s.context.get("repeat_group") == group]
        if len(members) < 2:
            return None
        analyses = [self._analysis_of(member)[0] for member in members]
        return {name: spread([_rule_lr(a, name) for a in analyses]) for name in self.rule_names}

    def _compared(self) -> tuple[Compared, str]:
        """What a full redraw shows of the other sweeps, and the legend."""
        earlier = self._earlier()
        current = self._sweep
        columns = tuple(
            (
                sweep.label or "",
                {name: _rule_lr(analysis, name) for name in self.rule_names},
            )
            for sweep, analysis, _view in earlier
        )
        entries: list[tuple[str, str, str, bool]] = []
        if current is not None:
            entries.append((current.label or "current", "solid", "circle", True))
        for slot, (sweep, _analysis, _view) in enumerate(earlier):
            dash, marker = style_of(slot)
            entries.append((sweep.label or "", dash, marker, False))
        label = "" if current is None else current.label or ""
        views = tuple(view for _sweep, _analysis, view in earlier)
        return Compared(label, columns, self._spreads(), views), legend_html(entries)

    def _compare_frame(self) -> tuple[Compared, list[Change]]:
        """The comparison of a full redraw, and what the compare row and the LR axis change."""
        compared, legend = self._compared()
        with self._lock:
            sweeps = list(self._sweeps)
        labels = [sweep.label or "" for sweep in sweeps]
        shown = self._shown_indices()
        pending = compare_changes(
            self._compare_parts, labels, shown, self.current_sweep, legend, self._on_checkbox
        )
        drawn = [sweeps[index] for index in shown]
        return compared, pending + self._axis_changes(drawn)

    def _axis_changes(self, drawn: Sequence[Sweep]) -> list[Change]:
        """The LR axis spans every drawn sweep (the union of their ranges): when that changes,
        the axis, its ticks and the current view's ends follow (a zoom is reset)."""
        if not drawn:
            return []
        start, end = union_range(drawn)
        pending = self._chart.range_changes(start, end)
        if pending:  # the current view's ends follow, and the zoom is reset
            self._frames.start_lr, self._frames.end_lr = start, end
            self._visible = None
        return pending

    def _on_checkbox(self, _change: dict[str, Any]) -> None:
        """A "show" checkbox was ticked or cleared in the browser."""
        if self._chart.drawing or self._syncing:
            return
        checkboxes = self._compare_parts[2].children
        shown = [index for index, box in enumerate(checkboxes) if box.value]
        if shown != self._shown_indices():
            self.shown_sweeps = shown

    def _on_current_picked(self, change: dict[str, Any]) -> None:
        if self._chart.drawing or self._syncing or change["new"] is None:
            return
        if change["new"] != self.current_sweep:
            self.current_sweep = int(change["new"])

    def _on_repeats_typed(self, change: dict[str, Any]) -> None:
        if not (self._chart.drawing or self._syncing):
            self.repeats = int(change["new"])


def _rule_lr(analysis: Analysis | None, name: str) -> float | None:
    """The LR ``name`` gives in ``analysis`` (None: no analysis, no such rule, no answer)."""
    result = None if analysis is None else analysis.rules.get(name)
    if result is None or result.lr is None:
        return None
    number = float(result.lr)
    return number if math.isfinite(number) else None


__all__ = ["CompareControl"]
