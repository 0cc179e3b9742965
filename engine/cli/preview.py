"""`python -m engine preview`: a contact sheet of training renders, one row per category and one
column per seed, each labelled with its subtype (docs/data_samples.png)."""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..data.shapes import SPLIT_BASE

    p.add_argument("-o", "--output", default="docs/data_samples.png", help="image file to write")
    p.add_argument("--seeds", type=int, default=6, help="shapes (columns) per category")
    p.add_argument("--size", type=int, default=128, help="pixels per render")
    p.add_argument("--split", default="train", choices=sorted(SPLIT_BASE))
    p.add_argument("--start", type=int, default=0, help="first seed of the split")
    p.add_argument("--categories", default="", help="comma-separated (default: every procedural category)")


def run(args) -> int:
    from ..data.preview import make_sheet
    from ..errors import InputError

    if args.seeds < 1 or args.size < 1:
        raise InputError(f"--seeds and --size must be positive, not {args.seeds} and {args.size}")
    from . import comma_list
    from ..data.shapes import ALL_CATEGORIES

    categories = comma_list(args.categories) or ALL_CATEGORIES
    unknown = [c for c in categories if c not in ALL_CATEGORIES]
    if unknown:
        raise InputError(f"unknown categories {', '.join(unknown)}; procedural ones are {', '.join(ALL_CATEGORIES)}")
    make_sheet(args.output, args.seeds, args.size, args.split, args.start, categories=categories)
    return 0
