"""The http source against a real local HTTP server the tests start (http.server in a thread): every pagination
style, the token from an environment variable, retries with backoff after 503 and after 429's Retry-After, no retry
after other 4xx, timeouts, pages that are not JSON, max_pages, and the watermark sent as a query parameter."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import http_server

from aiforge.data import read_source
from aiforge.data._http import read_http
from aiforge.errors import DataError
from aiforge.spec import HttpSource, Incremental

RECORDS = [{"id": i, "city": ["Paris", "Lyon", "Nice"][i % 3], "amount": i * 1.5} for i in range(1, 8)]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


Handler = Callable[[Request], Reply]


@dataclass
class Api:
    url: str
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url + path


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api("")

    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            request = Request(parts.path, dict(parse_qsl(parts.query)), {k.lower(): v for k, v in self.headers.items()})
            state.requests.append(request)
            handler = state.routes.get(parts.path)
            reply = handler(request) if handler else Reply(404, {"error": "no such route"})
            time.sleep(reply.delay)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json" if not isinstance(reply.body, bytes)
                                 else "text/html")
                self.send_header("Content-Length", str(len(body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    with http_server(Handle) as state.url:
        yield state


def _spec(url: str, **kw: Any) -> HttpSource:
    return HttpSource.model_validate({"type": "http", "name": "shop", "url": url, "backoff_seconds": 0.01, **kw})


def _ids(loaded: Any) -> list[int]:
    return list(loaded.table.column("id").to_pylist())


def test_one_page_with_the_records_nested(api: Api, tmp_path: Path) -> None:
    url = api.route("/sales", lambda r: Reply(body={"data": {"items": RECORDS[:3]}}))
    loaded = read_source(_spec(url, records_path="data.items", params={"region": "eu"}), tmp_path)
    assert loaded.table.to_pylist() == RECORDS[:3] and loaded.location == url
    assert [r.query for r in api.requests] == [{"region": "eu"}]
    again = read_source(_spec(url, records_path="data.items", params={"region": "eu"}), tmp_path)
    assert again.content_hash == loaded.content_hash


def test_page_numbers_until_a_short_page(api: Api, tmp_path: Path) -> None:
    def pages(r: Request) -> Reply:
        page, size = int(r.query["p"]), int(r.query["n"])
        return Reply(body=RECORDS[page * size:(page + 1) * size])

    url = api.route("/sales", pages)
    spec = _spec(url, pagination={"type": "page", "page_param": "p", "start": 0, "size_param": "n", "page_size": 3})
    assert _ids(read_source(spec, tmp_path)) == [1, 2, 3, 4, 5, 6, 7]
    assert [r.query["p"] for r in api.requests] == ["0", "1", "2"]  # 3 + 3 + 1: the short page is the last


def test_page_numbers_until_an_empty_page(api: Api, tmp_path: Path) -> None:
    url = api.route("/sales", lambda r: Reply(body={"rows": RECORDS[(int(r.query["page"]) - 1) * 4:][:4]}))
    loaded = read_source(_spec(url, records_path="rows", pagination={"type": "page"}), tmp_path)
    assert _ids(loaded) == [1, 2, 3, 4, 5, 6, 7]
    assert [r.query["page"] for r in api.requests] == ["1", "2", "3"]


def test_a_cursor(api: Api, tmp_path: Path) -> None:
    def pages(r: Request) -> Reply:
        at = int(r.query.get("after", "0"))
        batch = RECORDS[at:at + 3]
        more = at + 3 < len(RECORDS)
        return Reply(body={"items": batch, "meta": {"next": str(at + 3) if more else None}})

    url = api.route("/sales", pages)
    spec = _spec(url, records_path="items", params={"v": 2},
                 pagination={"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"})
    assert _ids(read_source(spec, tmp_path)) == [1, 2, 3, 4, 5, 6, 7]
    assert [r.query for r in api.requests] == [{"v": "2"}, {"v": "2", "after": "3"}, {"v": "2", "after": "6"}]


def test_next_links_in_the_body_and_in_the_link_header(api: Api, tmp_path: Path) -> None:
    def body_links(r: Request) -> Reply:
        at = int(r.query.get("from", "0"))
        nxt = f"/body?from={at + 4}" if at + 4 < len(RECORDS) else None
        return Reply(body={"results": RECORDS[at:at + 4], "links": {"next": nxt}})

    def header_links(r: Request) -> Reply:
        at = int(r.query.get("from", "0"))
        link = {"Link": f'<{api.url}/header?from={at + 5}>; rel="next"'} if at + 5 < len(RECORDS) else {}
        return Reply(body=RECORDS[at:at + 5], headers=link)

    body = _spec(api.route("/body", body_links), records_path="results",
                 pagination={"type": "next", "next_path": "links.next"})
    assert _ids(read_source(body, tmp_path)) == [1, 2, 3, 4, 5, 6, 7]
    header = _spec(api.route("/header", header_links), pagination={"type": "next"})
    assert _ids(read_source(header, tmp_path)) == [1, 2, 3, 4, 5, 6, 7]
    assert [(r.path, r.query.get("from")) for r in api.requests] == [
        ("/body", None), ("/body", "4"), ("/header", None), ("/header", "5")]


def test_max_pages_bounds_the_read(api: Api, tmp_path: Path) -> None:
    url = api.route("/endless", lambda r: Reply(body=[{"id": int(r.query["page"])}]))
    loaded = read_source(_spec(url, pagination={"type": "page"}, max_pages=4), tmp_path)
    assert _ids(loaded) == [1, 2, 3, 4] and len(api.requests) == 4


def test_the_token_comes_from_the_environment(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def guarded(r: Request) -> Reply:
        if r.headers.get("authorization") == "Bearer t0ken" or r.headers.get("x-api-key") == "t0ken":
            return Reply(body=RECORDS[:2])
        return Reply(401, {"error": "invalid token"})

    url = api.route("/private", guarded)
    monkeypatch.setenv("SHOP_TOKEN", "t0ken")
    assert _ids(read_source(_spec(url, auth_env="SHOP_TOKEN"), tmp_path)) == [1, 2]
    assert _ids(read_source(_spec(url, auth_env="SHOP_TOKEN", auth_header="X-API-Key"), tmp_path)) == [1, 2]

    monkeypatch.setenv("SHOP_TOKEN", "wrong")
    with pytest.raises(DataError, match="refused the credentials") as caught:
        read_source(_spec(url, auth_env="SHOP_TOKEN"), tmp_path)
    text = caught.value.render()
    assert "SHOP_TOKEN" in text and "HTTP 401" in text and "wrong" not in text
    assert len(api.requests) == 3  # a 401 is not retried
    monkeypatch.delenv("SHOP_TOKEN")
    with pytest.raises(DataError, match="SHOP_TOKEN .* is not set"):
        read_source(_spec(url, auth_env="SHOP_TOKEN"), tmp_path)
    with pytest.raises(DataError, match="refused the credentials") as caught:
        read_source(_spec(url), tmp_path)
    assert "auth_env" in caught.value.render()


def test_retries_after_503_with_growing_waits(api: Api, tmp_path: Path) -> None:
    replies = iter([Reply(503, {"error": "busy"}), Reply(502, {}), Reply(body=RECORDS[:2])])
    url = api.route("/flaky", lambda r: next(replies))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    loaded = read_http(_spec(url, retries=3, backoff_seconds=0.05), tmp_path, sleep=sleep)
    assert _ids(loaded) == [1, 2] and len(api.requests) == 3
    assert waits == [0.05, 0.1]


def test_429_waits_for_retry_after(api: Api, tmp_path: Path) -> None:
    replies = iter([Reply(429, {"error": "slow down"}, {"Retry-After": "1"}), Reply(body=RECORDS[:1])])
    url = api.route("/limited", lambda r: next(replies))
    started = time.monotonic()
    assert _ids(read_source(_spec(url, retries=2), tmp_path)) == [1]
    assert time.monotonic() - started >= 1.0  # Retry-After (1 s) won over the 0.01 s backoff


def test_the_last_5xx_is_a_clear_error(api: Api, tmp_path: Path) -> None:
    url = api.route("/down", lambda r: Reply(503, {"error": "maintenance"}))
    with pytest.raises(DataError, match="refused the request") as caught:
        read_source(_spec(url, retries=2), tmp_path)
    assert "HTTP 503 Service Unavailable after 3 tries" in caught.value.render()
    assert len(api.requests) == 3


@pytest.mark.parametrize(("status", "message"), [(404, "has no such page"), (400, "refused the request")])
def test_other_4xx_are_not_retried(api: Api, tmp_path: Path, status: int, message: str) -> None:
    url = api.route("/bad", lambda r: Reply(status, {"error": "nope"}))
    with pytest.raises(DataError, match=message):
        read_source(_spec(url, retries=3), tmp_path)
    assert len(api.requests) == 1


def test_a_timeout_is_a_clear_error(api: Api, tmp_path: Path) -> None:
    url = api.route("/slow", lambda r: Reply(body=RECORDS, delay=1.0))
    with pytest.raises(DataError, match="did not answer in time") as caught:
        read_source(_spec(url, timeout_seconds=0.2, retries=1), tmp_path)
    assert "ReadTimeout after 2 tries" in caught.value.render() and len(api.requests) == 2


def test_a_server_that_is_down_is_a_clear_error(tmp_path: Path) -> None:
    from conftest import free_port

    with pytest.raises(DataError, match="cannot be reached") as caught:
        read_source(_spec(f"http://127.0.0.1:{free_port()}/x", retries=1), tmp_path)
    assert "ConnectError" in caught.value.render()


@pytest.mark.parametrize(("body", "kw", "message"), [
    (b"<html>login</html>", {}, "page 1 of source 'shop' is not JSON"),
    ({"data": []}, {"records_path": "items"}, "has no 'items'"),
    ({"data": 3}, {"records_path": "data"}, "does not hold a list of records"),
    ([1, 2], {}, "does not hold a list of records"),
    ([], {}, "returned no records"),
    ([{"id": 1}, {"id": "x"}], {}, "record 2 of source .shop. does not fit the records before it"),
])
def test_bad_pages_are_clear_errors(api: Api, tmp_path: Path, body: Any, kw: dict[str, Any], message: str) -> None:
    url = api.route("/odd", lambda r: Reply(body=body))
    with pytest.raises(DataError, match=message):
        read_source(_spec(url, **kw), tmp_path)


def test_a_non_json_second_page_names_the_page(api: Api, tmp_path: Path) -> None:
    url = api.route("/p", lambda r: Reply(body=[{"id": 1}] if r.query["page"] == "1" else b"oops"))
    with pytest.raises(DataError, match="page 2 of source 'shop' is not JSON"):
        read_source(_spec(url, pagination={"type": "page"}), tmp_path)


def test_the_watermark_is_sent_and_applied(api: Api, tmp_path: Path) -> None:
    def since(r: Request) -> Reply:
        after = int(r.query.get("since", "0"))
        return Reply(body=[x for x in RECORDS if x["id"] > after - 1])  # an API that also returns the boundary

    url = api.route("/changes", since)
    spec = _spec(url, incremental=Incremental(column="id"), since_param="since")
    first = read_source(spec, tmp_path)
    assert _ids(first) == [1, 2, 3, 4, 5, 6, 7] and first.watermark == {"type": "int64", "value": 7}
    second = read_source(spec, tmp_path, {"type": "int64", "value": 5})
    assert _ids(second) == [6, 7] and second.added_rows == 2  # the API's boundary row filtered out here
    assert api.requests[-1].query == {"since": "5"}
    empty = api.route("/none", lambda r: Reply(body=[]))
    none = read_source(_spec(empty, incremental=Incremental(column="id"), since_param="since"), tmp_path,
                       {"type": "int64", "value": 7})
    assert none.added_rows == 0 and none.watermark == {"type": "int64", "value": 7}


@pytest.mark.parametrize(("kw", "message"), [
    ({"url": "ftp://x"}, "pattern"),
    ({"auth_header": "X-Key"}, "auth_header needs auth_env"),
    ({"headers": {"Authorization": "Bearer x"}}, "auth_env"),
    ({"since_param": "since"}, "since_param needs incremental"),
    ({"pagination": {"type": "page", "size_param": "n"}}, "size_param needs page_size"),
    ({"pagination": {"type": "cursor"}}, "cursor_path"),
    ({"pagination": {"type": "offset"}}, "page"),
])
def test_bad_http_settings_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HttpSource.model_validate({"type": "http", "name": "h", "url": "http://x/a", **kw})
