"""A small registry of named parts (ops, search spaces), in the style of timm's model registry.

Names are what YAML configs and the command line use to pick a part, so a registry refuses to register a
name twice and answers an unknown name with the list of the names it knows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects (classes, factories) filled by a decorator.

    Args:
        kind: What the registry holds, in words (e.g. ``"search space"``); used in error messages.

    Example:
        >>> ACTIVATIONS = Registry("activation")
        >>> @ACTIVATIONS.register("double")
        ... def double(x):
        ...     return 2 * x
        >>> ACTIVATIONS.get("double")(3)
        6
        >>> "double" in ACTIVATIONS, ACTIVATIONS.names()
        (True, ['double'])
        >>> ACTIVATIONS.get("triple")
        Traceback (most recent call last):
        ...
        ValueError: Unknown activation 'triple'. Registered activation names: ['double'].
        >>> ACTIVATIONS.unregister("double")(3), ACTIVATIONS.names()
        (6, [])
    """

    def __init__(self, kind: str) -> None:
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"`Registry(kind={kind!r})`: `kind` must be a non-empty string. Got {kind!r} instead.")
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name`` and returns it unchanged.

        Args:
            name: The name to register; a non-empty string not registered yet.

        Raises:
            ValueError: If ``name`` is empty, not a string, or already registered.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} registry: `name` must be a non-empty string. Got {name!r} instead.")
        if name in self._entries:
            raise ValueError(
                f"{self.kind} registry: `name` {name!r} is already registered (to {self._entries[name]!r}). "
                "Choose another name."
            )

        def decorator(obj: T) -> T:
            if name in self._entries:  # registered between the two calls
                raise ValueError(f"{self.kind} registry: `name` {name!r} is already registered. Choose another name.")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Return the object registered under ``name``.

        Raises:
            ValueError: If no object is registered under ``name``; the message lists the registered names.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: unhashable name
            raise ValueError(f"Unknown {self.kind} {name!r}. Registered {self.kind} names: {self.names()}.") from None

    def unregister(self, name: str) -> T:
        """Remove the object registered under ``name`` and return it (e.g. to undo a test's registration).

        Raises:
            ValueError: If no object is registered under ``name``; the message lists the registered names.
        """
        obj = self.get(name)
        del self._entries[name]
        return obj

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, names={self.names()})"
