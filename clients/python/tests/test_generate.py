"""generate_image: the vendor's example as written, every parameter, the response and download."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from _support import env, main_client

import imagegen
from imagegen import ImageGen

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_python_example() -> str:
    """The first ``python`` code block of the README's "### Python" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n### Python\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "the README's Python section has no python code block"
    return m.group(1)


class VendorExample(unittest.TestCase):
    def test_the_vendors_example_runs_with_the_key_and_url_from_the_environment(self):
        client = ImageGen()  # IMAGEGEN_API_KEY and IMAGEGEN_BASE_URL
        self.assertEqual(client.base_url, env("IMAGEGEN_TEST_BASE_URL"))
        response = client.generate_image(prompt="A red circle", aspect_ratio="1:1")
        self.assertIs(response.success, True)
        self.assertRegex(response.image_url, r"^http://127\.0\.0\.1:\d+/.+\.jpg\?X-Amz-")
        self.assertIsInstance(response.seed, int)
        self.assertRegex(response.request_id, r"^gen_[A-Za-z0-9]{24}$")
        self.assertIsNone(response.revised_prompt)
        job = response.job
        self.assertEqual((job.id, job.status, job.input.aspect_ratio), (response.request_id, "succeeded", "1:1"))
        self.assertEqual((job.output.width, job.output.height, job.output.format), (1024, 1024, "jpeg"))
        self.assertEqual(job["image_url"], response.image_url)
        self.assertNotIn("timings_ms", repr(response))  # the repr is the vendor fields, not the whole job

    def test_the_readme_example_runs_as_printed(self):
        code = readme_python_example()
        self.assertIn("generate_image", code)
        out = io.StringIO()
        with mock.patch.dict(os.environ, {"IMAGEGEN_API_KEY": env("IMAGEGEN_TEST_API_KEY")}):
            with contextlib.redirect_stdout(out):
                exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
        self.assertRegex(out.getvalue(), r"http://127\.0\.0\.1:\d+/\S+\.jpg\?\S+ \d+\n")


class Parameters(unittest.TestCase):
    def test_every_parameter_reaches_the_job_and_the_png_downloads(self):
        client = main_client()
        response = client.generate_image(
            prompt="two small blue stars",
            aspect_ratio="4:3",
            output_format="png",
            seed=1234,
            prompt_upsampling=True,
            safety_tolerance=3,
            metadata={"order": 7, "tags": ["a", "b"]},
        )
        job = response.job
        self.assertEqual(response.seed, 1234)
        self.assertIsInstance(response.revised_prompt, str)
        self.assertIn("blue stars", response.revised_prompt)
        self.assertNotEqual(response.revised_prompt, "two small blue stars")
        self.assertEqual(
            dict(job.input),
            {
                "prompt": "two small blue stars",
                "aspect_ratio": "4:3",
                "output_format": "png",
                "seed": 1234,
                "prompt_upsampling": True,
                "safety_tolerance": 3,
            },
        )
        self.assertEqual(job.metadata, {"order": 7, "tags": ["a", "b"]})
        self.assertEqual((job.output.width, job.output.height, job.output.format), (1024, 768, "png"))

        with tempfile.TemporaryDirectory() as d:
            into_dir = client.download(response, d)  # a directory: named after the job
            self.assertEqual(into_dir, Path(d) / f"{job.id}.png")
            data = into_dir.read_bytes()
            self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
            self.assertEqual(len(data), job.output.bytes)
            as_file = response.download(Path(d) / "copy.png")
            self.assertEqual(as_file.read_bytes(), data)
            from_url = client.download(response.image_url, Path(d) / "from-url.png")
            self.assertEqual(from_url.read_bytes(), data)
            self.assertEqual(sorted(os.listdir(d)), sorted([f"{job.id}.png", "copy.png", "from-url.png"]))

    def test_an_identical_seeded_request_is_answered_from_the_earlier_result_unless_cache_is_false(self):
        client = main_client()
        first = client.generate_image(prompt="a purple square", aspect_ratio="1:1", seed=8080)
        self.assertIs(first.job["cached"], False)
        again = client.generate_image(prompt="a purple square", aspect_ratio="1:1", seed=8080)
        self.assertIs(again.job["cached"], True)
        self.assertEqual(again.job["attempt"], 0)
        self.assertNotEqual(again.image_url, first.image_url)
        fresh = client.generate_image(prompt="a purple square", aspect_ratio="1:1", seed=8080, cache=False)
        self.assertIs(fresh.job["cached"], False)
        self.assertEqual(fresh.job["attempt"], 1)

    def test_a_jpeg_downloads_and_an_expired_image_says_so(self):
        client = main_client()
        response = client.generate_image(prompt="a yellow triangle", aspect_ratio="1:1", seed=3)
        with tempfile.TemporaryDirectory() as d:
            path = client.download(response.job, d)
            self.assertEqual(path.suffix, ".jpg")
            self.assertEqual(path.read_bytes()[:3], b"\xff\xd8\xff")
            expired = {**response.job, "output": {**response.job.output, "url": None, "expired": True}, "image_url": None}
            with self.assertRaisesRegex(imagegen.DownloadError, "expired"):
                client.download(expired, d)
            # A presigned URL that was altered is refused by storage: a DownloadError with its status.
            with self.assertRaises(imagegen.DownloadError) as caught:
                client.download(response.image_url.replace("X-Amz-Signature=", "X-Amz-Signature=00"), Path(d) / "x")
            self.assertEqual(caught.exception.status, 403)
            self.assertEqual(sorted(os.listdir(d)), [path.name])  # nothing half-written left behind


if __name__ == "__main__":
    unittest.main()
