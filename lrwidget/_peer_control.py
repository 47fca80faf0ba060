"""Beyond fastai: the widget on plain PyTorch, and the peers' rules (a mixin).

:meth:`PeerControl.for_torch` builds the whole widget around torch-lr-finder's range test
(:func:`lrwidget.run_torch_sweep`); the "rules of" selector (the ``preset`` trait) switches
the smoothing, the window and the rules to fastai's, torch-lr-finder's or Lightning's
(:data:`lrwidget.presets`), each reproducing that tool's suggestion exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrwidget.peers import PRESETS
from lrwidget.settings import BEST, CUSTOM, Settings

if TYPE_CHECKING:
    from lrwidget._controls import Controls
    from lrwidget._frames import Frames
    from lrwidget.suggest import RuleSpec
    from lrwidget.sweep import Sweep


class PeerControl:
    """for_torch and the "rules of" selector (mixed into the widget)."""

    if TYPE_CHECKING:  # provided by LRFinderWidget
        controls: Controls
        _frames: Frames
        methods: tuple[RuleSpec, ...]
        rule_names: tuple[str, ...]
        _own_methods: tuple[RuleSpec, ...]
        num_it: int
        preset: str
        beta: float
        smoothing: str
        skip_start: int
        skip_end: int
        div_threshold: float | None
        shown_rules: list[str]
        selected: str

        @property
        def sweep(self) -> Sweep | None: ...
        def hold_trait_notifications(self) -> Any: ...
        def _sync_controls(self) -> None: ...
        def _refresh(self) -> None: ...

    @classmethod
    def for_torch(
        cls,
        model: Any,
        optimizer: Any,
        criterion: Any,
        train_loader: Any,
        *,
        val_loader: Any = None,
        start_lr: float | None = None,
        end_lr: float = 10,
        num_it: int = 100,
        step_mode: str = "exp",
        smooth_f: float = 0.05,
        diverge_th: float = 5,
        accumulation_steps: int = 1,
        device: Any = None,
        trial_val_loader: Any = None,
        **settings: Any,
    ) -> Any:
        """The widget on a plain PyTorch model: torch-lr-finder's range test, live.

        Arguments as :func:`lrwidget.run_torch_sweep` (torch-lr-finder 0.2.2's
        ``range_test``); ``settings`` as the constructor's (``preset`` defaults to
        ``"torch-lr-finder"``, whose suggestion it then equals exactly).  The model, the
        optimizer and the RNGs are restored after every sweep and every trial fit (Try these
        LRs: torch's ``OneCycleLR``, see :func:`lrwidget.run_torch_trials`); :meth:`apply`
        sets every param group's lr.  ``trial_val_loader``: the trials' validation data
        (after each trial epoch), when the sweep itself should not validate; None: use
        ``val_loader``.

        Example:
            >>> LRFinderWidget.for_torch(model, optimizer, criterion, loader)  # doctest: +SKIP
        """
        from lrwidget._torch import TorchEngine

        groups = getattr(optimizer, "param_groups", None)
        axis_start = start_lr
        if axis_start is None and groups:
            axis_start = min(float(group["lr"]) for group in groups)
        engine = TorchEngine(
            optimizer, criterion, train_loader, start_lr, trial_val_loader,
            val_loader=val_loader, step_mode=step_mode, smooth_f=smooth_f,
            diverge_th=diverge_th, accumulation_steps=accumulation_steps, device=device,
        )  # fmt: skip
        settings.setdefault("preset", "torch-lr-finder")
        widget_class: Any = cls  # LRFinderWidget
        widget = widget_class(
            model, axis_start if axis_start is not None else 1e-7, end_lr, num_it, True,
            engine=engine, **settings,
        )  # fmt: skip
        return widget

    def _apply_preset(self, name: str) -> None:
        """Switch smoothing, window and rules to ``name``'s (a key of ``lrwidget.presets``)."""
        values = PRESETS[name]
        methods = self._own_methods if name == "fastai" else tuple(values["methods"])
        self.methods = methods
        self.rule_names = Settings(methods=methods).rule_names
        self._frames.rule_names = self.rule_names
        self.controls.rules_select.options = list(self.rule_names)
        self.controls.selected_dropdown.options = [*self.rule_names, CUSTOM, BEST]
        skip_start = values["skip_start"]
        with self.hold_trait_notifications():
            self.shown_rules = list(self.rule_names)
            self.selected = self.rule_names[0] if "valley" not in self.rule_names else "valley"
            self.beta, self.smoothing = values["beta"], values["smoothing"]
            self.skip_start = self.num_it // 10 if skip_start is None else int(skip_start)
            self.skip_end, self.div_threshold = values["skip_end"], values["div_threshold"]

    def _recorded_smoothed(self) -> str:
        """The note when the sweep holds a peer's smoothed losses (no further smoothing)."""
        sweep = self.sweep
        if sweep is None or not getattr(sweep, "losses_are_smoothed", False):
            return ""
        return (
            f"losses recorded already smoothed by {sweep.preset or 'the tool that made them'}; "
            "no further smoothing"
        )
