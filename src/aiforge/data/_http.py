"""The ``http`` source: a JSON API read page by page (page numbers, a cursor, or next links), with a token
from an environment variable, retries with exponential backoff and timeouts.

Retried: connection errors, timeouts, HTTP 429 (after its ``Retry-After`` when given) and 5xx. Not retried:
other 4xx, which a retry would not change. The token is never shown in an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from aiforge.errors import DataError
from aiforge.spec import CursorPagination, HttpSource, NextLinkPagination, PagePagination, SourceSpec

if TYPE_CHECKING:
    import httpx

    from aiforge.data._sources import LoadedSource

__all__ = ["read_http"]

MAX_WAIT_SECONDS = 300.0  # the longest single wait between tries, whatever Retry-After asks
RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


def read_http(spec: SourceSpec, base_dir: Path, since: dict[str, Any] | None = None, *,
              sleep: Callable[[float], None] = time.sleep) -> LoadedSource:
    import httpx
    import pyarrow as pa

    from aiforge.data._sources import LoadedSource, records_table

    assert isinstance(spec, HttpSource)
    params: dict[str, Any] = dict(spec.params)
    if spec.since_param is not None and since is not None:
        params[spec.since_param] = since["value"]
    records: list[dict[str, Any]] = []
    digest = hashlib.sha256()
    request: tuple[str, dict[str, Any]] | None = (spec.url, _first_query(spec.pagination, params))
    seen: set[str] = set()
    with httpx.Client(headers=_headers(spec), timeout=spec.timeout_seconds, follow_redirects=True) as client:
        for number in range(1, spec.max_pages + 1):
            assert request is not None
            url, query = request
            response = _get(client, url, query, spec, number, sleep)
            digest.update(len(response.content).to_bytes(8, "big") + response.content)
            document = _json(response, spec, number)
            batch = _records(document, spec, str(response.url), number)
            records.extend(batch)
            request = _next_request(spec, params, query, document, response, batch, number)
            key = json.dumps(request, sort_keys=True, default=str)
            if request is None or key in seen:  # a next link back to a page already read ends the read too
                break
            seen.add(key)
    table = records_table(records, spec.name, spec.url)
    if table.num_rows == 0:
        if spec.incremental is None:
            raise DataError(f"source '{spec.name}' returned no records", where=spec.url,
                            expected="at least one record" + (f" at '{spec.records_path}'" if spec.records_path
                                                              else ""))
        table = pa.table({spec.incremental.column: pa.array([], pa.null())})
    return LoadedSource(spec.name, table, digest.hexdigest(), spec.url)


def _headers(spec: HttpSource) -> dict[str, str]:
    headers = {"Accept": "application/json", **spec.headers}
    if spec.auth_env is None:
        return headers
    token = os.environ.get(spec.auth_env)
    if not token:
        raise DataError(f"the environment variable {spec.auth_env} holding the token of source '{spec.name}' is "
                        "not set", where=spec.url, expected="an API token",
                        hint=f"export {spec.auth_env}=...")
    if spec.auth_header is None:
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers[spec.auth_header] = token
    return headers


def _get(client: httpx.Client, url: str, query: dict[str, Any], spec: HttpSource, number: int,
         sleep: Callable[[float], None]) -> httpx.Response:
    """One page, tried ``1 + spec.retries`` times."""
    import httpx

    where = f"{url} (page {number})"
    for attempt in range(spec.retries + 1):
        last = attempt == spec.retries
        wait = min(spec.backoff_seconds * 2 ** attempt, MAX_WAIT_SECONDS)
        try:
            response = client.get(url, params=query or None)
        except httpx.TimeoutException as exc:
            if last:
                raise DataError(f"source '{spec.name}' did not answer in time", where=where,
                                expected=f"a response within timeout_seconds ({spec.timeout_seconds:g} s)",
                                found=f"{type(exc).__name__} after {spec.retries + 1} tries",
                                hint="raise timeout_seconds or retries, or check that the API is up") from exc
            sleep(wait)
            continue
        except httpx.TransportError as exc:
            if last:
                raise DataError(f"source '{spec.name}' cannot be reached", where=where,
                                found=f"{type(exc).__name__}: {exc} (after {spec.retries + 1} tries)",
                                hint="check the URL and that the API is up and reachable from here") from exc
            sleep(wait)
            continue
        if response.status_code in RETRIED_STATUS and not last:
            sleep(max(wait, _retry_after(response)))
            continue
        if response.is_success:
            return response
        raise _refused(response, spec, where, attempt + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float:
    """The wait HTTP 429 (or 503) asks for, in seconds: ``Retry-After: 5`` or an HTTP date; 0 when absent."""
    value = response.headers.get("Retry-After")
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 0.0
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


def _refused(response: httpx.Response, spec: HttpSource, where: str, tries: int) -> DataError:
    status = response.status_code
    found = f"HTTP {status} {response.reason_phrase}".rstrip() + (f" after {tries} tries" if tries > 1 else "")
    body = " ".join(response.text[:200].split())
    if body:
        found += f": {body}"
    if status in (401, 403):
        hint = (f"check the token in the environment variable {spec.auth_env}: it was sent as "
                f"{spec.auth_header or 'Authorization: Bearer ...'} and refused" if spec.auth_env is not None
                else "the API needs credentials: put the token in an environment variable and name it in auth_env")
        return DataError(f"the API of source '{spec.name}' refused the credentials", where=where, found=found,
                         hint=hint)
    if status == 404:
        return DataError(f"the API of source '{spec.name}' has no such page", where=where, found=found,
                         hint="check the url (and the pagination parameters)")
    return DataError(f"the API of source '{spec.name}' refused the request", where=where, found=found,
                     hint="HTTP 429 and 5xx are retried (raise retries); other 4xx mean the request is wrong: "
                     "check the url, params and headers")


def _json(response: httpx.Response, spec: HttpSource, number: int) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "no Content-Type")
        start = " ".join(response.text[:80].split())
        raise DataError(f"page {number} of source '{spec.name}' is not JSON", where=str(response.url),
                        expected="a JSON document", found=f"{kind}: {start!r}",
                        hint="check that the url is the API's, not a web page or a login form") from exc


def _at(document: Any, path: str) -> tuple[bool, Any]:
    value = document
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, value
        value = value[key]
    return True, value


def _records(document: Any, spec: HttpSource, where: str, number: int) -> list[dict[str, Any]]:
    records = document
    if spec.records_path is not None:
        found, records = _at(document, spec.records_path)
        if not found:
            keys = ", ".join(list(records)[:10]) if isinstance(records, dict) else type(records).__name__
            raise DataError(f"page {number} of source '{spec.name}' has no '{spec.records_path}'", where=where,
                            expected=f"a list of records at '{spec.records_path}'", found=keys or "{}",
                            hint="point records_path at the list of records, as dotted keys")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"page {number} of source '{spec.name}' does not hold a list of records", where=where,
                        expected="a list of objects" + (f" at '{spec.records_path}'" if spec.records_path else ""),
                        found=type(records).__name__ if not isinstance(records, list) else "a list of "
                        + ", ".join(sorted({type(r).__name__ for r in records})),
                        hint="point records_path at the list of records")
    return records


def _first_query(pagination: Any, params: dict[str, Any]) -> dict[str, Any]:
    if isinstance(pagination, PagePagination):
        size = {pagination.size_param: pagination.page_size} if pagination.size_param is not None else {}
        return {**params, pagination.page_param: pagination.start, **size}
    return dict(params)


def _next_request(spec: HttpSource, params: dict[str, Any], query: dict[str, Any], document: Any,
                  response: httpx.Response, batch: list[dict[str, Any]], number: int
                  ) -> tuple[str, dict[str, Any]] | None:
    """The next page's URL and query (None: this page was the last)."""
    pagination = spec.pagination
    if pagination is None or not batch:
        return None
    if isinstance(pagination, PagePagination):
        if pagination.page_size is not None and len(batch) < pagination.page_size:
            return None
        return spec.url, {**query, pagination.page_param: query[pagination.page_param] + 1}
    if isinstance(pagination, CursorPagination):
        found, cursor = _at(document, pagination.cursor_path)
        if not found or cursor in (None, ""):
            return None
        return spec.url, {**params, pagination.cursor_param: cursor}
    assert isinstance(pagination, NextLinkPagination)
    if pagination.next_path is not None:
        found, link = _at(document, pagination.next_path)
        if not found or not link:
            return None
        if not isinstance(link, str):
            raise DataError(f"page {number} of source '{spec.name}' has no URL at '{pagination.next_path}'",
                            where=str(response.url), expected="a URL (text) or null", found=type(link).__name__)
    else:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
    return urljoin(str(response.url), link), {}  # the next link carries its own query
