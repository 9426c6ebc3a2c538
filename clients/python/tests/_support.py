"""What the tests share: the live services they run against (from the environment that
test/client/python.test.ts sets), clients of them, and a TCP proxy that breaks chosen connections."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import urllib.parse
from typing import Dict, List, Optional

from imagegen import ImageGen, RetryEvent


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: these tests run against a live service; `npm test` runs them through "
            "test/client/python.test.ts, which starts it"
        )
    return value


def main_client(**options) -> ImageGen:
    """A client of the main stack (one worker, the dispatcher, webhooks to 127.0.0.1 allowed)."""
    return ImageGen(api_key=env("IMAGEGEN_TEST_API_KEY"), base_url=env("IMAGEGEN_TEST_BASE_URL"), **options)


_limit_keys_lock = threading.Lock()
_limit_keys_used = 0


def limits_client(**options) -> ImageGen:
    """A client of the stack with tiny limits and no worker (jobs stay queued), on an API key of its own
    (limits are per key): 60 submits and cancels a minute, one unfinished job per key, two waiting jobs
    in all."""
    global _limit_keys_used
    keys = json.loads(env("IMAGEGEN_TEST_LIMITS_API_KEYS"))
    with _limit_keys_lock:
        if _limit_keys_used >= len(keys):
            raise RuntimeError("the limits stack has no unused API key left: create more in python.test.ts")
        key = keys[_limit_keys_used]
        _limit_keys_used += 1
    return ImageGen(api_key=key, base_url=env("IMAGEGEN_TEST_LIMITS_BASE_URL"), **options)


class RetryLog:
    """An ``on_retry`` hook that records every retry and can signal the first one."""

    def __init__(self) -> None:
        self.events: List[RetryEvent] = []
        self.first = threading.Event()

    def __call__(self, event: RetryEvent) -> None:
        self.events.append(event)
        self.first.set()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server that breaks the connections it is told to, in
    the order they arrive; the others pass through untouched. Faults:

    - ``drop_response``: the request reaches the server, which answers; the answer is withheld (kept in
      ``dropped``) and the client's connection is closed: the client cannot know whether it was done.
    - ``truncate_response``: the answer is forwarded but for its last bytes, then the connection closed.
    - ``cut_after_first_event``: an event stream is forwarded up to the end of its first event, then both
      sides are closed.
    """

    def __init__(self, upstream: str, faults: List[Optional[str]]) -> None:
        u = urllib.parse.urlsplit(upstream)
        self._upstream = (u.hostname, u.port)
        self._faults = list(faults)
        self.requests: List[bytes] = []  # what each connection sent, in arrival order
        self.dropped: List[bytes] = []
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def request_headers(self, index: int) -> Dict[str, str]:
        head = self.requests[index].split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                index = len(self.requests)
                self.requests.append(b"")
                self._sockets += [client, upstream]
            fault = self._faults[index] if index < len(self._faults) else None
            threading.Thread(target=self._pump_up, args=(client, upstream, index), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client, fault), daemon=True).start()

    def _pump_up(self, client: socket.socket, upstream: socket.socket, index: int) -> None:
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                self.requests[index] += data
                upstream.sendall(data)
        except OSError:
            pass
        _close(upstream)

    def _pump_down(self, upstream: socket.socket, client: socket.socket, fault: Optional[str]) -> None:
        buffered = b""
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if fault == "drop_response":
                    buffered += data
                    if _response_complete(buffered):
                        self.dropped.append(buffered)
                        break
                elif fault == "truncate_response":
                    buffered += data
                    if _response_complete(buffered):
                        client.sendall(buffered[:-10])
                        break
                elif fault == "cut_after_first_event":
                    buffered += data
                    end = _first_event_end(buffered)
                    if end is not None:
                        client.sendall(data[: len(data) - (len(buffered) - end)])
                        break
                    client.sendall(data)
                else:
                    client.sendall(data)
        except OSError:
            pass
        _close(client)
        _close(upstream)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


def _response_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return m is not None and len(body) >= int(m.group(1))


def _first_event_end(data: bytes) -> Optional[int]:
    """Where the chunk holding the stream's first event (the first ``id:`` line) ends, if it has arrived."""
    head_end = data.find(b"\r\n\r\n")
    start = data.find(b"id: ", head_end) if head_end >= 0 else -1
    if start < 0:
        return None
    end = data.find(b"\n\n\r\n", start)
    return None if end < 0 else end + 4
