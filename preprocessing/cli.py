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


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The parser of every command and the command modules by name."""
    parser = argparse.ArgumentParser(prog="python -m preprocessing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    """The CLI: a user error (a bad dataset, option or input; a pipeline that cannot run) is one ``error:`` line
    and exit status 2 (:mod:`mer_ray.infra.errors`)."""
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    from mer_ray.infra.errors import run_cli
    from preprocessing.annotations.sample import DatasetError
    from preprocessing.features.pipeline import PipelineError

    return run_cli(lambda: modules[args.command].run(args), user_errors=(DatasetError, PipelineError))
