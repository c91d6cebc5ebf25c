"""Pure data-selection and scoring algorithms (numpy / torch / faiss, no Lightning)."""

from lightning_nas.selection.scores import el2n

__all__ = ["el2n"]
