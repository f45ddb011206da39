"""Kubernetes resource quantities (`"500m"`, `"2"`, `"16Gi"`, `"1.5e3"`) as numbers.

The grammar is Kubernetes' own (`k8s.io/apimachinery/pkg/api/resource`)::

    quantity  ::= sign? digits ( "." digits? )? suffix?  |  sign? "." digits suffix?
    suffix    ::= "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"        (powers of 1024)
                | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E"  (powers of 1000)
                | ("e" | "E") sign? digits                     (a decimal exponent)

Kubernetes rounds up when it reads a quantity in a smaller unit (a CPU in millicores, memory in
bytes), and so does this module: `cpu_millicores("0.0001")` is 1, not 0.

One bound for every amount kjs reads (a job's `resources`, queue and namespace limits,
`default_requests`): at most `MAX_AMOUNT` = 2^50 in the unit kjs counts, that is 1Pi of memory
and 2^50 millicores (about 1.1e12 CPUs) — far beyond any cluster, and small enough that a job's
total (times its parallelism, clamped to `MAX_TOTAL`) and sums of many jobs stay inside int64.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation, localcontext

_QUANTITY = re.compile(  # ASCII digits only: Kubernetes rejects "٣"
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE]))?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_EXPONENT = 64  # beyond any real resource; keeps a `1e999999999` from costing anything
_MAX_LENGTH = 128  # checked before any int()/Decimal(): a 5000-digit exponent is not a quantity
_PRECISION = _MAX_LENGTH + 2 * _MAX_EXPONENT  # every digit kept exactly: no rounding down
MAX_AMOUNT = 2**50
"""The largest amount kjs accepts, in millicores or bytes: 1Pi of memory, 2^50 millicores."""
MAX_TOTAL = 2**53
"""A job's total request (a pod's times its parallelism) is clamped to this."""


class QuantityError(ValueError):
    """Not a Kubernetes quantity, or not one this use takes (negative)."""


def parse(text: str) -> Decimal:
    """The quantity's exact value (`"500m"` → 0.5, `"1Ki"` → 1024)."""
    found = _QUANTITY.fullmatch(text) if len(text) <= _MAX_LENGTH else None
    if found is None:
        shown = repr(text) if len(text) <= 40 else f"{text[:40]!r}… ({len(text)} characters)"
        raise QuantityError(
            f"{shown} is not a Kubernetes quantity (e.g. '500m', '2', '1.5', '16Gi', '1e3')"
        )
    with localcontext() as exact:
        exact.prec = _PRECISION
        number = Decimal(found["number"])
        if found["binary"]:
            return number * Decimal(1024 ** _BINARY[found["binary"]])
        if found["decimal"]:
            return number.scaleb(_DECIMAL[found["decimal"]])
        if found["exponent"]:
            exponent = int(found["exponent"][1:])
            if abs(exponent) > _MAX_EXPONENT:
                raise QuantityError(f"{text!r}: the exponent is out of range")
            return number.scaleb(exponent)
        return number


def _non_negative(text: str) -> Decimal:
    value = parse(text)
    if value < 0:
        raise QuantityError(f"{text!r} is negative")
    return value


def _ceil(value: Decimal, most: str) -> int:
    if value > MAX_AMOUNT:
        raise QuantityError(f"must be at most {most}")
    try:
        return int(value.to_integral_value(rounding=ROUND_CEILING))
    except (InvalidOperation, OverflowError) as e:  # pragma: no cover - bounded above
        raise QuantityError(f"{value} is out of range") from e


# Placement reads every waiting job's quantities on every pass: the same few texts (`"500m"`,
# `"1Gi"`) over and over. Pure functions of the text: remembered (a bad one raises each time).
@functools.lru_cache(maxsize=4096)
def cpu_millicores(text: str) -> int:
    """A CPU quantity in millicores, rounded up (`"2"` → 2000, `"250m"` → 250); at most
    `MAX_AMOUNT` millicores."""
    with localcontext() as exact:
        exact.prec = _PRECISION
        return _ceil(_non_negative(text) * 1000, f"{MAX_AMOUNT}m")


@functools.lru_cache(maxsize=4096)
def memory_bytes(text: str) -> int:
    """A memory quantity in bytes, rounded up (`"16Gi"` → 17179869184, `"1k"` → 1000); at most
    `MAX_AMOUNT` bytes (1Pi)."""
    return _ceil(_non_negative(text), "1Pi")
