"""`GET /api/v1/whoami`: the caller as the server sees it (a UI shows the principal and hides
the actions its scopes do not allow)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from msgspec import Meta, Struct

from kjs.api.auth import SCOPES
from kjs.api.policy import Action, access
from kjs.api.schema import protected


class WhoAmI(Struct, kw_only=True):
    name: Annotated[str, Meta(description="The token's name (open mode: the anonymous one).")]
    scopes: Annotated[
        list[str],
        Meta(
            description=(
                "The scopes held, each with those it implies (`admin` > `submit` > `read`), "
                "weakest first."
            )
        ),
    ]
    namespaces: Annotated[
        list[str], Meta(description="The namespaces it may use, sorted; empty: every one.")
    ]
    queues: Annotated[
        list[str], Meta(description="The queues it may submit to, sorted; empty: every one.")
    ]
    open: Annotated[bool, Meta(description="True in open mode: no token is needed.")]


@get(
    "/api/v1/whoami",
    **protected(Action.READ),
    tags=["auth"],
    summary="The caller: the token's name, scopes and namespaces",
)
async def whoami(request: Request[Any, Any, Any]) -> WhoAmI:
    who = access(request).who
    return WhoAmI(
        name=who.name,
        scopes=[scope for scope in SCOPES if who.may(scope)],
        namespaces=sorted(who.namespaces),
        queues=sorted(who.queues),
        open=who.anonymous and not request.app.state.settings.auth.tokens,
    )
