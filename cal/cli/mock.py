"""`cal mock-upstream`: serve the built-in mock provider until Ctrl-C or SIGTERM."""

import sys


def mock_upstream(
    *, host: str = "127.0.0.1", port: int = 3020, chunks: int = 8, interval_ms: int = 0
) -> int:
    """Serve the built-in mock provider (Anthropic, OpenAI Chat/Responses, Gemini) until Ctrl-C.

    Parameters
    ----------
    host
        Address to listen on.
    port
        Port to listen on (0 picks a free one).
    chunks
        Text deltas per streamed answer.
    interval_ms
        Pause between stream events, in milliseconds.
    """
    import trio

    from cal.mock import MockOptions
    from cal.mock.service import MockService, serve_until_signal
    from cal.serve import PortInUseError

    service = MockService(MockOptions(chunks=chunks, interval_ms=interval_ms), host, port)
    try:
        trio.run(serve_until_signal, service, lambda line: print(line, flush=True))
    except* PortInUseError as group:
        print(f"cal mock-upstream: {group.exceptions[0]}", file=sys.stderr)
        failed = True
    else:
        failed = False
    return 1 if failed else 0
