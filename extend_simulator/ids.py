"""Deterministic ids and cheap hashing.

A run id is ``<prefix><5 order-preserving chars encoding seq><16 pseudo-random chars>`` (21 chars after the
prefix, like Extend's nanoid-style ids).  The alphabet is sorted in ASCII order, so for runs of one family
``id`` order equals ``seq`` order; across families ids compare by prefix first.  The composite index keys in
model.py encode (timestamp, prefix rank, seq), which is therefore exactly (timestamp, id) order.
"""

from __future__ import annotations

from typing import Final

from .enums import RUN_PREFIX, Family

ALPHABET: Final = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
assert len(ALPHABET) == 64 and "".join(sorted(ALPHABET)) == ALPHABET
_DECODE: Final = {c: i for i, c in enumerate(ALPHABET)}
_SEQ_WIDTH: Final = 5
_SEQ_OFFSET: Final = 20 * 64**4  # so the first id char is a letter, not '-'
MAX_SEQ: Final = (1 << 26) - 1
_MASK64: Final = (1 << 64) - 1

# Prefix rank in ASCII order (used in composite sort keys).
PREFIX_RANK: Final[dict[str, int]] = {
    fam: rank for rank, fam in enumerate(sorted(RUN_PREFIX, key=lambda f: RUN_PREFIX[f]))
}
_PREFIX_TO_FAMILY: Final[dict[str, Family]] = {p: f for f, p in RUN_PREFIX.items()}  # type: ignore[misc]


def mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-distributed, process-independent hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def h(seed: int, seq: int, salt: int) -> int:
    return mix64((seed * 0x100000001B3) ^ (seq << 8) ^ salt)


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, r = divmod(value, 64)
        chars.append(ALPHABET[r])
    return "".join(reversed(chars))


def _random_chars(seed: int, seq: int, salt: int, n: int) -> str:
    out = []
    x = h(seed, seq, salt)
    for i in range(n):
        if i % 10 == 9:
            x = mix64(x + i)
        out.append(ALPHABET[x & 63])
        x >>= 6
    return "".join(out)


def run_id(family: Family, seq: int, seed: int) -> str:
    return RUN_PREFIX[family] + _encode(seq + _SEQ_OFFSET, _SEQ_WIDTH) + _random_chars(seed, seq, 0x51, 16)


def parse_run_id(run_id_: str) -> tuple[Family, int] | None:
    """Return (family, seq) for an id this simulator issued (the random tail is not checked)."""
    for prefix, fam in _PREFIX_TO_FAMILY.items():
        if run_id_.startswith(prefix):
            body = run_id_[len(prefix) :]
            if len(body) != _SEQ_WIDTH + 16:
                return None
            value = 0
            for c in body[:_SEQ_WIDTH]:
                d = _DECODE.get(c)
                if d is None:
                    return None
                value = value * 64 + d
            seq = value - _SEQ_OFFSET
            if 0 <= seq <= MAX_SEQ:
                return fam, seq
            return None
    return None


def derived_id(prefix: str, seed: int, n: int, salt: int) -> str:
    """A random-looking id for a secondary object (file, batch, processor, ...) derived from an integer."""
    return prefix + _random_chars(seed, n, salt, 21)
