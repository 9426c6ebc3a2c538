"""imagegen: the Python client of the imagegen text-to-image service (standard library only).

    from imagegen import ImageGen

    client = ImageGen(api_key="...")  # or $IMAGEGEN_API_KEY; base_url= or $IMAGEGEN_BASE_URL
    response = client.generate_image(prompt="A red circle", aspect_ratio="1:1")
    print(response.image_url, response.seed)
"""

from ._client import DEFAULT_BASE_URL, ImageGen
from ._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConcurrencyLimitError,
    ConflictError,
    ContentModeratedError,
    ContentPolicyError,
    DownloadError,
    GenerationFailedError,
    IdempotencyConflictError,
    ImageGenError,
    InternalServerError,
    InvalidRequestError,
    JobCanceledError,
    JobExpiredError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    QueueFullError,
    RateLimitError,
    RequestTimeoutError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from ._models import TERMINAL_STATUSES, APIObject, Event, ImageResponse, Job
from ._transport import RetryEvent
from ._version import __version__
from ._webhooks import sign_webhook, verify_webhook

__all__ = [
    "DEFAULT_BASE_URL",
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APIObject",
    "AuthenticationError",
    "ConcurrencyLimitError",
    "ConflictError",
    "ContentModeratedError",
    "ContentPolicyError",
    "DownloadError",
    "Event",
    "GenerationFailedError",
    "IdempotencyConflictError",
    "ImageGen",
    "ImageGenError",
    "ImageResponse",
    "InternalServerError",
    "InvalidRequestError",
    "Job",
    "JobCanceledError",
    "JobExpiredError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QueueFullError",
    "RateLimitError",
    "RequestTimeoutError",
    "RetryEvent",
    "ServiceUnavailableError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "WebhookVerificationError",
    "__version__",
    "sign_webhook",
    "verify_webhook",
]
