"""verify_webhook: the published Standard Webhooks test vector, and a real delivery of the service."""

from __future__ import annotations

import http.client
import http.server
import threading
import unittest

from _support import env, main_client

import imagegen
from imagegen import WebhookVerificationError, sign_webhook, verify_webhook

# The published Standard Webhooks test vector (as in packages/webhooks/src/signature.test.ts).
VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": '{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
HEADERS = {
    "webhook-id": VECTOR["id"],
    "webhook-timestamp": str(VECTOR["timestamp"]),
    "webhook-signature": VECTOR["signature"],
}


class StandardWebhooksVector(unittest.TestCase):
    def test_signs_the_published_vector(self):
        self.assertEqual(
            sign_webhook(VECTOR["secret"], VECTOR["id"], VECTOR["timestamp"], VECTOR["body"]),
            VECTOR["signature"],
        )

    def test_verifies_the_vector_at_its_time_and_returns_the_body(self):
        at = VECTOR["timestamp"]
        headers = {**HEADERS, "webhook-signature": f"v1,bm9wZQ== {VECTOR['signature']}"}
        self.assertEqual(verify_webhook(headers, VECTOR["body"], VECTOR["secret"], now=at), {"test": 2432232314})
        # Raw bytes, header names in any case, and http.client's message type (what http.server hands out).
        shouted = {k.upper(): v for k, v in headers.items()}
        self.assertEqual(verify_webhook(shouted, VECTOR["body"].encode(), VECTOR["secret"], now=at).test, 2432232314)
        message = http.client.HTTPMessage()
        for k, v in HEADERS.items():
            message[k.title()] = v
        self.assertEqual(verify_webhook(message, VECTOR["body"].encode(), VECTOR["secret"], now=at), {"test": 2432232314})

    def test_refuses_a_changed_body_another_secret_a_stale_timestamp_and_missing_headers(self):
        at = VECTOR["timestamp"]
        other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
        cases = {
            "changed body": (HEADERS, '{"test": 2432232315}', VECTOR["secret"], at, "no webhook-signature"),
            "other secret": (HEADERS, VECTOR["body"], other, at, "no webhook-signature"),
            "stale": (HEADERS, VECTOR["body"], VECTOR["secret"], at + 301, "more than 300 s"),
            "early": (HEADERS, VECTOR["body"], VECTOR["secret"], at - 301, "more than 300 s"),
            "other id": ({**HEADERS, "webhook-id": "msg_other"}, VECTOR["body"], VECTOR["secret"], at, "no webhook"),
            "missing": ({"webhook-id": VECTOR["id"]}, VECTOR["body"], VECTOR["secret"], at, "missing"),
            "v2 only": ({**HEADERS, "webhook-signature": "v2," + VECTOR["signature"][3:]}, VECTOR["body"], VECTOR["secret"], at, "no webhook"),
            "not a time": ({**HEADERS, "webhook-timestamp": "1e9"}, VECTOR["body"], VECTOR["secret"], at, "Unix time"),
            "bad secret": (HEADERS, VECTOR["body"], "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", at, "whsec_"),
        }
        for name, (headers, body, secret, now, message) in cases.items():
            with self.subTest(name), self.assertRaisesRegex(WebhookVerificationError, message):
                verify_webhook(headers, body, secret, now=now)
        self.assertTrue(issubclass(WebhookVerificationError, imagegen.ImageGenError))


class _Receiver:
    """An HTTP receiver on 127.0.0.1 keeping each delivery's headers and raw body, answering 204."""

    def __init__(self) -> None:
        self.deliveries = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(204)
                self.end_headers()
                with receiver.arrived:
                    receiver.deliveries.append((self.headers, body))
                    receiver.arrived.notify_all()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RealDelivery(unittest.TestCase):
    def test_verifies_the_services_signed_delivery_of_a_finished_job(self):
        receiver = _Receiver()
        self.addCleanup(receiver.close)
        secret = env("IMAGEGEN_TEST_WEBHOOK_SECRET")
        response = main_client().generate_image(
            prompt="a small red circle", aspect_ratio="1:1", webhook_url=receiver.url, metadata={"case": "webhook"}
        )
        with receiver.arrived:
            # A bound, not a pause: returns as soon as the delivery is in.
            self.assertTrue(receiver.arrived.wait_for(lambda: receiver.deliveries, timeout=60), "no delivery")
        headers, body = receiver.deliveries[0]
        event = verify_webhook(headers, body, secret)
        self.assertEqual(event.type, "image.generation.succeeded")
        self.assertEqual(event.data.id, response.id)
        self.assertEqual(event.data.seed, response.seed)
        self.assertEqual(event.data.metadata, {"case": "webhook"})
        self.assertRegex(headers["webhook-id"], r"^msg_gen_[A-Za-z0-9]{24}_\d+_\d+$")
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(headers, body.replace(b"succeeded", b"failed"), secret)
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(headers, body, "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=")
        with self.assertRaisesRegex(WebhookVerificationError, "more than 300 s"):
            verify_webhook(headers, body, secret, now=int(headers["webhook-timestamp"]) + 301)


if __name__ == "__main__":
    unittest.main()
