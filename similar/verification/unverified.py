"""`verify.method: none`: check nothing; the stages pass the CNN ranking through."""

from __future__ import annotations

from .base import Method, PairResult


class Unverified(Method):
    name = "none"
    verifies = False

    def describe(self, data: bytes) -> None:
        return None

    def check(self, a, b, seed: int, read=None) -> PairResult:
        return PairResult(0)

    def cache_key(self) -> str:
        return '{"kind":"none"}'

    def pack(self, features) -> bytes:
        return b""

    def unpack(self, raw: bytes) -> None:
        return None


METHOD = Unverified
