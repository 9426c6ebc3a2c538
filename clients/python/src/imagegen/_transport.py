"""HTTP for the client: one connection per request (thread-safe), JSON in and out, bounded retries."""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple, Union

from ._errors import APIConnectionError, APIError, error_from_response
from ._models import APIObject

# Statuses worth retrying: rate or concurrency limits, a full queue or an unavailable service, and
# gateways in front of it. Anything else is the caller's to fix.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# What a dropped, refused, reset or timed-out connection raises in http.client and socket.
NETWORK_ERRORS: Tuple[type, ...] = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class RetryEvent:
    """Passed to ``on_retry`` before each wait: which attempt failed, why, and how long the client waits.

    ``error`` is the APIError of a 429/5xx answer (its ``retry_after`` is the server's Retry-After) or the
    network exception; ``delay`` the seconds the client sleeps before the next attempt."""

    method: str
    path: str
    attempt: int
    delay: float
    error: BaseException


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Response:
    """An answer whose body has not been read yet (for streams), or has (``json``/``text``)."""

    def __init__(self, conn: http.client.HTTPConnection, raw: http.client.HTTPResponse):
        self._conn = conn
        self.raw = raw
        self.status = raw.status
        self.headers: Dict[str, str] = {k.lower(): v for k, v in raw.getheaders()}
        self._body: Optional[bytes] = None

    def read(self) -> bytes:
        if self._body is None:
            try:
                self._body = self.raw.read()
            finally:
                self.close()
        return self._body

    def json(self) -> Any:
        data = self.read()
        try:
            return json.loads(data.decode("utf-8"), object_hook=APIObject)
        except ValueError:
            return data.decode("utf-8", "replace")

    def close(self) -> None:
        self.raw.close()
        self._conn.close()


Body = Union[None, bytes, Mapping[str, Any]]


class Transport:
    def __init__(
        self,
        base_url: str,
        api_key: Optional[str],
        *,
        timeout: float,
        max_retries: int,
        initial_retry_delay: float,
        max_retry_delay: float,
        on_retry: Optional[Callable[[RetryEvent], None]],
        user_agent: str,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        self._prefix = parsed.path
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.initial_retry_delay = initial_retry_delay
        self.max_retry_delay = max_retry_delay
        self.on_retry = on_retry
        self.user_agent = user_agent

    # --- one attempt ------------------------------------------------------------------------------------

    def _connect(self, scheme: str, host: str, port: Optional[int], timeout: float):
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _send_once(
        self,
        method: str,
        url: Tuple[str, str, Optional[int], str],
        body: Optional[bytes],
        headers: Dict[str, str],
        timeout: float,
    ) -> Response:
        scheme, host, port, target = url
        conn = self._connect(scheme, host, port, timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            return Response(conn, conn.getresponse())
        except BaseException:
            conn.close()
            raise

    # --- with retries -----------------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: initial × 2^attempt, 75–100 % of it, at most max_retry_delay."""
        delay = self.initial_retry_delay * (2**attempt)
        return min(self.max_retry_delay, delay * (1 - 0.25 * random.random()))

    def retry_delay(self, attempt: int, error: BaseException) -> float:
        """The server's Retry-After when it sent one, else the backoff; never more than max_retry_delay."""
        retry_after = error.retry_after if isinstance(error, APIError) else None
        delay = retry_after if retry_after is not None else self.backoff(attempt)
        return min(self.max_retry_delay, delay)

    def _wait_before_retry(self, method: str, path: str, attempt: int, error: BaseException) -> None:
        delay = self.retry_delay(attempt, error)
        if self.on_retry is not None:
            self.on_retry(RetryEvent(method=method, path=path, attempt=attempt + 1, delay=delay, error=error))
        time.sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        json_body: Body = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        authenticated: bool = True,
        absolute_url: Optional[str] = None,
        max_retries: Optional[int] = None,
        stream: bool = False,
    ) -> Response:
        """Sends a request, retrying network failures and 429/502/503/504 answers up to ``max_retries``
        times (Retry-After honoured, else exponential backoff). Returns the 2xx response, its body read
        (an answer that breaks off is retried like a failed connection) unless ``stream``; raises the
        typed APIError of any other answer, or APIConnectionError when the network kept failing."""
        url = self._url(path, query, absolute_url)
        all_headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if authenticated and self.api_key:
            all_headers["Authorization"] = f"Bearer {self.api_key}"
        body: Optional[bytes] = None
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        retries = self.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            try:
                res = self._send_once(method, url, body, all_headers, timeout or self.timeout)
                if not stream or not 200 <= res.status < 300:
                    res.read()
            except NETWORK_ERRORS as e:
                if attempt >= retries:
                    raise APIConnectionError(
                        f"{method} {path}: the service could not be reached ({e!r}) after {attempt + 1} attempt(s)"
                    ) from e
                self._wait_before_retry(method, path, attempt, e)
                attempt += 1
                continue
            if 200 <= res.status < 300:
                return res
            payload = res.json()
            error = error_from_response(
                res.status, payload, res.headers, parse_retry_after(res.headers.get("retry-after"))
            )
            if res.status in RETRY_STATUSES and attempt < retries:
                self._wait_before_retry(method, path, attempt, error)
                attempt += 1
                continue
            raise error

    def _url(
        self, path: str, query: Optional[Mapping[str, Any]], absolute_url: Optional[str]
    ) -> Tuple[str, str, Optional[int], str]:
        if absolute_url is not None:
            u = urllib.parse.urlsplit(absolute_url)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ValueError(f"not an http(s) URL: {absolute_url!r}")
            target = (u.path or "/") + (f"?{u.query}" if u.query else "")
            return u.scheme, u.hostname, u.port, target
        target = self._prefix + path
        pairs = [(k, v) for k, v in (query or {}).items() if v is not None]
        if pairs:
            target += "?" + urllib.parse.urlencode(pairs, doseq=False)
        return self._scheme, self._host, self._port, target


def iter_chunks(res: Response, size: int = 65536) -> Iterable[bytes]:
    try:
        while True:
            chunk = res.raw.read(size)
            if not chunk:
                return
            yield chunk
    finally:
        res.close()
