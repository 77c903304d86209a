"""The OpenAI Chat Completions codec: `/v1/chat/completions` bodies and streams ⇄ IR
(protocols.md §1.2, §2.2).

Requests are parsed in `openai_chat_request` and rendered in `openai_chat_render`; responses,
usage and errors live in `openai_chat_response`, streams in `openai_chat_stream`. This module
only assembles `CODEC`.
"""

from __future__ import annotations

from cal.transform import Codec
from cal.transform.openai_chat_render import render_request
from cal.transform.openai_chat_request import parse_request
from cal.transform.openai_chat_response import parse_error, parse_response, render_response
from cal.transform.openai_chat_stream import ChatStreamParser, ChatStreamRenderer

CODEC = Codec(
    format="openai-chat",
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    stream_parser=ChatStreamParser,
    stream_renderer=ChatStreamRenderer,
    parse_error=parse_error,
)
