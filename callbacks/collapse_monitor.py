"""Watches the derived genotype for the skip-connection collapse of DARTS, with an optional early stop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lightning_nas.checks import check_bool, check_number
from lightning_nas.spaces import Genotype, GenotypeEdge, SearchSpace, get_search_space_class, list_search_spaces

__all__ = ["PARAMETER_FREE_OPS", "SKIP_OPS", "CollapseMonitor", "count_ops", "genotype_ops"]

#: The parameter-free operations of each search space registered at import (``SearchSpace.parameter_free_ops``;
#: ``none`` never appears in a DARTS-space genotype). The callback asks the genotype's space itself.
PARAMETER_FREE_OPS: dict[str, tuple[str, ...]] = {
    name: get_search_space_class(name).parameter_free_ops for name in list_search_spaces()
}

#: The skip connection (identity) of each search space registered at import (``SearchSpace.skip_op``).
SKIP_OPS: dict[str, str] = {
    name: skip for name in list_search_spaces() if (skip := get_search_space_class(name).skip_op) is not None
}

Cell = Literal["normal", "reduce"]
"""The DARTS space's cells; a registered space with several cells may name its own (any string)."""


def _space_of(call: str, genotype: Any) -> type[SearchSpace]:
    """The registered search space class of ``genotype`` (a genotype, or an object with ``space`` and ``choices``)."""
    space = getattr(genotype, "space", None)
    if not isinstance(space, str) or space not in list_search_spaces():
        raise TypeError(
            f"`{call}`: expected a genotype of one of the registered search spaces {list_search_spaces()}. "
            f"Got {type(genotype).__name__} (space {space!r}) instead."
        )
    return get_search_space_class(space)


def _edges(call: str, genotype: Any) -> tuple[GenotypeEdge, ...]:
    if isinstance(genotype, Genotype):
        return genotype.edges()
    choices = getattr(genotype, "choices", None)  # a chain path given as an object with `choices`
    if isinstance(choices, Sequence) and not isinstance(choices, str):
        return tuple(GenotypeEdge("path", f"layer {i}", str(choice)) for i, choice in enumerate(choices))
    raise TypeError(f"`{call}`: expected a genotype with `edges()`. Got {type(genotype).__name__} instead.")


def _skip_op(space: type[SearchSpace]) -> tuple[str, ...]:
    return () if space.skip_op is None else (space.skip_op,)


def _count(genotype: Any, ops: tuple[str, ...], cell: str | None) -> int:
    """:func:`count_ops`, 0 for no ops (a space without a skip op or parameter-free ops)."""
    return count_ops(genotype, ops, cell=cell) if ops else 0


def genotype_ops(genotype: Any, cell: str | None = None) -> list[str]:
    """The operation of every edge (layer) of a genotype, read from :meth:`~lightning_nas.spaces.Genotype.edges`.

    Args:
        genotype: a genotype of a registered search space (e.g. a DARTS-space genotype: 8 kept edges per cell; a
            NAS-Bench-201 genotype: 6 edges; a MobileNet path, or an object with ``space`` and ``choices``).
        cell: the cell to read (``"normal"``, ``"reduce"`` in the DARTS space) or ``None`` for all cells; spaces
            with a single cell (NAS-Bench-201, MobileNet) have only that one and ignore ``cell``.

    Raises:
        TypeError: for an object that is no genotype of a registered space.
        ValueError: for a ``cell`` the genotype does not have.

    Example:
        >>> from lightning_nas.spaces import NASBench201Genotype
        >>> genotype_ops(NASBench201Genotype.from_ops(["skip_connect"] * 3 + ["none"] * 3))[2:4]
        ['skip_connect', 'none']
    """
    _space_of("genotype_ops", genotype)
    edges = _edges("genotype_ops", genotype)
    cells = tuple(dict.fromkeys(edge.cell for edge in edges))
    if cell is None or len(cells) <= 1:
        return [edge.op for edge in edges]
    if cell not in cells:
        allowed = ", ".join(repr(c) for c in cells)
        raise ValueError(f"`genotype_ops(cell={cell!r})`: `cell` must be {allowed} or None. Got {cell!r}.")
    return [edge.op for edge in edges if edge.cell == cell]


def count_ops(genotype: Any, ops: Sequence[str] | None = None, *, cell: str | None = None) -> int:
    """How many edges (layers) of a genotype use one of ``ops``.

    Args:
        genotype: see :func:`genotype_ops`.
        ops: the operations to count; ``None`` counts the space's skip connection (``SearchSpace.skip_op``).
        cell: the cell to count in (``None``: all), e.g. ``"normal"`` in the DARTS space; ignored by single-cell
            spaces.

    Raises:
        ValueError: if ``ops`` is empty, or names an operation the genotype's space does not have.
        TypeError: for an object that is no genotype of a registered space.

    Example:
        >>> from lightning_nas.spaces import NASBench201Genotype
        >>> g = NASBench201Genotype.from_ops(["skip_connect", "none", "skip_connect", "nor_conv_3x3", "none", "none"])
        >>> count_ops(g), count_ops(g, PARAMETER_FREE_OPS["nasbench201"])
        (2, 5)
    """
    space = _space_of("count_ops", genotype)
    wanted = _skip_op(space) if ops is None else tuple(ops)
    if (not wanted and ops is not None) or isinstance(ops, str):
        raise ValueError(f"`count_ops(ops={ops!r})`: `ops` must be a non-empty sequence of op names. Got {ops!r}.")
    unknown = [op for op in wanted if space.ops and op not in space.ops]
    if unknown:
        raise ValueError(
            f"`count_ops(ops={list(wanted)!r})`: {unknown} are not operations of the {space.name!r} space. "
            f"Allowed: {list(space.ops)}."
        )
    return sum(op in wanted for op in genotype_ops(genotype, cell))


class CollapseMonitor(Callback):
    """Counts skip connections (or all parameter-free operations) in ``pl_module.genotype()`` every epoch.

    Differentiable search tends to collapse onto parameter-free operations, skip connections above all: the derived
    cell fills with them and its accuracy drops. At the end of every training epoch the callback derives the current
    genotype and counts, in the chosen ``cell``, the edges that use one of the monitored operations: ``ops``
    (default: the space's skip connection, ``skip_connect``; ``id`` in the MobileNet space), or with
    ``parameter_free=True`` every parameter-free operation of the space (``SearchSpace.parameter_free_ops``: pooling,
    skip and, in NAS-Bench-201, ``none``). The facts come from the genotype's registered space, so any registered
    space is monitored.

    Early stop (``threshold``): the fit stops at the end of the first epoch whose count is **at least** ``threshold``
    (``count >= threshold``), so the genotype of that epoch is the result. This is DARTS+'s rule: stop the search once
    two or more skip connections appear in the normal cell (``threshold=2``, ``cell="normal"``). P-DARTS instead caps
    the final normal cell at ``M = 2`` skip connections; the monitor reports the count that cap acts on. With
    ``stop=False`` the first such epoch is only recorded (:attr:`reached_epoch`). The check starts at ``start_epoch``
    and skips the epochs in which the module did not update the architecture (``pl_module.arch_update_enabled()``
    false, e.g. DARTS's ``arch_warmup_epochs``), whose genotype comes from the random initialisation; counts are
    logged in every epoch. Lightning's ``Trainer(min_epochs=...)`` still applies.

    DDP: the architecture parameters, hence the genotype and the count, are identical on every rank (the DARTS modules
    average both levels' gradients); the stop decision is nevertheless reduced across ranks (any rank stops all), as
    Lightning's ``EarlyStopping`` does.

    Logged every epoch: ``collapse/count`` (the monitored count), ``collapse/num_skip`` (skip connections) and
    ``collapse/num_param_free`` (parameter-free operations), all in the monitored cell(s). The counts per epoch are in
    :attr:`history` and in the callback's state (checkpoints).

    Args:
        ops: the operations to count; ``None`` counts the space's skip connection. Cannot be combined with
            ``parameter_free``.
        parameter_free: count every parameter-free operation of the space.
        threshold: count at which to stop (``>=``); ``None`` only monitors.
        cell: the cell to count in: in the DARTS space ``"normal"`` (DARTS+, P-DARTS) or ``"reduce"``; in another
            space with several cells, one of the names its genotype's edges carry (``genotype.cells()``); ``None``
            counts in all. Spaces with one cell (NAS-Bench-201, MobileNet) count in it whatever ``cell`` says. A
            name the searched genotype does not have stops the fit before the first step, listing its cells.
        stop: stop the fit when the threshold is reached (``False``: record the epoch only).
        start_epoch: first (0-based) epoch at which the threshold is checked.

    Raises:
        ValueError: an argument is out of range, or ``ops`` and ``parameter_free`` are both given; (when the fit
            starts) the genotype has several cells and none is named ``cell``.
        TypeError: (during fit) the module has no ``genotype()``.

    Example:
        >>> from lightning import Trainer
        >>> monitor = CollapseMonitor(threshold=2, cell="normal")  # DARTS+
        >>> trainer = Trainer(callbacks=[monitor], logger=False, enable_progress_bar=False)
        >>> monitor.history, monitor.stopped_epoch
        ({}, None)

    References:
        Liang et al., "DARTS+: Improved Differentiable Architecture Search with Early Stopping", 2019 (Sec. 3.2:
        stop when two or more skip connections appear in the normal cell); Chen et al., "Progressive Differentiable
        Architecture Search" (P-DARTS), ICCV 2019 (Sec. 3.3: at most M = 2 skip connections); Zela et al.,
        "Understanding and Robustifying Differentiable Architecture Search", ICLR 2020.
    """

    def __init__(
        self,
        ops: Sequence[str] | None = None,
        parameter_free: bool = False,
        threshold: int | None = None,
        cell: Cell | str | None = "normal",
        stop: bool = True,
        start_epoch: int = 0,
    ) -> None:
        if ops is not None and (isinstance(ops, str) or not ops or not all(isinstance(op, str) and op for op in ops)):
            raise ValueError(
                f"`CollapseMonitor(ops={ops!r})`: `ops` must be a non-empty sequence of op names or None. Got {ops!r}."
            )
        name = type(self).__name__
        check_bool(name, "parameter_free", parameter_free)
        if parameter_free and ops is not None:
            raise ValueError(
                f"`CollapseMonitor(ops={ops!r}, parameter_free=True)`: give either `ops` or `parameter_free=True`, "
                "not both."
            )
        check_number(name, "threshold", threshold, low=1, integer=True, optional=True)
        if cell is not None and (not isinstance(cell, str) or not cell):
            raise ValueError(
                f"`CollapseMonitor(cell={cell!r})`: `cell` must be a cell's name ('normal' or 'reduce' in the DARTS "
                f"space) or None (all cells). Got {cell!r}."
            )
        check_bool(name, "stop", stop)
        check_number(name, "start_epoch", start_epoch, low=0, integer=True)
        self.ops = tuple(ops) if ops is not None else None
        self.parameter_free = parameter_free
        self.threshold = threshold
        self.cell: str | None = cell
        self.stop = stop
        self.start_epoch = start_epoch
        self._history: dict[int, int] = {}
        self.reached_epoch: int | None = None
        self.stopped_epoch: int | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            ops=self.ops, parameter_free=self.parameter_free, threshold=self.threshold, cell=self.cell
        )

    @property
    def history(self) -> dict[int, int]:
        """``{epoch: count}`` for every finished epoch (0-based)."""
        return dict(sorted(self._history.items()))

    def monitored_ops(self, genotype: Any) -> tuple[str, ...]:
        """The operations counted for a genotype of its space."""
        space = _space_of("CollapseMonitor", genotype)
        if self.parameter_free:
            return space.parameter_free_ops
        return self.ops if self.ops is not None else _skip_op(space)

    def count(self, genotype: Any) -> int:
        """The monitored count of ``genotype`` (see the class)."""
        return _count(genotype, self.monitored_ops(genotype), self.cell)

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and not callable(getattr(pl_module, "genotype", None)):
            raise TypeError(
                f"`CollapseMonitor` counts operations in `pl_module.genotype()`, but `{type(pl_module).__name__}` has "
                "no `genotype()` method (the search methods of `lightning_nas.methods` have it)."
            )

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.cell is None:
            return
        cells = tuple(dict.fromkeys(edge.cell for edge in _edges("CollapseMonitor", pl_module.genotype())))
        if len(cells) > 1 and self.cell not in cells:
            allowed = ", ".join(repr(c) for c in cells)
            raise ValueError(
                f"`CollapseMonitor(cell={self.cell!r})`: the searched genotype has the cells {allowed}; `cell` must "
                f"be one of them or None (all cells). Got {self.cell!r}."
            )

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        genotype = pl_module.genotype()
        space = _space_of("CollapseMonitor", genotype)
        count = self.count(genotype)
        self._history[epoch] = count
        for key, value in (
            ("collapse/count", count),
            ("collapse/num_skip", _count(genotype, _skip_op(space), self.cell)),
            ("collapse/num_param_free", _count(genotype, space.parameter_free_ops, self.cell)),
        ):
            # identical on every rank; `sync_dist` keeps Lightning from warning
            pl_module.log(key, float(value), on_step=False, on_epoch=True, sync_dist=True)
        arch_update_enabled = getattr(pl_module, "arch_update_enabled", None)
        checked = epoch >= self.start_epoch and (not callable(arch_update_enabled) or bool(arch_update_enabled()))
        reached = self.threshold is not None and checked and count >= self.threshold
        reached = bool(trainer.strategy.reduce_boolean_decision(reached, all=False))
        if not reached:
            return
        several_cells = len({edge.cell for edge in _edges("CollapseMonitor", genotype)}) > 1
        where = f"the {self.cell} cell" if self.cell is not None and several_cells else "the genotype"
        what = "parameter-free operations" if self.parameter_free else "/".join(self.monitored_ops(genotype))
        if self.reached_epoch is None:
            self.reached_epoch = epoch
        if self.stop and not trainer.should_stop:
            trainer.should_stop = True
            self.stopped_epoch = epoch
            rank_zero_info(
                f"CollapseMonitor: epoch {epoch}: {count} {what} in {where} >= threshold {self.threshold}; "
                "stopping the search (DARTS+)."
            )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "history": {int(k): int(v) for k, v in self._history.items()},
            "reached_epoch": self.reached_epoch,
            "stopped_epoch": self.stopped_epoch,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._history = {int(k): int(v) for k, v in state_dict.get("history", {}).items()}
        self.reached_epoch = state_dict.get("reached_epoch")
        self.stopped_epoch = state_dict.get("stopped_epoch")
