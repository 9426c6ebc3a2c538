"""What the client returns: JSON objects with attribute access, the vendor-shaped image response, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from ._client import ImageGen

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "moderated", "canceled", "expired"})


class APIObject(dict):
    """A JSON object of the API: a plain ``dict`` (``job["status"]``, ``json.dumps(job)``) whose keys also
    read as attributes (``job.status``, ``job.output.url``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r} (fields: {', '.join(self)})"
            ) from None

    def __dir__(self):  # pragma: no cover - interactive help
        return list(self.keys()) + list(super().__dir__())


# The job object (``GET /v1/images/generations/{id}``): id, status, stage, input, output, error, …
Job = APIObject


def is_terminal(job: Any) -> bool:
    return job.get("status") in TERMINAL_STATUSES


@dataclass(frozen=True)
class ImageResponse:
    """The vendor response of a finished generation, and the whole job behind it.

    ``success``, ``image_url`` (a presigned URL valid for one hour), ``request_id``, ``seed`` and
    ``revised_prompt`` are exactly the vendor's fields; ``job`` is the job object; ``download(path)``
    saves the image."""

    success: bool
    image_url: str
    request_id: str
    seed: int
    revised_prompt: Optional[str]
    job: APIObject = field(repr=False)
    _client: "ImageGen" = field(repr=False, compare=False)

    @classmethod
    def from_job(cls, job: APIObject, client: "ImageGen") -> "ImageResponse":
        return cls(
            success=bool(job.get("success")),
            image_url=job["image_url"],
            request_id=job["request_id"],
            seed=job["seed"],
            revised_prompt=job.get("revised_prompt"),
            job=job,
            _client=client,
        )

    @property
    def id(self) -> str:
        return self.job["id"]

    def download(self, path: "str | Path") -> "Path":
        """Saves the image to ``path`` (a file, or an existing directory: then ``<job id>.<format>``)."""
        return self._client.download(self.job, path)


@dataclass(frozen=True)
class Event:
    """One server-sent event of a job: ``id`` (resume point), ``type`` (``queued``, ``started``,
    ``progress``, ``completed``) and its decoded ``data`` (the job object for ``completed``)."""

    id: Optional[str]
    type: str
    data: Any
