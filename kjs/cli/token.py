"""`kjs token create`: a new API token, and the `[auth] tokens` entry that lets a server accept
it. No server is asked: the server never sees the token itself, only its SHA-256 in its
configuration (CONTRACT §2, §6)."""

from __future__ import annotations

import json

import click

from kjs.cli.common import fail

# A Kubernetes namespace name: a token limited to a name that is not one could never be used.
_NAMESPACE = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


@click.group()
def token() -> None:
    """API tokens (for the server's `[auth] tokens`)."""


def _split(values: tuple[str, ...]) -> list[str]:
    """Repeated options and comma-separated lists alike: `--scopes read,submit`."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _toml(entry: dict[str, object]) -> str:
    # JSON's strings and arrays of strings are valid TOML values.
    lines = ["[[auth.tokens]]"] + [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    return "\n".join(lines)


@token.command()
@click.option("--name", required=True, help="Who uses it (shown in the server's logs).")
@click.option(
    "--scopes",
    multiple=True,
    default=("read",),
    show_default=True,
    help="read, submit or admin (admin ⊃ submit ⊃ read); repeatable or comma-separated.",
)
@click.option(
    "--namespaces",
    multiple=True,
    help="The only namespaces it may use (repeatable or comma-separated); none: every one.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["toml", "json"]),
    default="toml",
    show_default=True,
    help="The entry as TOML (the config file) or JSON (the Helm chart's tokens Secret).",
)
def create(name: str, scopes: tuple[str, ...], namespaces: tuple[str, ...], output: str) -> None:
    """A new random token, printed once (first line), then the configuration entry that holds
    its SHA-256 (never the token): `kjs token create --name ci --scopes submit`."""
    import hashlib
    import re
    import secrets

    from kjs.core.config import ConfigError, load

    entry: dict[str, object] = {
        "name": name.strip(),
        "sha256": "",
        "scopes": _split(scopes),
        "namespaces": _split(namespaces),
    }
    if not entry["name"]:
        fail("--name: empty", 2)
    for namespace in entry["namespaces"]:  # type: ignore[attr-defined]
        if len(namespace) > 63 or not re.fullmatch(_NAMESPACE, namespace):
            fail(f"--namespaces: {namespace!r} is not a Kubernetes namespace name", 2)
    secret = secrets.token_urlsafe(32)
    entry["sha256"] = hashlib.sha256(secret.encode()).hexdigest()
    try:  # checked as the server will check it, so that what is printed is what it accepts
        load(environ={}, overrides={"auth": {"tokens": [entry]}})
    except ConfigError as e:
        fail(str(e).replace("auth.tokens[0].", "--"), 2)
    click.echo(secret)
    click.echo(_toml(entry) if output == "toml" else json.dumps(entry))
    where = (
        "the server's config file"
        if output == "toml"
        else "the list in the chart's tokens Secret (secrets.authTokens)"
    )
    click.echo(
        f"kjs: the token (first line) is shown only now: give it to its user (KJS_TOKEN); "
        f"add the entry to {where}",
        err=True,
    )
