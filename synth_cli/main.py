"""The ``synth`` command: one click group, one module per command group in ``commands/``."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape

from synth_core.errors import SynthError


class SynthGroup(click.Group):
    """Turns user errors (:class:`SynthError`) into one red line and exit code 1;
    with ``--debug`` the full traceback is shown instead."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SynthError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            Console(stderr=True).print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
            sys.exit(1)


@click.group(cls=SynthGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="synth-humans")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Synthetic humans with exact ground truth: body models, assets, rendering.

    Start with `synth body preview --out DIR` (the free default body) and
    `synth assets verify` (what is installed and what is missing); render with
    `synth render`, train SURREAL's networks on the result with `synth train`.
    """
    ctx.ensure_object(dict)["debug"] = debug


def _register() -> None:
    from synth_cli.commands.addon import addon
    from synth_cli.commands.assets import assets
    from synth_cli.commands.backgrounds import backgrounds
    from synth_cli.commands.body import body
    from synth_cli.commands.export import export
    from synth_cli.commands.occluders import occluders
    from synth_cli.commands.inspect import inspect
    from synth_cli.commands.preview import preview
    from synth_cli.commands.render import render
    from synth_cli.commands.status import status
    from synth_cli.commands.texture import texture
    from synth_cli.commands.train import evaluate, predict, train
    from synth_cli.commands.validate import validate

    cli.add_command(addon)
    cli.add_command(assets)
    cli.add_command(backgrounds)
    cli.add_command(body)
    cli.add_command(export)
    cli.add_command(occluders)
    cli.add_command(preview)
    cli.add_command(render)
    cli.add_command(status)
    cli.add_command(texture)
    cli.add_command(validate)
    cli.add_command(inspect)
    cli.add_command(train)
    cli.add_command(evaluate)
    cli.add_command(predict)


_register()


def main() -> None:
    cli(prog_name="synth")
