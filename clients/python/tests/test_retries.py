"""Retries against the real service: 429 and 503 answers, dropped connections, a cut event stream."""

from __future__ import annotations

import socket
import threading
import unittest
import uuid

from _support import FaultProxy, RetryLog, env, limits_client, main_client

import imagegen
from imagegen import ImageGen


class LimitAnswers(unittest.TestCase):
    def test_a_rate_limited_submit_waits_the_retry_after_and_is_accepted(self):
        log = RetryLog()
        client = limits_client(on_retry=log)
        strict = client.with_options(max_retries=0)

        def drain():
            """Spends the key's write tokens (60, one back each second): a cancel of an unknown id takes one."""
            for _ in range(70):
                try:
                    strict.cancel("gen_unknown")
                except imagegen.RateLimitError as e:
                    return e
                except imagegen.NotFoundError:
                    continue
            self.fail("60 writes a minute should have run out within 70")

        for _ in range(3):
            log.events.clear()
            limited = drain()
            self.assertEqual((limited.status, limited.code, limited.retry_after), (429, "rate_limited", 1.0))
            self.assertEqual(log.events, [])  # max_retries=0: raised at once
            job = client.submit("a red square", aspect_ratio="1:1")
            if log.events:
                break
            # Rare: a token came back in the millisecond between the two requests; cancel and go again.
            client.cancel(job)
        self.addCleanup(client.cancel, job)
        self.assertEqual(job.status, "queued")
        # One retry, after exactly the server's Retry-After: had it gone earlier, the empty bucket would
        # have answered 429 again and there would be a second retry.
        self.assertEqual([(e.attempt, e.delay, type(e.error)) for e in log.events], [(1, 1.0, imagegen.RateLimitError)])
        self.assertEqual(log.events[0].error.code, "rate_limited")
        self.assertEqual(log.events[0].path, "/v1/images/generations")

    def test_a_full_queue_is_retried_until_there_is_room(self):
        first, second = limits_client(), limits_client()
        a = first.submit("a red circle", aspect_ratio="1:1")
        b = second.submit("a blue circle", aspect_ratio="1:1")  # two waiting jobs: the bound
        self.addCleanup(second.cancel, b)
        log = RetryLog()
        third = limits_client(on_retry=log)
        with self.assertRaises(imagegen.QueueFullError) as caught:
            third.with_options(max_retries=0).submit("a green circle", aspect_ratio="1:1")
        e = caught.exception
        self.assertEqual((e.status, e.code, e.retry_after), (503, "queue_full", 30.0))
        self.assertIsInstance(e, imagegen.ServiceUnavailableError)

        # The server asks for 30 s; this client bounds each wait at 0.2 s and retries until room is made.
        patient = third.with_options(max_retries=200, max_retry_delay=0.2)
        outcome = {}
        t = threading.Thread(target=lambda: outcome.update(job=patient.submit("a green circle", aspect_ratio="1:1")))
        t.start()
        self.assertTrue(log.first.wait(timeout=30), "no retry")
        first.cancel(a)  # room for one
        t.join(timeout=60)
        self.assertIn("job", outcome)
        self.addCleanup(third.cancel, outcome["job"])
        self.assertEqual(outcome["job"].status, "queued")
        self.assertTrue(log.events)
        for event in log.events:
            self.assertIsInstance(event.error, imagegen.QueueFullError)
            self.assertEqual((event.error.retry_after, event.delay), (30.0, 0.2))

    def test_the_concurrency_limit_is_a_rate_limit_error_with_its_retry_after(self):
        client = limits_client(max_retries=0)
        job = client.submit("a pink square", aspect_ratio="1:1")
        self.addCleanup(client.cancel, job)
        with self.assertRaises(imagegen.ConcurrencyLimitError) as caught:
            client.submit("a pink circle", aspect_ratio="1:1")
        e = caught.exception
        self.assertIsInstance(e, imagegen.RateLimitError)
        self.assertEqual((e.status, e.code, e.retry_after), (429, "concurrency_limit_exceeded", 5.0))
        self.assertIn("unfinished", e.message)


class NetworkFailures(unittest.TestCase):
    def test_a_submit_whose_answer_was_lost_is_retried_into_the_same_single_job(self):
        proxy = FaultProxy(env("IMAGEGEN_TEST_BASE_URL"), ["drop_response"])
        self.addCleanup(proxy.close)
        log = RetryLog()
        client = ImageGen(api_key=env("IMAGEGEN_TEST_API_KEY"), base_url=proxy.url, on_retry=log, initial_retry_delay=0.05)
        tag = str(uuid.uuid4())
        job = client.submit("a lost answer", aspect_ratio="1:1", metadata={"tag": tag})

        # The first attempt created the job; its answer never reached the client.
        self.assertEqual(len(proxy.dropped), 1)
        self.assertIn(b"HTTP/1.1 202", proxy.dropped[0])
        self.assertIn(job.id.encode(), proxy.dropped[0])
        self.assertEqual(len(log.events), 1)
        self.assertIsInstance(log.events[0].error, (OSError, ConnectionError))
        # Both attempts carried the same Idempotency-Key, so the retry got that job back, not a new one.
        keys = [proxy.request_headers(i)["idempotency-key"] for i in range(2)]
        self.assertEqual(keys[0], keys[1])
        tagged = [j for j in main_client().list(limit=100) if j.metadata.get("tag") == tag]
        self.assertEqual([j.id for j in tagged], [job.id])
        main_client().wait(job)

    def test_an_answer_that_breaks_off_is_fetched_again(self):
        job = main_client().submit("a short answer", aspect_ratio="1:1")
        proxy = FaultProxy(env("IMAGEGEN_TEST_BASE_URL"), ["truncate_response"])
        self.addCleanup(proxy.close)
        log = RetryLog()
        client = ImageGen(api_key=env("IMAGEGEN_TEST_API_KEY"), base_url=proxy.url, on_retry=log, initial_retry_delay=0.05)
        self.assertEqual(client.get(job).id, job.id)
        self.assertEqual(len(proxy.requests), 2)
        self.assertEqual([type(e.error).__name__ for e in log.events], ["IncompleteRead"])
        main_client().wait(job)

    def test_an_unreachable_service_fails_after_a_bounded_backoff(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = RetryLog()
        client = ImageGen(
            api_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=3, initial_retry_delay=0.02, on_retry=log
        )
        with self.assertRaises(imagegen.APIConnectionError) as caught:
            client.get("gen_x")
        self.assertIn("after 4 attempt(s)", str(caught.exception))
        self.assertIsInstance(caught.exception.__cause__, ConnectionRefusedError)
        self.assertEqual([e.attempt for e in log.events], [1, 2, 3])
        for n, event in enumerate(log.events):  # 0.02 × 2^n, jittered down by at most a quarter
            self.assertGreaterEqual(event.delay, 0.75 * 0.02 * 2**n)
            self.assertLessEqual(event.delay, 0.02 * 2**n)
        bounded = client.with_options(max_retry_delay=0.01)
        self.assertTrue(all(bounded._t.backoff(n) <= 0.01 for n in range(20)))

    def test_the_event_stream_reconnects_with_last_event_id_after_a_cut(self):
        job = main_client().submit("a stream that breaks", aspect_ratio="1:1", wait=30)
        self.assertEqual(job.status, "succeeded")
        expected = list(main_client().events(job))
        proxy = FaultProxy(env("IMAGEGEN_TEST_BASE_URL"), ["cut_after_first_event"])
        self.addCleanup(proxy.close)
        log = RetryLog()
        client = ImageGen(api_key=env("IMAGEGEN_TEST_API_KEY"), base_url=proxy.url, on_retry=log)
        got = list(client.events(job))
        self.assertEqual([(e.id, e.type) for e in got], [(e.id, e.type) for e in expected])
        self.assertEqual(got[-1].data.status, "succeeded")
        self.assertEqual(len(proxy.requests), 2)
        self.assertNotIn("last-event-id", proxy.request_headers(0))
        self.assertEqual(proxy.request_headers(1)["last-event-id"], got[0].id)
        self.assertEqual(log.events, [])  # a stream that made progress reconnects at once


if __name__ == "__main__":
    unittest.main()
