"""mock/: the built-in mock provider, speaking every API cal supports (tests, demo, validate, bench).

Rule: answers are pure functions of the request and the options (each API module renders a shared
`Reply`); the ASGI shell in app.py holds the only state, per instance (recent requests, fail-first
counters). Nothing here reaches the network except the server it is served by.
"""

from __future__ import annotations

from cal.mock.app import MockProvider
from cal.mock.incoming import ReceivedRequest
from cal.mock.reply import MockOptions

__all__ = ["MockOptions", "MockProvider", "ReceivedRequest"]
