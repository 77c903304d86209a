"""The Anthropic Messages codec: `/v1/messages` bodies and streams ⇄ IR (protocols.md §1.1, §2.1).

Requests are parsed in `anthropic_request` and rendered in `anthropic_render`; responses, usage
and errors live in `anthropic_response`, streams in `anthropic_stream`. This module only
assembles `CODEC`.
"""

from __future__ import annotations

from cal.transform import Codec
from cal.transform.anthropic_render import render_request
from cal.transform.anthropic_request import parse_request
from cal.transform.anthropic_response import parse_error, parse_response, render_response
from cal.transform.anthropic_stream import AnthropicStreamParser, AnthropicStreamRenderer

CODEC = Codec(
    format="anthropic",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    stream_parser=AnthropicStreamParser,
    stream_renderer=AnthropicStreamRenderer,
    parse_error=parse_error,
)
