"""Scenario 2: streams of 64 text deltas paced 20 ms apart (the mock's --chunks/--interval-ms).

Routes: Anthropic pass-through (50 and 200 KB), an Anthropic client via an OpenAI Chat endpoint,
and a Responses client via an Anthropic endpoint. "Direct" is the same client request sent to the
mock's own route for the client's format, so on translated routes "added" includes translating
the request and every event. Time to first byte is the first `data:` line; gaps are between the
content deltas (64 per stream whatever the format), pooled over the streams. Each route also
goes through the HTTP floor (`http_floor.py`, the least an HTTP-aware gateway does), in the same
rotation: columns "http floor" and "http+" (it minus direct).
"""

from __future__ import annotations

from typing import Any

from harness import Call, Row, Stack, claude_call, compare, interleave, ms, p50, p99, responses_call

NAME = "2 stream"


def run(stack: Stack, env: dict[str, Any], quick: bool) -> tuple[list[Row], dict[str, Any]]:
    mock, pipe, http = env["mock"], env["pipe"], env["http_floor"]
    streams = 2 if quick else 10
    routes: list[tuple[str, Call, int]] = [
        ("anthropic pass-through 50KB", claude_call(50, True), env["gateway"].port),
        ("anthropic via openai-chat 50KB", claude_call(50, True), env["gateway_chat"].port),
        ("responses via anthropic 50KB", responses_call(50, True), env["gateway"].port),
    ]
    if not quick:
        routes.insert(
            1, ("anthropic pass-through 200KB", claude_call(200, True), env["gateway"].port)
        )
    rows: list[Row] = []
    details: dict[str, Any] = {"streams_per_path": streams}
    for label, c, gateway_port in routes:
        paths = {
            "direct": mock.port,
            "gateway": gateway_port,
            "floor": pipe.port,
            "http floor": http.port,
        }
        warm = Call(c.path, c.body.replace(b'"stream":true', b'"stream":false', 1), c.headers)
        interleave(paths, dict.fromkeys(paths, warm), 3, 0)
        got = interleave(paths, dict.fromkeys(paths, c), streams, 0)
        ttfb = {n: ms([t.ttfb for t in runs]) for n, runs in got.items()}
        gaps = {n: ms([g for t in runs for g in t.gaps]) for n, runs in got.items()}
        events = {n: [len(t.deltas) for t in runs] for n, runs in got.items()}
        name = f"{NAME} {label}"
        for metric, values, q, limit in (
            ("TTFB p50", ttfb, p50, 1.0),
            ("event gap p50", gaps, p50, 0.1),
            ("event gap p99", gaps, p99, 1.0),
        ):
            http_floor = q(values["http floor"])
            rows.append(compare(name, metric, "ms", *_q(values, q), limit, http_floor=http_floor))
        details[label] = {
            "body_bytes": len(c.body),
            "deltas_per_stream": {n: sorted(set(v)) for n, v in events.items()},
            **{f"{n}_ttfb_p50_ms": p50(v) for n, v in ttfb.items()},
            **{f"{n}_gap_{q.__name__}_ms": q(v) for n, v in gaps.items() for q in (p50, p99)},
            **{f"{n}_gap_max_ms": max(v, default=0.0) for n, v in gaps.items()},
        }
    return rows, details


def _q(t: dict[str, list[float]], q: Any) -> tuple[float, float, float]:
    return q(t["direct"]), q(t["gateway"]), q(t["floor"])
