"""Sub-type families held out of training, to measure how the model does on kinds of objects it
never saw (`train --hold-out-families`, `evaluate --families held-out`).

A family is one word of a shape's subtype ("swivel/padded/arms" belongs to "swivel" and "padded").
Seeds are chosen by family deterministically: a drawn index moves on to the next admitted one, and
the first shapes of a split become the first admitted ones.
"""

from __future__ import annotations

from . import shapes as procedural

# the most distinctive family of each furniture category: office chairs on a five-star swivel
# base, tables on two trestles, sofas with a chaise, floor lamps whose arm arcs over to the shade
HELD_OUT_FAMILIES = {"chair": ("swivel",), "table": ("trestle",), "sofa": ("chaise",), "lamp": ("arc",)}
SEARCH_LIMIT = 10_000  # seeds looked at for the next admitted one before giving up


def in_families(subtype: str, families) -> bool:
    return any(word in families for word in subtype.split("/"))


def describe(table: dict = HELD_OUT_FAMILIES) -> str:
    return ", ".join(f"{c}: {'/'.join(f)}" for c, f in table.items())


class FamilyFilter:
    """Shape indices of a split restricted by family: `only=False` skips the families of `table`
    ({category: (family, ...)}), `only=True` admits nothing else (and no category outside it)."""

    def __init__(self, table: dict, only: bool):
        self.table, self.only = {c: tuple(f) for c, f in table.items()}, only

    def admits(self, category: str, split: str, index: int) -> bool:
        seed = procedural.SPLIT_BASE[split] + index % procedural.SPLIT_SIZE
        held = in_families(procedural.shape_subtype(category, seed), self.table.get(category, ()))
        return held == self.only

    def next_index(self, category: str, split: str, index: int) -> int:
        """The first admitted index from `index` on."""
        for i in range(index, index + SEARCH_LIMIT):
            if self.admits(category, split, i):
                return i
        raise ValueError(f"no {category} shape {'of' if self.only else 'outside'} the families "
                         f"{self.table.get(category, ())} among {SEARCH_LIMIT} seeds of the {split} split")

    def apply(self, categories: list[str], indices: list[int], split: str, consecutive: bool) -> list[int]:
        """Admitted indices for drawn (category, index) pairs. `consecutive`: the indices count up
        per category (a split's first shapes), and the k-th becomes the category's k-th admitted one."""
        if not consecutive:
            return [self.next_index(c, split, i) for c, i in zip(categories, indices)]
        out, after = [], {}
        for c, i in zip(categories, indices):
            out.append(self.next_index(c, split, after.get(c, i)))
            after[c] = out[-1] + 1
        return out
