"""Kubernetes quantities read as Kubernetes reads them (kjs.core.quantity)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kjs.core.quantity import QuantityError, cpu_millicores, memory_bytes, parse


@pytest.mark.parametrize(
    ("text", "millicores"),
    [
        ("2", 2000),
        ("500m", 500),
        ("0.5", 500),
        ("1.5", 1500),
        (".25", 250),
        ("3.", 3000),
        ("1e3", 1_000_000),
        ("1E-3", 1),
        ("+1", 1000),
        ("0.0001", 1),  # rounded up, as Kubernetes rounds
        ("100u", 1),
        ("1k", 1_000_000),
        ("0", 0),
    ],
)
def test_cpu_in_millicores(text: str, millicores: int) -> None:
    assert cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16Gi", 16 * 1024**3),
        ("1Ki", 1024),
        ("1.5Mi", 1536 * 1024),
        ("2Ti", 2 * 1024**4),
        ("1Pi", 1024**5),
        ("1Ei", 1024**6),
        ("1k", 1000),
        ("1M", 10**6),
        ("1G", 10**9),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),  # exa, not an exponent without digits
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("123Mi", 123 * 1024**2),
        ("1500m", 2),  # 1.5 bytes: rounded up
    ],
)
def test_memory_in_bytes(text: str, size: int) -> None:
    assert memory_bytes(text) == size


def test_the_exact_value() -> None:
    assert parse("500m") == Decimal("0.5")
    assert parse("-1") == Decimal(-1)
    assert parse("1n") == Decimal("1e-9")


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1 Gi", "1gi", "1Gib", "1KB", "1K", "Gi", "1e", "1e+", "--1", "1.2.3", "0x10"],
)
def test_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        parse(text)


def test_a_negative_resource_is_refused() -> None:
    with pytest.raises(QuantityError, match="negative"):
        cpu_millicores("-500m")
    with pytest.raises(QuantityError, match="negative"):
        memory_bytes("-1Gi")


def test_an_absurd_exponent_is_refused_cheaply() -> None:
    with pytest.raises(QuantityError, match="out of range"):
        parse("1e999999999")
