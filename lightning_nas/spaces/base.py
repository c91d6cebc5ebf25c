"""Contracts shared by every search space: genotypes, weight-sharing supernets and the space itself.

A search space says *what* is searched. It builds the discrete network of a :class:`Genotype` for retraining or
evaluation and knows its own facts as class variables (its candidate ``ops``, its ``skip_op``, its
``parameter_free_ops``, its ``stages``), which plots, monitors and searchers read instead of testing types. Two
kinds of spaces have a weight-sharing supernet:

* a :class:`DifferentiableSearchSpace` builds a mixed-op :class:`Supernet` with architecture parameters (DARTS and
  its variants train it) and derives the genotype from them;
* a :class:`SinglePathSearchSpace` builds a :class:`PathSupernet` that runs one sampled path at a time
  (``supernet(x, path)``) and draws uniform paths (:meth:`SinglePathSearchSpace.random_path`).

A space may be both (the MobileNet chain space): :meth:`SinglePathSearchSpace.build_supernet` then builds its
single-path supernet and :meth:`DifferentiableSearchSpace.build_mixed_supernet`, which differentiable methods call,
its mixed-op one.

A genotype lists its edges (:meth:`Genotype.edges`: cell, label, op, input and output node), so generic code
draws and counts any space's architectures. Spaces are registered by name with :func:`register_search_space` so
that YAML configs can pick them (``space: nasbench201``); each space keeps its candidate operations in its own
op registry (:func:`register_op`, :func:`get_op`, :func:`list_ops`).
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, cast

import torch
from torch import nn

from lightning_nas.registry import Registry

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "DifferentiableSearchSpace",
    "Genotype",
    "GenotypeEdge",
    "PathSupernet",
    "SearchSpace",
    "SinglePathSearchSpace",
    "StepOrder",
    "Supernet",
    "get_op",
    "get_search_space",
    "get_search_space_class",
    "list_ops",
    "list_search_spaces",
    "parse_genotype",
    "register_op",
    "register_search_space",
    "unregister_search_space",
]

StepOrder = Literal["arch_first", "weights_first"]
"""Order of the two updates in a bi-level step: the architecture (alpha) step first, or the weight step first."""

_SEARCH_SPACES: Registry[type[SearchSpace]] = Registry("search space")
_OP_REGISTRIES: dict[str, Registry[Callable[..., nn.Module]]] = {}


class GenotypeEdge(NamedTuple):
    """One edge of a genotype's cell (or one layer of a chain), as plots, monitors and reports read it.

    Example:
        >>> GenotypeEdge("cell", "1<-0", "skip_connect", source=0, target=1)
        GenotypeEdge(cell='cell', label='1<-0', op='skip_connect', source=0, target=1)
    """

    cell: str
    """The cell the edge belongs to (``"normal"``, ``"reduce"``; one-cell spaces name theirs, e.g. ``"cell"``)."""
    label: str
    """The edge's position in its cell, the same in every genotype of the space (e.g. ``"1<-0"``, ``"layer 3"``)."""
    op: str
    """The operation on the edge."""
    source: int | None = None
    """The input node of the edge; ``None`` for a layer of a chain."""
    target: int | None = None
    """The node the edge feeds; ``None`` for a layer of a chain."""


class Genotype(ABC):
    """A discrete architecture of one search space: an immutable, hashable value with a canonical string.

    Subclasses are ``@dataclass(frozen=True)`` classes that set the class variable ``space`` to the name their
    search space is registered under, and implement :meth:`from_string` and :meth:`__str__` so that
    ``type(g).from_string(str(g)) == g``. The JSON form adds the space name so a genotype can be read back
    without knowing its type in advance (:meth:`Genotype.from_json` on the base class dispatches on it).

    Subclasses list their edges (:meth:`edges`); generic code (plots, :class:`~lightning_nas.callbacks.CollapseMonitor`,
    reports) reads a genotype only through :meth:`edges`, :meth:`cells`, :meth:`op_names` and :meth:`cell_outputs`,
    and the space's facts through :meth:`space_class`.

    Attributes:
        space: The name the genotype's search space is registered under.
        searched_inputs: Whether the input node of an edge is part of the search (DARTS: every node picks its two
            inputs), not fixed by the edge's position (NAS-Bench-201); plots then write the input on the edge.
    """

    space: ClassVar[str]
    searched_inputs: ClassVar[bool] = False

    def edges(self) -> tuple[GenotypeEdge, ...]:
        """Every edge of every cell, cell by cell, in the order of the canonical string.

        Raises:
            NotImplementedError: If the genotype type does not list its edges.
        """
        raise NotImplementedError(f"`{type(self).__name__}.edges()`: this genotype type does not list its edges.")

    def cells(self) -> tuple[str, ...]:
        """The names of the genotype's cells, in the order of :meth:`edges` (e.g. ``("normal", "reduce")``)."""
        return tuple(dict.fromkeys(edge.cell for edge in self.edges()))

    def op_names(self, cell: str | None = None) -> list[str]:
        """The operation of every edge of ``cell`` (``None``: of every cell), in the order of :meth:`edges`.

        Raises:
            ValueError: If ``cell`` is not one of :meth:`cells`.
        """
        edges = self.edges()
        if cell is None:
            return [edge.op for edge in edges]
        cells = tuple(dict.fromkeys(edge.cell for edge in edges))
        if cell not in cells:
            raise ValueError(
                f"`{type(self).__name__}.op_names(cell={cell!r})`: `cell` must be one of {list(cells)} or None. "
                f"Got {cell!r} instead."
            )
        return [edge.op for edge in edges if edge.cell == cell]

    def cell_outputs(self, cell: str) -> tuple[int, ...] | None:
        """The nodes concatenated into ``cell``'s output (DARTS); ``None`` when the cell's last node is its output."""
        return None

    @classmethod
    def space_class(cls) -> type[SearchSpace]:
        """The registered search space class of this genotype type (its facts: ``ops``, ``skip_op``, ...).

        Raises:
            ValueError: If the genotype's space is not registered.
        """
        return get_search_space_class(cls.space)

    @classmethod
    @abstractmethod
    def from_string(cls, s: str) -> Self:
        """Parse the canonical string form.

        Raises:
            ValueError: If ``s`` is malformed or is the string of another space's genotype.
        """

    @abstractmethod
    def __str__(self) -> str:
        """Return the canonical string form."""

    def to_json(self) -> str:
        """Return ``{"space": <space name>, "genotype": <canonical string>}`` as a JSON string."""
        return json.dumps({"space": self.space, "genotype": str(self)})

    @classmethod
    def from_json(cls, s: str) -> Self:
        """Read a genotype written by :meth:`to_json`.

        Called on a concrete genotype type, the ``"space"`` key must name that type's space. Called on
        :class:`Genotype` itself, the genotype type of the registered space named by the ``"space"`` key is used.

        Raises:
            ValueError: If ``s`` is not such a JSON object, or its space does not match.
        """
        try:
            payload = json.loads(s)
        except (TypeError, json.JSONDecodeError) as err:
            raise ValueError(
                f"`{cls.__name__}.from_json`: expected a JSON string. Got {s!r} instead ({err})."
            ) from None
        if not isinstance(payload, dict) or set(payload) != {"space", "genotype"}:
            raise ValueError(
                f'`{cls.__name__}.from_json`: expected a JSON object with the keys "space" and "genotype". '
                f"Got {s!r} instead."
            )
        space, genotype = payload["space"], payload["genotype"]
        if not isinstance(genotype, str):
            raise ValueError(f'`{cls.__name__}.from_json`: "genotype" must be a string. Got {genotype!r} instead.')
        if cls is Genotype:
            return cast("Self", get_search_space_class(space).genotype_type.from_string(genotype))
        if space != cls.space:
            raise ValueError(
                f"`{cls.__name__}.from_json`: the genotype belongs to the search space {space!r}, not to {cls.space!r}."
            )
        return cls.from_string(genotype)


class Supernet(nn.Module, ABC):
    """Base class of weight-sharing supernets; ``forward(x)`` returns logits.

    Architecture parameters are the parameters whose own name (the last part of the dotted name) starts with
    ``arch_``, e.g. ``arch_alpha``; every other parameter is a weight. Both lists keep the order of
    :meth:`~torch.nn.Module.named_parameters`, so they are identical on every run and every DDP rank, and
    together they partition ``parameters()``. Subclasses with another naming scheme override
    :meth:`arch_parameter_names`.
    """

    arch_prefix: ClassVar[str] = "arch_"

    def arch_parameter_names(self) -> list[str]:
        """Names (as in ``named_parameters()``) of the architecture parameters, in registration order."""
        return [name for name, _ in self.named_parameters() if name.rsplit(".", 1)[-1].startswith(self.arch_prefix)]

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (e.g. alpha), in the order of :meth:`arch_parameter_names`."""
        names = set(self.arch_parameter_names())
        return [param for name, param in self.named_parameters() if name in names]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an architecture parameter, in ``named_parameters()`` order."""
        names = set(self.arch_parameter_names())
        return [param for name, param in self.named_parameters() if name not in names]

    @abstractmethod
    def genotype(self) -> Genotype:
        """Derive the discrete architecture from the current architecture parameters."""


class PathSupernet(nn.Module, ABC):
    """Base class of single-path supernets: ``forward(x, path)`` runs the layers of one path and returns logits.

    A single-path supernet has no architecture parameters; every parameter is a weight.
    """

    def arch_parameters(self) -> list[nn.Parameter]:
        """None: single-path supernets have no architecture parameters."""
        return []

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter of the supernet."""
        return list(self.parameters())

    @abstractmethod
    def path_parameters(self, path: Genotype | str | Sequence[str]) -> list[nn.Parameter]:
        """The parameters that ``forward(x, path)`` uses, in ``parameters()`` order."""


class SearchSpace(ABC):
    """A search space: builds the discrete network of a genotype and states the space's facts.

    Subclasses set the class variables and are registered with :func:`register_search_space`. Their
    constructor takes the space's options as typed keyword arguments with the papers' defaults, validates
    them, and does no other work. Spaces with a weight-sharing supernet derive from
    :class:`DifferentiableSearchSpace` or :class:`SinglePathSearchSpace`; a space without one (searched by
    evolution over trained children) derives from :class:`SearchSpace` directly.

    Attributes:
        name: The name the space is registered under.
        genotype_type: The space's :class:`Genotype` subclass.
        default_step_order: The bi-level step order of the reference implementation for this space.
        ops: The candidate operations (or layer choices), in the space's canonical order.
        skip_op: The skip connection (identity) among ``ops``; ``None`` if the space has none.
        parameter_free_ops: The operations without weights (skip, pooling, ``none``), the ones differentiable
            search collapses onto.
        stages: Searchable layers per stage of a chain space (plots draw one row per stage); ``None`` for cells.
    """

    name: ClassVar[str]
    genotype_type: ClassVar[type[Genotype]]
    default_step_order: ClassVar[StepOrder] = "arch_first"
    ops: ClassVar[tuple[str, ...]] = ()
    skip_op: ClassVar[str | None] = None
    parameter_free_ops: ClassVar[tuple[str, ...]] = ()
    stages: ClassVar[tuple[int, ...] | None] = None

    def build_supernet(self, num_classes: int) -> nn.Module:
        """Build a freshly initialised weight-sharing supernet with ``num_classes`` outputs.

        Raises:
            NotImplementedError: The space has no supernet (neither a :class:`DifferentiableSearchSpace` nor a
                :class:`SinglePathSearchSpace`).
        """
        raise NotImplementedError(
            f"`{type(self).__name__}.build_supernet`: the {self.name!r} space has no weight-sharing supernet."
        )

    @abstractmethod
    def build_network(self, genotype: Genotype | str, num_classes: int) -> nn.Module:
        """Build the discrete network of ``genotype`` (a genotype or its string) with ``num_classes`` outputs."""

    def parse_genotype(self, genotype: Genotype | str) -> Genotype:
        """Return ``genotype`` as this space's genotype type, parsing it if it is a string.

        Raises:
            ValueError: If the string is malformed or belongs to another space.
            TypeError: If ``genotype`` is neither a string nor this space's genotype type.
        """
        if isinstance(genotype, self.genotype_type):
            return genotype
        if isinstance(genotype, str):
            return self.genotype_type.from_string(genotype)
        if isinstance(genotype, Genotype):
            raise ValueError(
                f"`{type(self).__name__}.parse_genotype`: the genotype {str(genotype)!r} belongs to the search space "
                f"{genotype.space!r}, not to {self.name!r}."
            )
        raise TypeError(
            f"`{type(self).__name__}.parse_genotype`: `genotype` must be a string or a "
            f"{self.genotype_type.__name__}. Got {type(genotype).__name__} instead."
        )


class DifferentiableSearchSpace(SearchSpace):
    """A space searched by gradient: its :class:`Supernet` mixes the ops of every edge with architecture parameters.

    One-shot methods (:class:`~lightning_nas.methods.DARTS` and its variants) build the supernet with
    :meth:`build_mixed_supernet`, train its weights and its ``arch_*`` parameters, and read the architecture with
    ``supernet.genotype()``. Supernets drawn by :func:`~lightning_nas.plots.plot_arch_weights` also have
    ``cell_types``, ``op_weights(cell)`` and ``edge_ops(cell)`` (see :class:`~lightning_nas.spaces.DARTSSupernet`).

    A space whose only supernet is the mixed-op one implements :meth:`build_supernet` (returning a
    :class:`Supernet`); :meth:`build_mixed_supernet` calls it. A space that is also a
    :class:`SinglePathSearchSpace` (``mobilenet``) keeps :meth:`build_supernet` for its single-path supernet and
    overrides :meth:`build_mixed_supernet`: each method asks for the supernet it trains.
    """

    def build_mixed_supernet(self, num_classes: int) -> Supernet:
        """Build a freshly initialised mixed-op supernet with ``num_classes`` outputs (default: :meth:`build_supernet`).

        Raises:
            NotImplementedError: The space implements neither this method nor :meth:`build_supernet`.
            TypeError: :meth:`build_supernet` does not return a :class:`Supernet`.
        """
        supernet = self.build_supernet(num_classes)
        if not isinstance(supernet, Supernet):
            raise TypeError(
                f"`{type(self).__name__}.build_mixed_supernet`: `build_supernet` returned a {type(supernet).__name__}, "
                "not a mixed-op Supernet; a space with two supernets overrides `build_mixed_supernet`."
            )
        return supernet


class SinglePathSearchSpace(SearchSpace):
    """A chain space searched by sampling paths: its :class:`PathSupernet` runs one path at a time.

    Single-path methods (:class:`~lightning_nas.methods.SinglePathOneShot` and its variants) train
    ``supernet(x, path)`` on paths from :meth:`random_path`. The constructor takes ``num_classes``, the default
    outputs of :meth:`build_supernet` and :meth:`build_network`; strings and sequences of choice names are paths too.

    Attributes:
        num_classes: Default outputs of the classifier.
    """

    num_classes: int

    @abstractmethod
    def build_supernet(self, num_classes: int | None = None) -> PathSupernet:
        """Build a freshly initialised single-path supernet (``num_classes=None``: the space's)."""

    @abstractmethod
    def build_network(self, genotype: Genotype | str | Sequence[str], num_classes: int | None = None) -> nn.Module:
        """Build the discrete network of ``genotype`` (a path, its string or its choices; ``None``: the space's)."""

    @abstractmethod
    def random_path(self, generator: torch.Generator | None = None) -> Genotype:
        """Draw a uniformly random legal path with ``generator``."""


def register_search_space(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator that registers a :class:`SearchSpace` subclass under ``name`` and sets its ``name``.

    Raises:
        ValueError: If ``name`` is already registered, or the class already names itself differently.
        TypeError: If the decorated object is not a :class:`SearchSpace` subclass.
    """
    register = _SEARCH_SPACES.register(name)

    def decorator(cls: type[SearchSpace]) -> type[SearchSpace]:
        if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
            raise TypeError(f"`register_search_space({name!r})` decorates SearchSpace subclasses. Got {cls!r} instead.")
        declared = cls.__dict__.get("name")
        if declared is not None and declared != name:
            raise ValueError(
                f"`register_search_space({name!r})`: {cls.__name__} declares `name` {declared!r}; the two must match."
            )
        cls.name = name
        return register(cls)

    return decorator


def get_search_space_class(name: str) -> type[SearchSpace]:
    """Return the search space class registered under ``name``.

    Raises:
        ValueError: If ``name`` is not registered; the message lists the registered names.
    """
    return _SEARCH_SPACES.get(name)


def get_search_space(name: str, **options: Any) -> SearchSpace:
    """Instantiate the search space registered under ``name`` with its ``options``.

    Args:
        name: A name from :func:`list_search_spaces`.
        **options: Keyword arguments of the space's constructor.

    Raises:
        ValueError: If ``name`` is not registered, or an option has a bad value.
        TypeError: If an option is not an argument of the space's constructor.
    """
    cls = get_search_space_class(name)
    parameters = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(options) - set(parameters))
        if unknown:
            raise TypeError(
                f"`get_search_space({name!r})`: unknown option(s) {unknown} for {cls.__name__}. "
                f"Allowed options: {sorted(parameters)}."
            )
    return cls(**options)


def list_search_spaces(kind: type[SearchSpace] | None = None) -> list[str]:
    """Return the names of the registered search spaces, sorted; with ``kind``, only those of that kind.

    Example:
        >>> list_search_spaces(SinglePathSearchSpace)
        ['mobilenet']

    Raises:
        TypeError: If ``kind`` is not a :class:`SearchSpace` subclass.
    """
    if kind is None:
        return _SEARCH_SPACES.names()
    if not (isinstance(kind, type) and issubclass(kind, SearchSpace)):
        raise TypeError(f"`list_search_spaces(kind={kind!r})`: `kind` must be a SearchSpace subclass or None.")
    return [name for name in _SEARCH_SPACES.names() if issubclass(_SEARCH_SPACES.get(name), kind)]


def unregister_search_space(name: str) -> type[SearchSpace]:
    """Remove the search space registered under ``name`` and return its class (e.g. at the end of a test).

    Raises:
        ValueError: If ``name`` is not registered.
    """
    return _SEARCH_SPACES.unregister(name)


def parse_genotype(genotype: str, space: str) -> Genotype:
    """Parse the canonical string of a genotype of the registered search space ``space``.

    Example:
        >>> parse_genotype("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "nasbench201").op_names()[:2]
        ['skip_connect', 'none']

    Raises:
        ValueError: If ``space`` is not registered, or the string is not a genotype of it.
    """
    return get_search_space_class(space).genotype_type.from_string(genotype)


def _op_registry(space: str) -> Registry[Callable[..., nn.Module]]:
    if space not in _OP_REGISTRIES:
        _OP_REGISTRIES[space] = Registry(f"{space} op")
    return _OP_REGISTRIES[space]


def register_op(name: str, *, space: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a candidate-op factory of the search space ``space`` under ``name``.

    Each space documents the signature its factories take (e.g. channels and BatchNorm flags).

    Raises:
        ValueError: If ``name`` is already registered for ``space``.
    """
    return _op_registry(space).register(name)


def get_op(name: str, *, space: str) -> Callable[..., nn.Module]:
    """Return the candidate-op factory registered under ``name`` for the search space ``space``.

    Raises:
        ValueError: If ``space`` has no ops, or ``name`` is not one of them; the message lists the allowed names.
    """
    if space not in _OP_REGISTRIES:
        raise ValueError(
            f"`get_op({name!r}, space={space!r})`: no ops are registered for {space!r}. "
            f"Spaces with ops: {sorted(_OP_REGISTRIES)}."
        )
    return _OP_REGISTRIES[space].get(name)


def list_ops(space: str) -> list[str]:
    """Return the names of the candidate ops registered for the search space ``space``, sorted.

    Raises:
        ValueError: If no ops are registered for ``space``.
    """
    if space not in _OP_REGISTRIES:
        raise ValueError(
            f"`list_ops({space!r})`: no ops are registered for {space!r}. Spaces with ops: {sorted(_OP_REGISTRIES)}."
        )
    return _OP_REGISTRIES[space].names()


def _check_bool(owner: str, name: str, value: object) -> None:
    """Raise the spaces' ValueError unless ``value`` is a bool: "`DARTSSpace(fused=1)`: `fused` must be a bool..."."""
    if not isinstance(value, bool):
        raise ValueError(f"`{owner}({name}={value!r})`: `{name}` must be a bool. Got {value!r} instead.")


def _check_positive_int(owner: str, name: str, value: object) -> None:
    """Raise the library's ValueError unless ``value`` is a positive integer (``bool`` excluded).

    ``owner`` is the class or function name, e.g. ``_check_positive_int("NASBench201Space", "C", 0)`` raises
    "`NASBench201Space(C=0)`: `C` must be a positive integer. Got 0 instead."
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{owner}({name}={value!r})`: `{name}` must be a positive integer. Got {value!r} instead.")
