"""A small bounded memo of pure translation results, owned by a Route.

Code agents send the same big pieces on every turn of a session (Claude Code's ~20 tool schemas,
Codex's tool list): a `Route` owns one `Memo` and hands it to its codecs through
`TranslationContext.memo`, so a piece seen before is not decoded, walked and rendered again.

Two kinds of keys:
- source bytes (`parsed` / `keep_parsed`): a hit requires the exact same bytes (found by a cheap
  fingerprint, then compared in full), so it returns exactly what parsing those bytes returns;
- IR objects by identity (`rendered` / `keep_rendered`): the entry holds the objects, so their
  ids cannot be reused while it lives; valid because nobody mutates IR tools after parsing.
  Renderings are kept only for objects a memoized parse marked with `share`.

Values must be immutable in practice (tuples) and carry the notes (and tool aliases) the work
made, for the caller to replay. Rule: stdlib only; no global state.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

DEFAULT_SIZE = 32
"""Entries kept (least recently used dropped first): a few tool sets per client in use."""
_SAMPLE = 32


class Memo:
    """An LRU of pure results keyed by source bytes or by the identity of IR objects."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._items: dict[Hashable, tuple[Any, Any]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def parsed(self, what: str, source: bytes) -> Any:
        """What `keep_parsed` stored for exactly these bytes, or None."""
        hit = self._get(_fingerprint(what, source))
        return hit[1] if hit is not None and hit[0] == source else None

    def keep_parsed(self, what: str, source: bytes, value: Any) -> None:
        """Store the result of parsing `source`."""
        self._put(_fingerprint(what, source), (source, value))

    def rendered(self, what: str, objects: Sequence[object]) -> Any:
        """What `keep_rendered` stored for these very objects, or None."""
        hit = self._get((what, *map(id, objects)))
        return hit[1] if hit is not None and _same(hit[0], objects) else None

    def share(self, objects: Sequence[object]) -> None:
        """Mark objects a memoized parse hands out on every hit (a tool list), so that their
        renderings are worth keeping (fresh objects of a parse that is not memoized never come
        back). Held strongly, so their ids stay theirs."""
        if objects:
            self._put(("shared", id(objects[0])), (tuple(objects), None))

    def is_shared(self, objects: Sequence[object]) -> bool:
        """Whether `objects` are exactly a list marked by `share`."""
        if not objects:
            return False
        hit = self._get(("shared", id(objects[0])))
        return hit is not None and _same(hit[0], objects)

    def keep_rendered(self, what: str, objects: Sequence[object], value: Any) -> None:
        """Store the result of rendering `objects` (kept alive by the entry)."""
        self._put((what, *map(id, objects)), (tuple(objects), value))

    def _get(self, key: Hashable) -> tuple[Any, Any] | None:
        entry = self._items.pop(key, None)
        if entry is not None:
            self._items[key] = entry  # most recently used last
        return entry

    def _put(self, key: Hashable, entry: tuple[Any, Any]) -> None:
        self._items[key] = entry
        while len(self._items) > self._size:
            del self._items[next(iter(self._items))]


def _same(kept: Sequence[object], objects: Sequence[object]) -> bool:
    return len(kept) == len(objects) and all(a is b for a, b in zip(kept, objects, strict=True))


def _fingerprint(what: str, source: bytes) -> tuple[str, int, bytes, bytes, bytes]:
    """A cheap stand-in for hashing all of `source` (a full compare confirms a hit)."""
    mid = len(source) // 2
    return what, len(source), source[:_SAMPLE], source[mid : mid + _SAMPLE], source[-_SAMPLE:]
