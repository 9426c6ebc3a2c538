"""The client: ``ImageGen(api_key, base_url)`` and its methods."""

from __future__ import annotations

import json
import math
import os
import platform
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Union

from ._errors import (
    APIConnectionError,
    APIError,
    DownloadError,
    ImageGenError,
    WaitTimeoutError,
    error_from_job,
)
from ._models import APIObject, Event, ImageResponse, Job, is_terminal
from ._transport import NETWORK_ERRORS, RetryEvent, Transport, iter_chunks
from ._version import __version__

DEFAULT_BASE_URL = "http://localhost:8080"
GENERATIONS = "/v1/images/generations"

JobRef = Union[str, Mapping[str, Any], ImageResponse]


def _job_id(job: JobRef) -> str:
    if isinstance(job, str):
        return job
    if isinstance(job, ImageResponse):
        return job.id
    return str(job["id"])


def _path_id(job: JobRef) -> str:
    return urllib.parse.quote(_job_id(job), safe="")


def _sse_events(raw: Any) -> Iterator[Dict[str, Optional[str]]]:
    """Parses a text/event-stream (WHATWG HTML §9.2.6) into {id, event, data, retry} dicts."""
    data: List[str] = []
    event: Optional[str] = None
    event_id: Optional[str] = None
    while True:
        line_bytes = raw.readline()
        if not line_bytes:
            return  # the stream ended (a partial event is discarded, as the spec says)
        line = line_bytes.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data or event:
                yield {"id": event_id, "event": event or "message", "data": "\n".join(data)}
            data, event = [], None
            continue
        if line.startswith(":"):
            continue  # a comment: the keep-alive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "retry" and value.isdigit():
            yield {"retry": value}


class ImageGen:
    """A client of the imagegen service.

    ``api_key`` defaults to ``$IMAGEGEN_API_KEY``, ``base_url`` to ``$IMAGEGEN_BASE_URL`` or
    ``http://localhost:8080``. Every request is retried on network failures and on 429, 502, 503 and 504
    answers, at most ``max_retries`` times: after the server's ``Retry-After`` when it sent one, else
    after an exponential backoff from ``initial_retry_delay`` seconds; no single wait exceeds
    ``max_retry_delay``. ``on_retry(RetryEvent)`` is called before each wait. ``timeout`` is the socket
    timeout of one request (a blocking wait adds its own seconds to it)."""

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 4,
        initial_retry_delay: float = 0.5,
        max_retry_delay: float = 60.0,
        wait_step: int = 60,
        on_retry: Optional[Callable[[RetryEvent], None]] = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("IMAGEGEN_API_KEY")
        if not api_key:
            raise ImageGenError("no API key: pass ImageGen(api_key=...) or set IMAGEGEN_API_KEY")
        base_url = base_url or os.environ.get("IMAGEGEN_BASE_URL") or DEFAULT_BASE_URL
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.wait_step = int(wait_step)
        self._options = dict(
            timeout=timeout,
            max_retries=max_retries,
            initial_retry_delay=initial_retry_delay,
            max_retry_delay=max_retry_delay,
            wait_step=wait_step,
            on_retry=on_retry,
        )
        self._t = Transport(
            base_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            initial_retry_delay=initial_retry_delay,
            max_retry_delay=max_retry_delay,
            on_retry=on_retry,
            user_agent=f"imagegen-python/{__version__} Python/{platform.python_version()}",
        )

    @property
    def base_url(self) -> str:
        return self._t.base_url

    @property
    def api_key(self) -> str:
        return self._t.api_key or ""

    def __repr__(self) -> str:
        return f"ImageGen(base_url={self.base_url!r})"

    def with_options(self, **overrides: Any) -> "ImageGen":
        """A copy of this client with some options changed (e.g. ``max_retries=0``)."""
        options = {**self._options, "api_key": self.api_key, "base_url": self.base_url, **overrides}
        return ImageGen(**options)

    # --- the vendor call --------------------------------------------------------------------------------

    def generate_image(
        self,
        prompt: str,
        *,
        aspect_ratio: Optional[str] = None,
        output_format: Optional[str] = None,
        seed: Optional[int] = None,
        prompt_upsampling: Optional[bool] = None,
        safety_tolerance: Optional[int] = None,
        webhook_url: Optional[str] = None,
        webhook_events: Optional[Iterable[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = 600.0,
        cache: bool = True,
    ) -> ImageResponse:
        """Generates one image and returns the vendor response (``image_url``, ``seed``, ``request_id``,
        ``revised_prompt``, ``success``) with the ``job``.

        Submits with ``Prefer: wait``, then long-polls until the job ends. A job that ends other than
        ``succeeded`` raises its typed error (ContentModeratedError, ContentPolicyError,
        GenerationFailedError, JobCanceledError, JobExpiredError; each with ``.job``); a job still running
        after ``timeout`` seconds raises WaitTimeoutError (the job goes on; ``.job`` has its id).

        With an explicit ``seed``, a request identical to an earlier one of the same key is answered from a
        copy of that result (``job["cached"]`` is True); ``cache=False`` asks for a new generation."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.submit(
            prompt,
            aspect_ratio=aspect_ratio,
            output_format=output_format,
            seed=seed,
            prompt_upsampling=prompt_upsampling,
            safety_tolerance=safety_tolerance,
            webhook_url=webhook_url,
            webhook_events=webhook_events,
            metadata=metadata,
            idempotency_key=idempotency_key,
            wait=self._step(deadline),
            cache=cache,
        )
        if not is_terminal(job):
            job = self.wait(job, timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        if job["status"] != "succeeded":
            raise error_from_job(job)
        return ImageResponse.from_job(job, self)

    # --- jobs -------------------------------------------------------------------------------------------

    def submit(
        self,
        prompt: str,
        *,
        aspect_ratio: Optional[str] = None,
        output_format: Optional[str] = None,
        seed: Optional[int] = None,
        prompt_upsampling: Optional[bool] = None,
        safety_tolerance: Optional[int] = None,
        webhook_url: Optional[str] = None,
        webhook_events: Optional[Iterable[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        wait: Optional[int] = None,
        cache: bool = True,
    ) -> Job:
        """``POST /v1/images/generations``: queues a job and returns it (``queued``, or already terminal
        when ``wait`` seconds were given and it finished in time).

        Every submit carries an ``Idempotency-Key`` (a fresh UUID unless given), the same on each retry,
        so a retried submit returns the job the first attempt created rather than a second one.
        ``cache=False`` sends ``Cache-Control: no-cache`` (never answered from an earlier result)."""
        body: Dict[str, Any] = {"prompt": prompt}
        fields = {
            "aspect_ratio": aspect_ratio,
            "output_format": output_format,
            "seed": seed,
            "prompt_upsampling": prompt_upsampling,
            "safety_tolerance": safety_tolerance,
            "webhook_url": webhook_url,
            "webhook_events": None if webhook_events is None else list(webhook_events),
            "metadata": None if metadata is None else dict(metadata),
        }
        body.update({k: v for k, v in fields.items() if v is not None})
        headers = {"Idempotency-Key": idempotency_key or f"py-{uuid.uuid4()}"}
        if wait:
            headers["Prefer"] = f"wait={int(wait)}"
        if not cache:
            headers["Cache-Control"] = "no-cache"
        res = self._t.request(
            "POST", GENERATIONS, json_body=body, headers=headers, timeout=self._t.timeout + (wait or 0)
        )
        return res.json()

    def get(self, job: JobRef, *, wait: Optional[int] = None) -> Job:
        """``GET /v1/images/generations/{id}``; with ``wait`` (seconds, ≤ 60) it long-polls until the job
        is terminal or the seconds pass."""
        res = self._t.request(
            "GET",
            f"{GENERATIONS}/{_path_id(job)}",
            query={"wait": int(wait) if wait else None},
            timeout=self._t.timeout + (wait or 0),
        )
        return res.json()

    def wait(self, job: JobRef, *, timeout: Optional[float] = None) -> Job:
        """Long-polls (``?wait=``) until the job is terminal and returns it, whatever its status. Raises
        WaitTimeoutError when ``timeout`` seconds pass first (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.get(job, wait=self._step(deadline))
            if is_terminal(current):
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"job {current['id']} is still {current['status']} after {timeout} s", job=current
                )

    def cancel(self, job: JobRef) -> Job:
        """``POST /v1/images/generations/{id}/cancel``: idempotent. Returns the job (``canceled``, or still
        ``processing`` when it had not stopped within the server's grace). Raises ConflictError when the
        job already ended otherwise."""
        return self._t.request("POST", f"{GENERATIONS}/{_path_id(job)}/cancel").json()

    def events(
        self, job: JobRef, *, last_event_id: Optional[str] = None, previews: bool = False
    ) -> Iterator[Event]:
        """The job's server-sent events (``GET …/{id}/events``) as Event objects: ``queued``, ``started``,
        ``progress``…, then one ``completed`` whose data is the job object; the iterator ends there.

        When the connection drops or the stream ends early (a proxy, an API restart) it reconnects with
        ``Last-Event-ID``, so every event arrives once and in order. A reconnect that gets no event counts
        towards ``max_retries``; one that does resets the count.

        ``previews=True`` (``?previews=1``) adds live previews while the job denoises: ``progress`` events
        whose ``data.preview`` is a small JPEG as a ``data:image/jpeg;base64,…`` URL (≤ 256 px on its long
        side). They are never stored, carry no id of their own, and a resumed stream does not replay them."""
        path = f"{GENERATIONS}/{_path_id(job)}/events"
        last = last_event_id
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last:
                headers["Last-Event-ID"] = last
            res = self._t.request(
                "GET", path, query={"previews": "1" if previews else None}, headers=headers, stream=True
            )
            progressed = False
            cause: Optional[BaseException] = None
            try:
                for raw in _sse_events(res.raw):
                    if "retry" in raw:
                        continue
                    if raw["id"]:
                        last = raw["id"]
                    progressed = True
                    data = raw["data"]
                    event = Event(
                        id=raw["id"],
                        type=str(raw["event"]),
                        data=json.loads(data, object_hook=APIObject) if data else None,
                    )
                    yield event
                    if event.type == "completed":
                        return
            except NETWORK_ERRORS as e:
                cause = e
            finally:
                res.close()
            if progressed:
                failures = 0
                continue  # reconnect at once from the last event received
            error = cause or APIConnectionError(f"the event stream of {_job_id(job)} ended without events")
            if failures >= self._t.max_retries:
                raise APIConnectionError(
                    f"the event stream of {_job_id(job)} kept failing: {error!r}"
                ) from cause
            self._t._wait_before_retry("GET", path, failures, error)
            failures += 1

    # --- lists and prompts ------------------------------------------------------------------------------

    def list_page(
        self,
        *,
        limit: Optional[int] = None,
        status: Union[None, str, Iterable[str]] = None,
        cursor: Optional[str] = None,
    ) -> APIObject:
        """One page of ``GET /v1/images/generations``: ``{"object": "list", "data": [job…],
        "next_cursor"}`` (the key's jobs, newest first)."""
        if status is not None and not isinstance(status, str):
            status = ",".join(status)
        return self._t.request(
            "GET", GENERATIONS, query={"limit": limit, "status": status, "cursor": cursor}
        ).json()

    def analyze(self, prompt: str, *, safety_tolerance: Optional[int] = None) -> APIObject:
        """``POST /v1/prompts/analyze``: what a submit would make of the prompt, nothing queued:
        ``{"object": "prompt.analysis", "analysis", "warnings", "moderation": {"allowed", "category",
        "safety_tolerance"}}``."""
        body: Dict[str, Any] = {"prompt": prompt}
        if safety_tolerance is not None:
            body["safety_tolerance"] = safety_tolerance
        return self._t.request("POST", "/v1/prompts/analyze", json_body=body).json()

    # --- images -----------------------------------------------------------------------------------------

    def download(self, source: Union[str, Mapping[str, Any], ImageResponse], path: Union[str, Path]) -> Path:
        """Saves an image to ``path`` and returns the path written. ``source`` is a job, an
        ImageResponse or an image URL; when ``path`` is an existing directory the file is named after
        the job (``<id>.jpg``/``.png``) or the URL. The presigned URL is fetched as is, without the API
        key. Raises DownloadError when the image has expired or storage refuses it."""
        if isinstance(source, ImageResponse):
            source = source.job
        if isinstance(source, str):
            url, name = source, os.path.basename(urllib.parse.urlsplit(source).path) or "image"
        else:
            output = source.get("output") or {}
            url = output.get("url") or source.get("image_url")
            if not url:
                why = "has expired" if output.get("expired") else f"is not available (status {source.get('status')})"
                raise DownloadError(f"the image of job {source.get('id')} {why}")
            ext = {"jpeg": "jpg", "png": "png"}.get(output.get("format") or "", "img")
            name = f"{source.get('id')}.{ext}"
        target = Path(path)
        if target.is_dir():
            target = target / name
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        attempt = 0
        while True:
            try:
                res = self._t.request(
                    "GET", url, absolute_url=url, authenticated=False, headers={"Accept": "*/*"}, stream=True
                )
                with open(tmp, "wb") as f:
                    for chunk in iter_chunks(res):
                        f.write(chunk)
                os.replace(tmp, target)
                return target
            except APIError as e:
                raise DownloadError(f"the image could not be downloaded: {e}", status=e.status) from e
            except NETWORK_ERRORS as e:  # the body broke off: fetch it again, within the same bound
                if attempt >= self._t.max_retries:
                    raise APIConnectionError(f"the image download kept failing: {e!r}") from e
                self._t._wait_before_retry("GET", url, attempt, e)
                attempt += 1
            finally:
                if tmp.exists():
                    tmp.unlink()

    # --- helpers ----------------------------------------------------------------------------------------

    def _step(self, deadline: Optional[float]) -> int:
        """Seconds for the next blocking wait: ``wait_step``, less when the deadline is nearer."""
        if deadline is None:
            return self.wait_step
        return max(0, min(self.wait_step, math.ceil(deadline - time.monotonic())))

    # ``list`` last: inside the class body it shadows the builtin for the methods defined after it.
    def list(
        self,
        *,
        limit: Optional[int] = None,
        status: Union[None, str, Iterable[str]] = None,
        cursor: Optional[str] = None,
    ) -> Iterator[Job]:
        """Iterates over the key's jobs, newest first, page after page (``limit`` per request, optional
        ``status`` filter, one or several); only jobs still retained (24 h) appear."""
        while True:
            page = self.list_page(limit=limit, status=status, cursor=cursor)
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return


__all__ = ["ImageGen", "RetryEvent", "DEFAULT_BASE_URL"]
