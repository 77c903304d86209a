"""Shared pieces of the benchmark suite: processes, bodies, HTTP clients, statistics, result rows.

Every process the suite needs (the mock provider, the gateway, the trio byte pipe that is the
floor, the HTTP floor) runs on its own free port; `Stack` starts them and stops them by PID when
the run ends.
Subprocesses run `sys.executable -m cal`, so `PYTHONPATH=<worktree>` picks the code measured.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psutil
import trio

from cal.hugepages import restart_environ

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CAPTURES = ROOT.parent / "shared" / "reference" / "captures"
CAL = [sys.executable, "-m", "cal"]
MS = 1000.0

PACING_MS = 20
STREAM_EVENTS = 64


# -- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any CODE_AGENT_LENS_* of the user, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODE_AGENT_LENS_")}
    env.update({f"CODE_AGENT_LENS_{k}": v for k, v in settings.items()})
    return env


def floor_env() -> dict[str, str]:
    """The floors' environment: the memory arrangement `cal obs up` gives itself (its objects on
    huge pages where it restarts on them, `cal.hugepages`), so that the gateway and
    the floors are compared like for like."""
    env = clean_env()
    return restart_environ(env) or env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if match := re.search(pattern, text):
                return match
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{text[-2000:]}")
            time.sleep(0.01)
        raise RuntimeError(f"{self.name}: timed out waiting for {pattern!r}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


class Stack:
    """The processes of one run; `close()` stops them (newest first) by PID and deletes the
    gateways' data dirs (their captures: gigabytes after a full run); the logs stay."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="cal-bench-"))
        self.procs: list[Proc] = []

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, env=env or clean_env()
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def mock(self, chunks: int = STREAM_EVENTS, interval_ms: int = PACING_MS) -> Proc:
        port = free_port()
        argv = [*CAL, "mock-upstream", "--port", str(port), "--chunks", str(chunks)]
        proc = self.spawn("mock", [*argv, "--interval-ms", str(interval_ms)])
        proc.port = port
        proc.wait_line(r"mock provider http://")
        return proc

    def pipe(self, target: Proc, script: str = "pipe.py", *, huge_pages: bool = True) -> Proc:
        """The floor (`pipe.py`), or with `script="http_floor.py"` the HTTP floor, to `target`;
        in the gateway's memory arrangement unless `huge_pages` is false (`floor_env`)."""
        port = free_port()
        argv = [sys.executable, str(HERE / script), str(port), str(target.port)]
        env = floor_env() if huge_pages else clean_env()
        proc = self.spawn(script.removesuffix(".py"), argv, env)
        proc.port = port
        proc.wait_line(r"ready 127")
        return proc

    def gateway(
        self,
        upstream: Proc,
        fmt: str = "anthropic",
        *,
        capture: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> Proc:
        """`cal obs up` with one endpoint (the mock, in format `fmt`) in a fresh data dir;
        `extra_env`: more environment variables for its process."""
        data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=self.tmp))
        add_endpoint(data_dir, upstream, fmt)
        port, portal = free_port(), free_port()
        proc = self.spawn(
            "gateway",
            obs_up_argv(data_dir, port, portal),
            clean_env(OBS_DUMP_ENABLED="true" if capture else "false") | (extra_env or {}),
        )
        proc.port = port
        proc.extra.update(portal=portal, data_dir=data_dir, fmt=fmt)
        proc.wait_line(r"gateway\s+http://")
        wait_http(port, "/health")
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        for data_dir in self.tmp.glob("data-*"):
            shutil.rmtree(data_dir, ignore_errors=True)


def add_endpoint(data_dir: Path, upstream: Proc, fmt: str) -> None:
    url = upstream.url + ("/v1" if fmt.startswith("openai") else "")
    argv = [*CAL, "endpoint", "add", "mock", "--url", url, "--format", fmt]
    subprocess.run(
        [*argv, "--data-dir", str(data_dir)], check=True, stdout=subprocess.DEVNULL, env=clean_env()
    )


def obs_up_argv(data_dir: Path, port: int, portal: int) -> list[str]:
    return [
        *CAL,
        *("obs", "up", "--data-dir", str(data_dir)),
        *("--gateway", f"127.0.0.1:{port}", "--portal", f"127.0.0.1:{portal}"),
    ]


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_http(port: int, path: str, timeout: float = 30.0, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http_get(port, path, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(interval)
    raise RuntimeError(f"port {port}{path} did not answer 200 in {timeout} s")


def captured_total(gateway: Proc) -> int:
    """Requests in the gateway's index (the portal's request list `total`)."""
    status, raw = http_get(gateway.extra["portal"], "/debug/obs/api/requests?limit=1")
    if status != 200:
        raise RuntimeError(f"portal answered {status}: {raw[:200]!r}")
    return int(msgspec.json.decode(raw)["total"])


def capture_stats(gateway: Proc) -> dict[str, Any]:
    """The capture writer's counters from the portal's status (empty if not there)."""
    try:
        status, raw = http_get(gateway.extra["portal"], "/debug/obs/api/status")
        data = msgspec.json.decode(raw) if status == 200 else {}
    except OSError:
        return {}
    found = data.get("sinks", {}).get("capture", {})
    return found if isinstance(found, dict) else {}


def wait_captured(gateway: Proc, expected: int, timeout: float = 30.0) -> int:
    """Poll the index until it holds `expected` requests (or the time is up); the last total."""
    deadline = time.monotonic() + timeout
    total = -1
    while time.monotonic() < deadline:
        total = captured_total(gateway)
        if total >= expected:
            return total
        time.sleep(0.25)
    return total


# -- bodies ----------------------------------------------------------------------------------


def _capture(name: str) -> dict[str, Any]:
    return msgspec.json.decode((CAPTURES / name).read_bytes())  # type: ignore[no-any-return]


def _headers(record: dict[str, Any]) -> dict[str, str]:
    skip = {"host", "content-length", "connection", "accept-encoding"}
    return {k: v for k, v in record["headers"] if k.lower() not in skip}


# the mock quotes the first 60 characters: a 104-character answer, cut into 64 text deltas
TURN = b"bench-turn-"
"""What every body's newest turn holds, followed by a 6-digit number that `fresh` makes new."""
LAST_TEXT = f"{TURN.decode()}000000: " + "measure the gateway, " * 3
_turns = itertools.count(1)


def fresh(raw: bytes) -> bytes:
    """`raw` with its turn number made new (same size). An agent's requests differ from one to
    the next (the newest turn), while most of what they hold repeats: a benchmark that sent the
    same bytes every time would flatter whatever stores requests (capture links repeated files).
    `call` applies it; callers of `RawConnection.request` apply it before they start the clock."""
    at = _turn_number_at(raw)
    if at < 0:
        return raw
    return b"%s%s%s" % (raw[:at], _next_turn_number(), raw[at + 6 :])


def _turn_number_at(raw: bytes) -> int:
    """Where the newest turn's 6-digit number starts in `raw`; -1 when it has none."""
    at = raw.rfind(TURN)
    return at if at < 0 else at + len(TURN)


def _next_turn_number() -> bytes:
    return b"%06d" % (next(_turns) % 1_000_000)


@dataclass(frozen=True)
class Call:
    """One request as the client sends it, and the SSE data marker of its content deltas."""

    path: str
    body: bytes
    headers: dict[str, str]
    delta_marker: bytes = b""


def _grow(
    body: dict[str, Any], items: list[Any], turn: list[Any], last: Any, size_kb: int
) -> bytes:
    raw = msgspec.json.encode(body)
    while len(raw) < size_kb * 1024:
        items += turn
        raw = msgspec.json.encode(body)
    items.append(last)
    return msgspec.json.encode(body)


def claude_call(size_kb: int, stream: bool) -> Call:
    """Claude Code's captured request, its history grown to about `size_kb` KB."""
    record = _capture("claude-code-2.1.330_messages.json")
    body = record["body"]
    body.update(stream=stream, model="claude-bench")
    turn = [
        {"role": "user", "content": [{"type": "text", "text": "x" * 2000}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok " * 600}]},
    ]
    raw = _grow(body, body["messages"], turn, {"role": "user", "content": LAST_TEXT}, size_kb)
    return Call("/v1/messages?beta=true", raw, _headers(record), b'"type":"text_delta"')


def responses_call(size_kb: int, stream: bool) -> Call:
    """Codex's captured Responses request (reasoning off: 64 text deltas), grown to `size_kb`."""
    record = _capture("codex-0.169.0_responses_http.json")
    body = record["body"]
    for key in ("reasoning", "include"):
        body.pop(key, None)
    body.update(stream=stream, model="gpt-bench")
    turn = [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "x" * 2000}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok " * 600}],
        },
    ]
    last = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": LAST_TEXT}],
    }
    raw = _grow(body, body["input"], turn, last, size_kb)
    return Call("/v1/responses", raw, _headers(record), b'"response.output_text.delta"')


def short_call(size_kb: int, stream: bool) -> Call:
    """`claude_call`, its stream cut to 2 deltas 1 ms apart (`timeline.py`, `steps.py`,
    `idle.py`: what they time is the way to the first byte, not the stream)."""
    c = claude_call(size_kb, stream)
    if not stream:
        return c
    return Call(c.path, c.body, {**c.headers, "x-mock-chunks": "2", "x-mock-interval-ms": "1"})


def small_call() -> Call:
    body = {
        "model": "claude-bench",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": LAST_TEXT[:18] + "Say hello briefly."}],
    }
    headers = {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-bench",
        "user-agent": "cal-bench/1",
    }
    return Call("/v1/messages", msgspec.json.encode(body), headers)


# -- the sync client (one keep-alive connection, a blocking socket) --------------------------


@dataclass
class Timing:
    total: float
    ttfb: float = 0.0
    deltas: list[float] = field(default_factory=list)
    started: float = 0.0
    """`time.perf_counter()` when the request was sent."""

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.deltas)]


class SyncConnection:
    """One keep-alive HTTP/1.1 connection on a blocking socket that reads only the framing
    (content-length or chunked) and the SSE lines. The load generator shares two cores with
    what it measures: http.client parses every response head with the email package, and
    sending a renumbered body through it copied the body several times (generator.py compares
    the two clients' CPU per call)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self._parts: dict[int, tuple[Call, tuple[bytes, bytes, bytes | None]]] = {}
        """id(call) → (the call, kept so that its id stays its own; its request in parts)"""

    def close(self) -> None:
        self.sock.close()

    def send(self, c: Call) -> None:
        """Send `c` with its turn number made new (as `fresh` does), without copying its body:
        the head, the body up to the number, the number and the rest go out in one sendmsg."""
        head, before, after = self._request_parts(c)
        number = _next_turn_number() if after is not None else b""
        pieces = [memoryview(p) for p in (head, before, number, after or b"") if p]
        while pieces:
            sent = self.sock.sendmsg(pieces)
            while pieces and sent >= len(pieces[0]):
                sent -= len(pieces[0])
                pieces.pop(0)
            if pieces and sent:
                pieces[0] = pieces[0][sent:]

    def _request_parts(self, c: Call) -> tuple[bytes, bytes, bytes | None]:
        """(the head, the body up to its turn number, the body after it; None without one)."""
        cached = self._parts.get(id(c))
        if cached is not None and cached[0] is c:
            return cached[1]
        head = request_head(c, self.port)
        at = _turn_number_at(c.body)
        if at < 0:
            parts: tuple[bytes, bytes, bytes | None] = (head, c.body, None)
        else:
            parts = (head, c.body[:at], c.body[at + 6 :])
        self._parts[id(c)] = (c, parts)
        return parts

    def _fill(self) -> None:
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("the server closed the connection mid-response")
        self.buf += data

    def wait_for(self, marker: bytes) -> None:
        """Read until `marker` is among the bytes received and not consumed yet."""
        while marker not in self.buf:
            self._fill()

    def head(self) -> tuple[int, dict[bytes, bytes]]:
        """The next response head: (status, lower-case header fields)."""
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        return parse_head(head)

    def body(self, fields: dict[bytes, bytes], on_line: Callable[[bytes], None] | None) -> bytes:
        """The response body; `on_line(line)` for each complete line as it arrives."""
        if b"content-length" in fields:
            size = int(fields[b"content-length"])
            while len(self.buf) < size:
                self._fill()
            data = bytes(self.buf[:size])
            del self.buf[:size]
            if on_line is not None:
                for line in data.splitlines():
                    on_line(line)
            return data
        if fields.get(b"transfer-encoding", b"").lower() != b"chunked":
            raise ConnectionError(f"cannot frame the response: {fields}")
        out = bytearray()
        pending = bytearray()
        while True:
            while (end := self.buf.find(b"\r\n")) < 0:
                self._fill()
            size = chunk_size(self.buf[:end])
            del self.buf[: end + 2]
            while len(self.buf) < size + 2:
                self._fill()
            chunk = self.buf[:size]
            del self.buf[: size + 2]
            if size == 0:
                return bytes(out)
            out += chunk
            if on_line is not None:
                pending += chunk
                *lines, rest = bytes(pending).split(b"\n")
                pending = bytearray(rest)
                for line in lines:
                    on_line(line)


def call(conn: SyncConnection, c: Call) -> Timing:
    """One request: seconds to the last byte, to the first `data:` line, and each delta event."""
    ttfb = 0.0
    deltas: list[float] = []

    def on_line(line: bytes) -> None:
        nonlocal ttfb
        if line.startswith(b"data:"):
            now = time.perf_counter()
            if not ttfb:
                ttfb = now - started
            if c.delta_marker and c.delta_marker in line:
                deltas.append(now)

    started = time.perf_counter()
    conn.send(c)
    status, fields = conn.head()
    stream = fields.get(b"content-type", b"").startswith(b"text/event-stream")
    body = conn.body(fields, on_line if stream else None)
    if status != 200:
        raise RuntimeError(f"{c.path}: HTTP {status}: {body[:300]!r}")
    return Timing(time.perf_counter() - started, ttfb, deltas, started)


def interleave(
    paths: dict[str, int], calls: dict[str, Call], rounds: int, warmup: int, pause: float = 0.0
) -> dict[str, list[Timing]]:
    """`rounds` requests per path over one keep-alive connection each, the order rotating, after
    `warmup` rounds; with `pause`, that many seconds pass before each measured request."""
    conns = {name: SyncConnection(port) for name, port in paths.items()}
    out: dict[str, list[Timing]] = {name: [] for name in paths}
    names = list(paths)
    try:
        for i in range(warmup + rounds):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                if i >= warmup and pause:
                    time.sleep(pause)
                timing = call(conns[name], calls[name])
                if i >= warmup:
                    out[name].append(timing)
    finally:
        for conn in conns.values():
            conn.close()
    return out


def trace_options(parser: argparse.ArgumentParser, rounds: int) -> None:
    """The options of `timeline.py` and `steps.py`: what to send, and how often."""
    parser.add_argument("--size", type=int, default=50, help="request body, KB")
    parser.add_argument("--stream", action="store_true", help="short streams, not whole answers")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds before each request")
    parser.add_argument("--rounds", type=int, default=rounds, help="requests per path")


def traced(stack: Stack, args: argparse.Namespace, *, steps: bool = False) -> tuple[Path, Call]:
    """(the folder the processes `stack` starts from now on log to, with `timeline_site/` on their
    PYTHONPATH; the call `args` asks for, a `short_call`). With `steps`, the gateway also times
    its STEPS."""
    folder = stack.tmp / "trace"
    folder.mkdir()
    os.environ["CAL_BENCH_TRACE_DIR"] = str(folder)
    if steps:
        os.environ["CAL_BENCH_TRACE_STEPS"] = "1"
    site = str(HERE / "timeline_site")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)
    return folder, short_call(args.size, args.stream)


TraceEvent = tuple[float, str, int, str]
"""(perf_counter, send / recv / t0 / step, the socket's local port, the step's label or `-`)"""


def trace_events(folder: Path, pid: int) -> list[TraceEvent]:
    """What process `pid` logged under `traced` (timeline_site's format), in time order."""
    path = folder / f"trace-{pid}.txt"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        t, kind, port, _size, label = line.split()
        rows.append((float(t), kind, int(port), label))
    return sorted(rows)


# -- the trio client (many connections, raw HTTP/1.1) ----------------------------------------


def request_head(c: Call, port: int) -> bytes:
    """The request line and headers of `c`, blank line included."""
    head = [f"POST {c.path} HTTP/1.1", f"host: 127.0.0.1:{port}"]
    head += [f"{k}: {v}" for k, v in c.headers.items()]
    head.append(f"content-length: {len(c.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


def raw_request(c: Call, port: int) -> bytes:
    return request_head(c, port) + c.body


def parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """A response head (without its blank line): (status, lower-case header fields)."""
    lines = head.split(b"\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split(b" ", 2)[1]), fields


def chunk_size(line: bytes | bytearray) -> int:
    """The size a chunked body's size line announces (extensions ignored)."""
    return int(bytes(line).split(b";")[0], 16)


class RawConnection:
    """A keep-alive HTTP/1.1 client connection that parses just enough (length or chunked)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = bytearray()
        self._on_data: Callable[[float], None] | None = None

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise ConnectionError("connection closed mid-response")
        self.buf += data
        if self._on_data is not None:
            self._on_data(time.perf_counter())

    async def _until(self, sep: bytes) -> int:
        while (at := self.buf.find(sep)) < 0:
            await self._fill()
        return at

    async def _take(self, n: int) -> None:
        while len(self.buf) < n:
            await self._fill()
        del self.buf[:n]

    async def request(
        self, raw: bytes, on_data: Callable[[float], None] | None = None
    ) -> tuple[int, float]:
        """Send `raw`, read the whole answer; (status, time of the first body byte).

        `on_data(t)` is called for each read that brought body bytes (one per paced SSE event).
        """
        self._on_data = None
        await self.stream.send_all(raw)
        end = await self._until(b"\r\n\r\n")
        status, fields = parse_head(bytes(self.buf[:end]))
        del self.buf[: end + 4]
        first = time.perf_counter()
        if b"content-length" in fields:
            await self._take(int(fields[b"content-length"]))
            return status, first
        if fields.get(b"transfer-encoding", b"").lower() != b"chunked":
            raise ConnectionError(f"cannot frame the response: {fields}")
        first = 0.0
        if self.buf and on_data is not None:
            on_data(time.perf_counter())  # body bytes came with the head
        self._on_data = on_data
        try:
            while True:
                end = await self._until(b"\r\n")
                size = chunk_size(self.buf[:end])
                del self.buf[: end + 2]
                if size == 0:
                    await self._until(b"\r\n")  # no trailers from our servers
                    del self.buf[:2]
                    return status, first
                if not first:
                    first = time.perf_counter()
                await self._take(size + 2)
        finally:
            self._on_data = None

    async def aclose(self) -> None:
        await self.stream.aclose()


# -- statistics and results ------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p50(values: Sequence[float]) -> float:
    return quantile(values, 0.5)


def p99(values: Sequence[float]) -> float:
    return quantile(values, 0.99)


def ms(values: Sequence[float]) -> list[float]:
    return [v * MS for v in values]


@dataclass
class Row:
    """One line of the table. `added` is gateway minus direct; `ok` None means no target.
    `http_floor`: the same figure through `http_floor.py` (scenario 2 only)."""

    scenario: str
    metric: str
    unit: str
    direct: float | None = None
    gateway: float | None = None
    floor: float | None = None
    added: float | None = None
    target: str = ""
    ok: bool | None = None
    http_floor: float | None = None

    @property
    def floor_added(self) -> float | None:
        if self.floor is None or self.direct is None:
            return None
        return self.floor - self.direct

    @property
    def http_floor_added(self) -> float | None:
        if self.http_floor is None or self.direct is None:
            return None
        return self.http_floor - self.direct


def compare(
    scenario: str,
    metric: str,
    unit: str,
    direct: float | None,
    gateway: float,
    floor: float | None,
    limit: float | None = None,
    *,
    added: bool = True,
    at_least: bool = False,
    http_floor: float | None = None,
) -> Row:
    """A row; with `added`, the target applies to gateway minus direct, else to the gateway."""
    value = gateway - direct if added and direct is not None else gateway
    row = Row(
        scenario,
        metric,
        unit,
        direct,
        gateway,
        floor,
        value if added else None,
        http_floor=http_floor,
    )
    if limit is not None:
        sign = "≥" if at_least else "≤"
        row.target = f"{'added ' if added else ''}{sign} {limit:g}"
        row.ok = value >= limit if at_least else value <= limit
    return row


def fact(
    scenario: str, metric: str, unit: str, gateway: float, ok: bool | None, target: str
) -> Row:
    return Row(scenario, metric, unit, gateway=gateway, target=target, ok=ok)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far (all its threads)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def capture_worker_pid(gateway: Proc) -> int | None:
    """The gateway's capture worker process (`python -m cal.capture.worker`), if it runs one."""
    for child in psutil.Process(gateway.pid).children():
        try:
            if "cal.capture.worker" in child.cmdline():
                return int(child.pid)
        except psutil.Error:
            continue
    return None


def file_creation_us(parent: Path, count: int = 200) -> float:
    """CPU µs to create one empty file in a new directory under `parent` (the median of five
    rounds of `count / 5`). A capture bundle creates about ten files and directories; what one
    costs depends on the file system and its recent history (ext4 without a journal skips the
    inodes freed in the last minutes, one by one, on every allocation), so the suite notes it."""
    folder = Path(tempfile.mkdtemp(prefix="data-fs-probe-", dir=parent))
    per_round = max(1, count // 5)
    rounds = []
    for r in range(5):
        started = time.process_time()
        for i in range(per_round):
            os.close(os.open(folder / f"{r}-{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        rounds.append((time.process_time() - started) / per_round * 1e6)
    return round(sorted(rounds)[2], 1)


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"
