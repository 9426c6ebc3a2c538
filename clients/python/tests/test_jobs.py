"""The lower level: submit, get, wait, events, cancel, list, analyze, and the typed errors."""

from __future__ import annotations

import os
import threading
import unittest
import uuid
from unittest import mock

from _support import env, limits_client, main_client

import imagegen
from imagegen import ImageGen


def event_order(event_id: str):
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


class SubmitGetWaitEvents(unittest.TestCase):
    def test_submit_then_get_wait_and_the_event_stream(self):
        client = main_client()
        job = client.submit("a green square", aspect_ratio="1:1", seed=5)
        self.assertRegex(job.id, r"^gen_[A-Za-z0-9]{24}$")
        self.assertIn(job.status, ("queued", "processing", "succeeded"))
        self.assertEqual(client.get(job.id).id, job.id)
        done = client.wait(job)
        self.assertEqual((done.status, done.seed, done.success), ("succeeded", 5, True))
        self.assertEqual(client.get(job, wait=5).status, "succeeded")

        events = list(client.events(job.id))
        types = [e.type for e in events]
        self.assertEqual(types[0], "queued")
        self.assertIn("started", types)
        self.assertIn("progress", types)
        self.assertEqual(types[-1], "completed")
        self.assertEqual(types.count("completed"), 1)
        self.assertEqual((events[-1].data.id, events[-1].data.status), (job.id, "succeeded"))
        ids = [event_order(e.id) for e in events]
        self.assertEqual(ids, sorted(set(ids)))  # unique and in order
        started = events[types.index("started")]
        self.assertEqual(started.data, {"attempt": 1})
        # Resuming from an event id gives exactly what followed it.
        resumed = list(client.events(job, last_event_id=events[1].id))
        self.assertEqual([e.id for e in resumed], [e.id for e in events[2:]])

    def test_submit_with_a_blocking_wait_returns_the_finished_job(self):
        job = main_client().submit("a white circle", aspect_ratio="1:1", wait=30)
        self.assertEqual(job.status, "succeeded")
        self.assertIsNotNone(job.image_url)

    def test_an_idempotency_key_returns_the_same_job_and_refuses_another_body(self):
        client = main_client()
        key = f"test-{uuid.uuid4()}"
        first = client.submit("a black square", aspect_ratio="1:1", seed=9, idempotency_key=key)
        again = client.submit("a black square", aspect_ratio="1:1", seed=9, idempotency_key=key)
        self.assertEqual(again.id, first.id)
        with self.assertRaises(imagegen.IdempotencyConflictError) as caught:
            client.submit("a black circle", aspect_ratio="1:1", seed=9, idempotency_key=key)
        e = caught.exception
        self.assertIsInstance(e, imagegen.ConflictError)
        self.assertEqual((e.status, e.code, e.param), (409, "idempotency_conflict", "Idempotency-Key"))
        client.wait(first)


class Cancel(unittest.TestCase):
    def test_cancel_is_idempotent_on_a_queued_job(self):
        client = limits_client()  # no worker there: the job stays queued
        job = client.submit("a grey star", aspect_ratio="1:1")
        self.assertEqual((job.status, job.queue_position), ("queued", 1))
        canceled = client.cancel(job)
        self.assertEqual((canceled.id, canceled.status), (job.id, "canceled"))
        self.assertEqual(client.cancel(job.id).status, "canceled")
        self.assertEqual(client.wait(job).status, "canceled")
        with self.assertRaises(imagegen.DownloadError):
            client.download(canceled, ".")

    def test_canceling_a_finished_job_is_a_conflict(self):
        client = main_client()
        done = client.submit("a blue circle", aspect_ratio="1:1", wait=30)
        self.assertEqual(done.status, "succeeded")
        with self.assertRaises(imagegen.ConflictError) as caught:
            client.cancel(done)
        self.assertEqual((caught.exception.status, caught.exception.code), (409, "conflict"))

    def test_generate_image_raises_job_canceled_error_when_its_job_is_canceled(self):
        client = limits_client()
        key = f"test-{uuid.uuid4()}"
        outcome = {}

        def generate():
            try:
                outcome["response"] = client.generate_image(prompt="a purple hexagon", idempotency_key=key, timeout=60)
            except BaseException as e:  # handed to the test thread
                outcome["error"] = e

        t = threading.Thread(target=generate)
        t.start()
        # The same key and body name the same job, whichever of the two submits came first.
        job = client.submit("a purple hexagon", idempotency_key=key)
        client.cancel(job)
        t.join(timeout=60)
        self.assertFalse(t.is_alive())
        error = outcome.get("error")
        self.assertIsInstance(error, imagegen.JobCanceledError, outcome)
        self.assertEqual((error.code, error.job.id, error.job.status), ("canceled", job.id, "canceled"))

    def test_wait_gives_up_after_its_timeout_with_the_job_still_queued(self):
        client = limits_client()
        job = client.submit("an orange square", aspect_ratio="1:1")
        self.addCleanup(client.cancel, job)
        with self.assertRaises(imagegen.WaitTimeoutError) as caught:
            client.wait(job, timeout=1)
        self.assertEqual((caught.exception.job.id, caught.exception.job.status), (job.id, "queued"))


class ListAndAnalyze(unittest.TestCase):
    def test_list_iterates_every_page_newest_first_with_a_status_filter(self):
        client = limits_client()
        ids = []
        for i in range(5):  # one unfinished job per key here: each is canceled before the next
            ids.append(client.submit(f"a red circle number {i}", aspect_ratio="1:1").id)
            client.cancel(ids[-1])
        queued = client.submit("a red circle, still queued", aspect_ratio="1:1")
        self.addCleanup(client.cancel, queued)

        everything = list(client.list(limit=2))
        self.assertEqual([j.id for j in everything], [queued.id] + ids[::-1])
        pages = []
        cursor = None
        while True:
            page = client.list_page(limit=4, status="canceled", cursor=cursor)
            self.assertEqual(page.object, "list")
            pages.append([j.id for j in page.data])
            cursor = page.next_cursor
            if cursor is None:
                break
        self.assertEqual(sum(pages, []), ids[::-1])
        self.assertGreaterEqual(len(pages), 2)  # five jobs, at most four a page
        self.assertTrue(all(len(p) <= 4 for p in pages))
        self.assertEqual([j.id for j in client.list(status="queued")], [queued.id])
        self.assertEqual(len(list(client.list(status=["queued", "canceled"], limit=100))), 6)
        self.assertEqual(list(client.list(status="succeeded")), [])

        with self.assertRaises(imagegen.InvalidRequestError) as caught:
            list(client.list(cursor="not-a-cursor"))
        self.assertEqual(caught.exception.param, "cursor")
        with self.assertRaises(imagegen.InvalidRequestError) as caught:
            list(client.list(limit=101))
        self.assertEqual(caught.exception.param, "limit")

    def test_list_shows_only_the_keys_own_jobs(self):
        other = ImageGen(api_key=env("IMAGEGEN_TEST_OTHER_API_KEY"), base_url=env("IMAGEGEN_TEST_BASE_URL"))
        mine = main_client().submit("a tiny green star", aspect_ratio="1:1", wait=30)
        self.assertNotIn(mine.id, [j.id for j in other.list()])
        self.assertIn(mine.id, [j.id for j in main_client().list(status="succeeded", limit=100)])

    def test_analyze_checks_a_prompt_without_queueing_it(self):
        client = main_client()
        report = client.analyze("A red circle")
        self.assertEqual(report.object, "prompt.analysis")
        self.assertIn("red circle", report.analysis.subject)
        self.assertIn("too_short", [w.code for w in report.warnings])
        self.assertEqual(report.moderation, {"allowed": True, "category": None, "safety_tolerance": 2})
        refused = client.analyze("a soldier aiming a rifle", safety_tolerance=0)
        self.assertEqual(refused.moderation, {"allowed": False, "category": "violence", "safety_tolerance": 0})
        self.assertTrue(client.analyze("a soldier aiming a rifle", safety_tolerance=1).moderation.allowed)
        with self.assertRaises(imagegen.InvalidRequestError) as caught:
            client.analyze("   ", safety_tolerance=9)
        self.assertEqual({d["param"] for d in caught.exception.details}, {"prompt", "safety_tolerance"})


class TypedErrors(unittest.TestCase):
    def test_an_invalid_request_names_every_field(self):
        with self.assertRaises(imagegen.InvalidRequestError) as caught:
            main_client().generate_image(prompt="", aspect_ratio="2:1", seed=-1)
        e = caught.exception
        self.assertEqual((e.status, e.code, e.param), (400, "invalid_request", "prompt"))
        self.assertEqual([d["param"] for d in e.details], ["prompt", "aspect_ratio", "seed"])
        self.assertRegex(e.request_id, r"^req_")
        self.assertIn("aspect_ratio must be one of", e.details[1]["message"])
        self.assertIn("invalid_request", str(e))

    def test_a_refused_prompt_is_a_content_policy_error_with_its_category(self):
        with self.assertRaises(imagegen.ContentPolicyError) as caught:
            main_client().generate_image(prompt="a soldier aiming a rifle", safety_tolerance=0)
        e = caught.exception
        self.assertEqual((e.status, e.code, e.category), (400, "content_policy_violation", "violence"))
        self.assertNotIn("rifle", e.message)

    def test_unknown_key_unknown_job_and_another_keys_job(self):
        with self.assertRaises(imagegen.AuthenticationError) as caught:
            ImageGen(api_key="ig_nope_nope", base_url=env("IMAGEGEN_TEST_BASE_URL")).get("gen_x")
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthorized"))
        with self.assertRaises(imagegen.NotFoundError) as caught:
            main_client().get("gen_" + "A" * 24)
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))
        job = main_client().submit("a tiny red star", aspect_ratio="1:1")
        other = ImageGen(api_key=env("IMAGEGEN_TEST_OTHER_API_KEY"), base_url=env("IMAGEGEN_TEST_BASE_URL"))
        for call in (other.get, other.cancel, lambda j: list(other.events(j))):
            with self.subTest(call), self.assertRaises(imagegen.NotFoundError):
                call(job.id)
        main_client().wait(job)

    def test_a_client_needs_a_key(self):
        with mock.patch.dict(os.environ, {}, clear=True):
            with self.assertRaisesRegex(imagegen.ImageGenError, "IMAGEGEN_API_KEY"):
                ImageGen()
            self.assertEqual(ImageGen(api_key="k").base_url, "http://localhost:8080")

    def test_the_error_classes_form_one_hierarchy(self):
        for cls in (
            imagegen.InvalidRequestError,
            imagegen.AuthenticationError,
            imagegen.NotFoundError,
            imagegen.ConflictError,
            imagegen.ContentPolicyError,
            imagegen.ContentModeratedError,
            imagegen.RateLimitError,
            imagegen.ConcurrencyLimitError,
            imagegen.QueueFullError,
            imagegen.ServiceUnavailableError,
            imagegen.GenerationFailedError,
            imagegen.JobCanceledError,
            imagegen.JobExpiredError,
        ):
            self.assertTrue(issubclass(cls, imagegen.APIError), cls)
        self.assertTrue(issubclass(imagegen.ConcurrencyLimitError, imagegen.RateLimitError))
        self.assertTrue(issubclass(imagegen.QueueFullError, imagegen.ServiceUnavailableError))
        self.assertTrue(issubclass(imagegen.ContentModeratedError, imagegen.ContentPolicyError))
        for cls in (imagegen.APIError, imagegen.APIConnectionError, imagegen.WaitTimeoutError):
            self.assertTrue(issubclass(cls, imagegen.ImageGenError))


if __name__ == "__main__":
    unittest.main()
