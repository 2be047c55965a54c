"""JSON answers with strong ETags (If-None-Match → 304) and paging headers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel

PRIVATE = "private, no-cache"  # personal data: never in shared caches, always revalidated


def _encode(content: BaseModel | Sequence[BaseModel]) -> bytes:
    if isinstance(content, BaseModel):
        data: Any = content.model_dump(mode="json", by_alias=True)
    else:
        data = [item.model_dump(mode="json", by_alias=True) for item in content]
    return orjson.dumps(data)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in candidates or etag in candidates


def json_response(
    request: Request,
    content: BaseModel | Sequence[BaseModel],
    *,
    total: int | None = None,
    status_code: int = 200,
    as_of: date | None = None,
) -> Response:
    """Serialise ``content`` once, tag it, and answer 304 when the client already has it.

    ``as_of`` (the last day of data the answer describes) goes in the ``X-As-Of`` header,
    so lists carry it too.
    """
    body = _encode(content)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": PRIVATE}
    if as_of is not None:
        headers["X-As-Of"] = as_of.isoformat()
    if total is not None and not isinstance(content, BaseModel):
        headers["X-Total-Count"] = str(total)
        headers["X-Result-Count"] = str(len(content))
    if status_code == 200 and _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)
