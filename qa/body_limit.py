"""What a request must be before the app reads it: a body within the limit (else a 413 that the
client can read) and a path and query string that are UTF-8 once percent-decoded (else a 400, as
for a body that is not)."""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes


# A body over the limit is read and dropped up to this much before the 413 goes out: a client that
# sends its whole body before reading (urllib, requests) then reads the 413 instead of a reset.
DRAIN_LIMIT = 32 * 1024 * 1024


async def _drain(scope, receive, bound: int = DRAIN_LIMIT) -> None:
    """Read and drop the rest of a request body, up to ``bound`` bytes (as nginx's lingering close).

    Not when the client waits for "100 Continue" (curl with a large body): it has sent nothing yet.
    """
    if any(name == b"expect" and value.lower() == b"100-continue" for name, value in scope.get("headers") or []):
        return
    drained = 0
    while drained <= bound:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they declare a length."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for part, bytes_ in (("path", scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")),
                             ("query string", scope.get("query_string") or b"")):
            try:
                unquote_to_bytes(bytes_.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError as error:
                await _drain(scope, receive)
                return await _refuse(send, 400, f"the request's {part} is not UTF-8 (byte {error.start + 1} once "
                                                "percent-decoded)")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            if declared.isdigit():
                await _drain(scope, receive)
            return await _refuse(send, 413, f"request body too large: the limit is {self.limit} bytes")
        # Read the body first (it is small by definition), then hand it to the app.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([], message), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                if message.get("more_body", False):
                    await _drain(scope, receive)
                return await _refuse(send, 413, f"request body too large: the limit is {self.limit} bytes")
            more = message.get("more_body", False)
        return await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], final: dict | None, receive=None):
    """A receive callable that gives back a body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}] if final is None else [final]

    async def replay():
        if pending:
            return pending.pop()
        if receive is not None:
            return await receive()
        return {"type": "http.disconnect"}

    return replay


async def _refuse(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
