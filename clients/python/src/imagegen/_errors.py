"""The exceptions of the client: one class per error code of the API, under APIError."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional


class ImageGenError(Exception):
    """Base of every exception this package raises."""


class APIError(ImageGenError):
    """An error answer of the API (``{"success": false, "error": {...}, "request_id"}``), or a job that
    ended without an image.

    ``code`` is the API's stable error code (``invalid_request``, ``rate_limited``, …); ``param`` the field
    or header it is about; ``status`` the HTTP status (None for a job's outcome); ``request_id`` the id to
    report; ``details`` every problem found (``[{"param", "message"}]``, for ``invalid_request``);
    ``category`` the policy category of a refusal; ``retry_after`` the seconds the server asked to wait;
    ``job`` the job, when the error is a job's outcome.
    """

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        param: Optional[str] = None,
        request_id: Optional[str] = None,
        details: Optional[List[Dict[str, Any]]] = None,
        category: Optional[str] = None,
        retry_after: Optional[float] = None,
        headers: Optional[Mapping[str, str]] = None,
        body: Any = None,
        job: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.param = param
        self.request_id = request_id
        self.details = details or []
        self.category = category
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        self.body = body
        self.job = job

    def __str__(self) -> str:
        where = f" (param {self.param})" if self.param else ""
        status = f"{self.status} " if self.status is not None else ""
        rid = f" [request_id {self.request_id}]" if self.request_id else ""
        return f"{status}{self.code or 'error'}: {self.message}{where}{rid}"


class InvalidRequestError(APIError):
    """400 ``invalid_request``: ``param`` names the field or header; ``details`` lists every problem."""


class AuthenticationError(APIError):
    """401 ``unauthorized``: the API key is missing, unknown or revoked."""


class NotFoundError(APIError):
    """404 ``not_found``: no such job for this key (or it was purged after 24 h)."""


class ConflictError(APIError):
    """409 ``conflict``: e.g. canceling a job that already ended otherwise."""


class IdempotencyConflictError(ConflictError):
    """409 ``idempotency_conflict``: the Idempotency-Key was used with a different body."""


class PayloadTooLargeError(APIError):
    """413 ``payload_too_large``."""


class UnsupportedMediaTypeError(APIError):
    """415 ``unsupported_media_type``."""


class MethodNotAllowedError(APIError):
    """405 ``method_not_allowed``."""


class ContentPolicyError(APIError):
    """``content_policy_violation``: the prompt was refused (400 at submit, or a job whose upsampled prompt
    was refused); ``category`` says which policy (violence, adult, hate, illegal, harmful)."""


class ContentModeratedError(ContentPolicyError):
    """``content_moderated``: the generated image failed the safety check; the job is ``moderated``."""


class RateLimitError(APIError):
    """429 ``rate_limited``; ``retry_after`` is the server's Retry-After in seconds."""


class ConcurrencyLimitError(RateLimitError):
    """429 ``concurrency_limit_exceeded``: the key has as many unfinished jobs as it may."""


class ServiceUnavailableError(APIError):
    """503 ``service_unavailable``."""


class QueueFullError(ServiceUnavailableError):
    """503 ``queue_full``: the queue is past its bound; ``retry_after`` says when to come back."""


class InternalServerError(APIError):
    """500 ``internal_error`` (or another 5xx)."""


class RequestTimeoutError(APIError):
    """408 ``timeout``: the request was not received in time."""


class GenerationFailedError(APIError):
    """The job ended ``failed``; ``code`` is the job's ``error.code`` and ``retryable`` says whether
    submitting again may succeed."""

    @property
    def retryable(self) -> bool:
        error = (self.job or {}).get("error") or {}
        return bool(error.get("retryable"))


class JobCanceledError(APIError):
    """The job ended ``canceled``."""


class JobExpiredError(APIError):
    """The job ended ``expired``: it waited in the queue past its deadline."""


class APIConnectionError(ImageGenError):
    """The service could not be reached (refused, reset, timed out) after every retry."""


class WaitTimeoutError(ImageGenError):
    """The job did not finish within the caller's timeout; ``job`` is its last state (still running)."""

    def __init__(self, message: str, job: Any = None) -> None:
        super().__init__(message)
        self.job = job


class WebhookVerificationError(ImageGenError):
    """A webhook delivery failed verification (signature, timestamp or headers)."""


class DownloadError(ImageGenError):
    """The image could not be downloaded (expired URL, storage error); ``status`` is the HTTP status."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


_BY_CODE = {
    "invalid_request": InvalidRequestError,
    "unauthorized": AuthenticationError,
    "forbidden": AuthenticationError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "idempotency_conflict": IdempotencyConflictError,
    "payload_too_large": PayloadTooLargeError,
    "unsupported_media_type": UnsupportedMediaTypeError,
    "method_not_allowed": MethodNotAllowedError,
    "content_policy_violation": ContentPolicyError,
    "content_moderated": ContentModeratedError,
    "rate_limited": RateLimitError,
    "concurrency_limit_exceeded": ConcurrencyLimitError,
    "service_unavailable": ServiceUnavailableError,
    "queue_full": QueueFullError,
    "internal_error": InternalServerError,
    "timeout": RequestTimeoutError,
    "generation_failed": GenerationFailedError,
}

_BY_STATUS = {
    400: InvalidRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(code: Optional[str], status: Optional[int]) -> type:
    """The exception class of an error code, or of the HTTP status when the code is unknown."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status is not None and status >= 500:
        return InternalServerError
    return APIError


def error_from_response(
    status: int, body: Any, headers: Mapping[str, str], retry_after: Optional[float]
) -> APIError:
    """The typed exception of an HTTP error answer (any body: the API's envelope, or anything else)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        text = body if isinstance(body, str) else ""
        return error_class(None, status)(
            f"HTTP {status}{': ' + text[:200] if text else ''}",
            status=status,
            headers=headers,
            body=body,
            retry_after=retry_after,
            request_id=headers.get("x-request-id"),
        )
    code = err.get("code")
    return error_class(code, status)(
        str(err.get("message", "")),
        code=code,
        status=status,
        param=err.get("param"),
        request_id=body.get("request_id") or headers.get("x-request-id"),
        details=err.get("details"),
        category=err.get("category"),
        retry_after=retry_after,
        headers=headers,
        body=body,
    )


def error_from_job(job: Mapping[str, Any]) -> APIError:
    """The typed exception of a terminal job that did not succeed."""
    status = job.get("status")
    error = job.get("error") or {}
    moderation = job.get("moderation") or {}
    common = dict(request_id=job.get("request_id"), job=job, category=moderation.get("category"))
    if status == "moderated":
        code = error.get("code") or "content_moderated"
        cls = ContentPolicyError if code == "content_policy_violation" else ContentModeratedError
        return cls(error.get("message") or "the image was moderated", code=code, **common)
    if status == "canceled":
        return JobCanceledError(
            error.get("message") or f"job {job.get('id')} was canceled", code="canceled", **common
        )
    if status == "expired":
        return JobExpiredError(
            error.get("message") or f"job {job.get('id')} expired in the queue", code="expired", **common
        )
    return GenerationFailedError(
        error.get("message") or f"job {job.get('id')} ended {status}",
        code=error.get("code") or "generation_failed",
        **common,
    )
