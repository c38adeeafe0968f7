"""MkDocs hooks: the reference pages are generated from the code at build time, never
retyped. A page holds a marker on a line of its own and the hook puts the text there:

- ``<!-- photoqc:cli -->``: every command of the Typer app, its arguments and options
  (flags, type, default, help), as ``photoqc COMMAND --help`` reads them;
- ``<!-- photoqc:http -->``: every route of the HTTP service from its OpenAPI schema;
- ``<!-- photoqc:features -->``: every feature from its spec (name, group, family,
  direction, description with unit and range).

mkdocs.yml names this file under ``hooks:``.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"^<!-- photoqc:(cli|http|features) -->$", re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


def _cell(text: object) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _plain(text: str) -> str:
    """Typer help (rich-markup Markdown) as plain Markdown: backticks kept."""
    return text.strip()


def cli_reference() -> str:
    import typer.main

    from photoqc.cli import app

    root = typer.main.get_command(app)
    context_class = type(root.make_context("photoqc", ["--help"], resilient_parsing=True))
    out = []

    def walk(command, path: list[str]) -> None:
        # Typer carries its own copy of click: groups are told by what they can do.
        name = " ".join(["photoqc", *path])
        context = context_class(command, info_name=name)
        if hasattr(command, "list_commands"):
            if path:
                out.append(f"## `{name}`\n\n{_plain(command.help or '')}\n")
            else:
                out.append(f"{_plain(command.help or '')}\n")
            for sub in command.list_commands(context):
                walk(command.get_command(context, sub), [*path, sub])
            return
        usage = " ".join(command.collect_usage_pieces(context))
        out.append(f"## `{name}`\n\n```\n{name} {usage}\n```\n\n{_plain(command.help or '')}\n")
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        options = [p for p in command.params if p.param_type_name == "option" and not p.hidden]
        if arguments:
            out.append("| argument | help |\n|---|---|")
            for p in arguments:
                out.append(f"| `{p.name.upper()}` | {_cell(getattr(p, 'help', '') or '')} |")
            out.append("")
        if options:
            out.append("| option | type | default | help |\n|---|---|---|---|")
            for p in options:
                flags = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
                kind = "flag" if p.is_flag else _cell(p.display_type(context).strip("<>"))
                default = p.default
                shown = "" if default in (None, False, ()) or p.show_default is False else default
                shown = getattr(shown, "value", shown)
                out.append(f"| {flags} | {kind} | {_cell(shown)} | {_cell(p.help or '')} |")
            out.append("")

    walk(root, [])
    return "\n".join(out)


def http_reference() -> str:
    from photoqc.service.app import create_app
    from photoqc.service.settings import ServeSettings

    schema = create_app(ServeSettings()).openapi()
    out = [f"Generated from the service's OpenAPI schema (version {schema['info']['version']})."]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            out.append(f"\n## `{method.upper()} {path}`\n")
            if operation.get("summary"):
                out.append(f"**{operation['summary']}**\n")
            if operation.get("description"):
                out.append(f"{operation['description'].strip()}\n")
            parameters = operation.get("parameters", [])
            if parameters:
                out.append("| parameter | in | type | default |\n|---|---|---|---|")
                for p in parameters:
                    kind = p.get("schema", {}).get("type", "")
                    default = p.get("schema", {}).get("default", "")
                    out.append(f"| `{p['name']}` | {p['in']} | {kind} | {_cell(default)} |")
                out.append("")
            responses = operation.get("responses", {})
            if responses:
                out.append("| status | meaning |\n|---|---|")
                for status, response in responses.items():
                    out.append(f"| {status} | {_cell(response.get('description', ''))} |")
    return "\n".join(out) + "\n"


def feature_reference() -> str:
    from photoqc.features import table_groups

    out = ["| feature | group | family | better | description (unit, range) |",
           "|---|---|---|---|---|"]  # fmt: skip
    for group in table_groups():
        for spec in group.specs:
            out.append(
                f"| `{spec.name}` | {group.name} | {spec.family} | {_cell(spec.direction)} | "
                f"{_cell(spec.description)} |"
            )
    return "\n".join(out) + "\n"


GENERATORS = {"cli": cli_reference, "http": http_reference, "features": feature_reference}
