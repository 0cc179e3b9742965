"""`python -m engine COMMAND ...`: reconstruct, train, evaluate, bench, preview.

Exit status: 0 success, 2 bad input or usage (one line on stderr), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback

from ..errors import InputError, first_line

# command -> module with add_arguments(parser) and run(args) -> int; imported only when used
COMMANDS = {
    "reconstruct": ("engine.cli.reconstruct", "image(s) -> mesh file(s)"),
    "train": ("engine.cli.train", "train a model on procedural shapes or your meshes"),
    "evaluate": ("engine.cli.evaluate", "IoU, Chamfer-L1, F-score and normal consistency on held-out shapes"),
    "bench": ("engine.cli.bench", "speed of extraction at 64..512 against dense and IM-NET-style references"),
    "preview": ("engine.cli.preview", "a contact sheet of training renders: one row per category"),
}


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit status 2."""

    def error(self, message):
        raise InputError(f"{message} (see: python -m engine {self.prog.split()[-1]} --help)")


def build_parser(command: str | None = None) -> OneLineParser:
    """The parser; only the chosen command's module is imported to add its options."""
    parser = OneLineParser(prog="python -m engine", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, (module, helptext) in COMMANDS.items():
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (0 = all)")
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        if args.threads > 0:
            import torch
            torch.set_num_threads(args.threads)
        return importlib.import_module(COMMANDS[args.command][0]).run(args) or 0
    except InputError as exc:
        print(f"imdec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imdec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: one line, the traceback only when asked for
        if os.environ.get("IMDEC_DEBUG"):
            traceback.print_exc()
        print(f"imdec: internal error: {type(exc).__name__}: {first_line(exc)} "
              "(set IMDEC_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def print_json(obj) -> None:
    print(json.dumps(obj), flush=True)


def command_line() -> str:
    """This process's command, as a run records it."""
    return "python -m engine " + " ".join(sys.argv[1:])


def comma_list(text: str, kind=str, option: str = "") -> tuple:
    """'a,b,,c' -> ('a', 'b', 'c'), each converted by `kind`; a value it rejects is bad input."""
    try:
        return tuple(kind(item) for item in text.split(",") if item)
    except ValueError:
        raise InputError(f"{option or 'a list option'} takes comma-separated {kind.__name__} values, not {text!r}") from None
