"""What every client command shares: `--url`, `--token`, the SDK client, and the one-line errors
with the contract's exit codes (CONTRACT §1).

Exit codes: 0 success; 1 the job failed (`submit --wait`); 2 usage or validation error (with the
server's field errors); 3 server unreachable or auth refused.

Nothing here imports the SDK (httpx) at import time: `kjs --help` and completion import it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from kjs.client import Client

DEFAULT_URL = "http://127.0.0.1:8080"

url_option = click.option(
    "--url", envvar="KJS_URL", default=DEFAULT_URL, show_default=True, help="The kjs server."
)
token_option = click.option("--token", envvar="KJS_TOKEN", default=None, help="API token.")


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, then exit with `code`."""
    click.echo(f"kjs: {message}", err=True)
    sys.exit(code)


def builtins(model: Any) -> Any:
    """An SDK model (or a list of them) as the API's JSON shape."""
    import msgspec

    return msgspec.to_builtins(model)


@contextlib.contextmanager
def connected(url: str, token: str | None) -> Iterator[Client]:
    """An SDK client for the command; its errors end the command in one line."""
    from kjs.client import Client

    with errors_to_exit_codes(url), Client(url, token) as client:
        yield client


@contextlib.contextmanager
def errors_to_exit_codes(url: str) -> Iterator[None]:
    """The SDK's errors as one line and the contract's exit code: refused or unreachable 3,
    anything else the server said no to 2 (with its field errors)."""
    from kjs.client import ApiError, Forbidden, KjsError, ServerUnreachable, Unauthorized

    try:
        yield
    except ServerUnreachable as e:
        text = str(e)
        fail(text if "unreachable" in text else f"kjs server at {url} unreachable: {text}", 3)
    except (Unauthorized, Forbidden) as e:
        fail(e.detail or str(e), 3)
    except ApiError as e:
        fields = "; ".join(f"{error.field}: {error.message}" for error in e.errors or [])
        fail(fields or e.detail or str(e), 2)
    except KjsError as e:
        fail(str(e), 2)


def drop_unset(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flags the user did not give (None, or an empty repeatable option) left out."""
    return {k: v for k, v in values.items() if v is not None and v != ()}


def labels_of(pairs: tuple[str, ...]) -> dict[str, str] | None:
    """`--label k=v` (repeatable) as a mapping; a pair without `=` is a usage error."""
    if not pairs:
        return None
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: expected key=value", param_hint="--label")
        labels[key] = value
    return labels
