"""`python -m preprocessing <command>`: one sub-command module per command."""

from __future__ import annotations

import argparse
import importlib

# command name -> module exposing `add_arguments(parser)` and `run(args) -> int`
COMMANDS = {
    "samples": "preprocessing.commands.samples",
    "demo": "preprocessing.commands.demo",
    "run": "preprocessing.commands.run",
    "flow": "preprocessing.commands.flow",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preprocessing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return modules[args.command].run(args)
