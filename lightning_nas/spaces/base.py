"""Contracts shared by every search space: genotypes, weight-sharing supernets and the space itself.

A search space says *what* is searched. It builds a weight-sharing :class:`Supernet` (the continuous
relaxation a one-shot method trains), derives a discrete :class:`Genotype` from it, and builds the discrete
network of a genotype for retraining or evaluation. Spaces are registered by name with
:func:`register_search_space` so that YAML configs can pick them (``space: nasbench201``); each space keeps
its candidate operations in its own op registry (:func:`register_op`, :func:`get_op`, :func:`list_ops`).
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from torch import nn

from lightning_nas.registry import Registry

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "Genotype",
    "SearchSpace",
    "StepOrder",
    "Supernet",
    "get_op",
    "get_search_space",
    "get_search_space_class",
    "list_ops",
    "list_search_spaces",
    "register_op",
    "register_search_space",
]

StepOrder = Literal["arch_first", "weights_first"]
"""Order of the two updates in a bi-level step: the architecture (alpha) step first, or the weight step first."""

_SEARCH_SPACES: Registry[type[SearchSpace]] = Registry("search space")
_OP_REGISTRIES: dict[str, Registry[Callable[..., nn.Module]]] = {}


class Genotype(ABC):
    """A discrete architecture of one search space: an immutable, hashable value with a canonical string.

    Subclasses are ``@dataclass(frozen=True)`` classes that set the class variable ``space`` to the name their
    search space is registered under, and implement :meth:`from_string` and :meth:`__str__` so that
    ``type(g).from_string(str(g)) == g``. The JSON form adds the space name so a genotype can be read back
    without knowing its type in advance (:meth:`Genotype.from_json` on the base class dispatches on it).
    """

    space: ClassVar[str]

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


class SearchSpace(ABC):
    """A search space: builds supernets, derives genotypes and builds the discrete network of a genotype.

    Subclasses set the class variables and are registered with :func:`register_search_space`. Their
    constructor takes the space's options as typed keyword arguments with the papers' defaults, validates
    them, and does no other work.

    Attributes:
        name: The name the space is registered under.
        genotype_type: The space's :class:`Genotype` subclass.
        default_step_order: The bi-level step order of the reference implementation for this space.
    """

    name: ClassVar[str]
    genotype_type: ClassVar[type[Genotype]]
    default_step_order: ClassVar[StepOrder]

    @abstractmethod
    def build_supernet(self, num_classes: int) -> Supernet:
        """Build a freshly initialised weight-sharing supernet with ``num_classes`` outputs."""

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


def list_search_spaces() -> list[str]:
    """Return the names of the registered search spaces, sorted."""
    return _SEARCH_SPACES.names()


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


def _check_positive_int(owner: str, name: str, value: object) -> None:
    """Raise the library's ValueError unless ``value`` is a positive integer (``bool`` excluded).

    ``owner`` is the class or function name, e.g. ``_check_positive_int("NASBench201Space", "C", 0)`` raises
    "`NASBench201Space(C=0)`: `C` must be a positive integer. Got 0 instead."
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{owner}({name}={value!r})`: `{name}` must be a positive integer. Got {value!r} instead.")
