"""Kubernetes resource quantities (`"500m"`, `"2"`, `"16Gi"`, `"1.5e3"`) as numbers.

The grammar is Kubernetes' own (`k8s.io/apimachinery/pkg/api/resource`)::

    quantity  ::= sign? digits ( "." digits? )? suffix?  |  sign? "." digits suffix?
    suffix    ::= "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"        (powers of 1024)
                | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E"  (powers of 1000)
                | ("e" | "E") sign? digits                     (a decimal exponent)

Kubernetes rounds up when it reads a quantity in a smaller unit (a CPU in millicores, memory in
bytes), and so does this module: `cpu_millicores("0.0001")` is 1, not 0.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE]))?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_EXPONENT = 64  # beyond any real resource; keeps a `1e999999999` from costing anything


class QuantityError(ValueError):
    """Not a Kubernetes quantity, or not one this use takes (negative)."""


def parse(text: str) -> Decimal:
    """The quantity's exact value (`"500m"` → 0.5, `"1Ki"` → 1024)."""
    found = _QUANTITY.fullmatch(text)
    if found is None:
        raise QuantityError(
            f"{text!r} is not a Kubernetes quantity (e.g. '500m', '2', '1.5', '16Gi', '1e3')"
        )
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


def _ceil(value: Decimal) -> int:
    try:
        return int(value.to_integral_value(rounding=ROUND_CEILING))
    except (InvalidOperation, OverflowError) as e:  # pragma: no cover - bounded above
        raise QuantityError(f"{value} is out of range") from e


def cpu_millicores(text: str) -> int:
    """A CPU quantity in millicores, rounded up (`"2"` → 2000, `"250m"` → 250)."""
    return _ceil(_non_negative(text) * 1000)


def memory_bytes(text: str) -> int:
    """A memory quantity in bytes, rounded up (`"16Gi"` → 17179869184, `"1k"` → 1000)."""
    return _ceil(_non_negative(text))
