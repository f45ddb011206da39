"""Kubernetes quantities read as Kubernetes reads them (kjs.core.quantity)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kjs.core.quantity import MAX_AMOUNT, QuantityError, cpu_millicores, memory_bytes, parse


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
        ("1k", 1000),
        ("1M", 10**6),
        ("1G", 10**9),
        ("1T", 10**12),
        ("1P", 10**15),
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
    assert parse("1E") == 10**18  # exa, not an exponent without digits
    assert parse("1Ei") == 1024**6
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


def test_a_huge_exponent_is_a_quantity_error_not_a_crash() -> None:
    # Python's int() refuses more than 4300 digits with a plain ValueError: the length bound
    # comes first.
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        cpu_millicores("1e" + "1" * 5000)


def test_only_ascii_digits() -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        cpu_millicores("\u0663")  # ARABIC-INDIC DIGIT THREE: Kubernetes refuses it too


def test_no_digit_is_rounded_away() -> None:
    # Decimal's default 28 digits would make this exactly 1 CPU.
    assert cpu_millicores("1.0000000000000000000000000001") == 1001


def test_one_bound_for_every_amount() -> None:
    assert memory_bytes("1Pi") == MAX_AMOUNT == 2**50
    assert cpu_millicores(f"{MAX_AMOUNT}m") == MAX_AMOUNT
    for text in ("8Ei", "1e60", "1025Ti"):
        with pytest.raises(QuantityError, match="must be at most 1Pi"):
            memory_bytes(text)
    with pytest.raises(QuantityError, match=f"must be at most {MAX_AMOUNT}m"):
        cpu_millicores(f"{MAX_AMOUNT + 1}m")
