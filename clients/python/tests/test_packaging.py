"""The package as installed: which copy the tests import, its public names, and its build backend."""

from __future__ import annotations

import importlib.util
import os
import tarfile
import tempfile
import unittest
import zipfile
from pathlib import Path

import imagegen

PROJECT = Path(__file__).resolve().parents[1]


def load_backend():
    spec = importlib.util.spec_from_file_location("imagegen_build", PROJECT / "_build" / "imagegen_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Installed(unittest.TestCase):
    def test_the_tests_import_the_installed_copy(self):
        installed_at = os.environ.get("IMAGEGEN_TEST_INSTALLED_AT")
        if installed_at is None:
            self.assertTrue(Path(imagegen.__file__).is_file())  # run by hand: whichever copy is on the path
        else:
            here = Path(imagegen.__file__).resolve()
            self.assertTrue(here.is_relative_to(Path(installed_at).resolve()), here)

    def test_the_public_names(self):
        self.assertEqual(imagegen.__version__, "0.1.0")
        for name in imagegen.__all__:
            self.assertTrue(hasattr(imagegen, name), name)
        self.assertEqual(imagegen.DEFAULT_BASE_URL, "http://localhost:8080")


class BuildBackend(unittest.TestCase):
    def test_the_wheel_holds_the_package_and_its_metadata(self):
        backend = load_backend()
        self.assertEqual(backend.get_requires_for_build_wheel(), [])
        with tempfile.TemporaryDirectory() as d:
            name = backend.build_wheel(d)
            self.assertEqual(name, "imagegen-0.1.0-py3-none-any.whl")
            with zipfile.ZipFile(Path(d) / name) as wheel:
                names = wheel.namelist()
                metadata = wheel.read("imagegen-0.1.0.dist-info/METADATA").decode()
                record = wheel.read("imagegen-0.1.0.dist-info/RECORD").decode()
            self.assertIn("imagegen/__init__.py", names)
            self.assertIn("imagegen/py.typed", names)
            self.assertFalse([n for n in names if "__pycache__" in n or "tests/" in n])
            self.assertIn("Name: imagegen\nVersion: 0.1.0\n", metadata)
            self.assertIn("Requires-Python: >=3.9\n", metadata)
            self.assertNotIn("Requires-Dist", metadata)  # the standard library only
            self.assertEqual(len(record.strip().splitlines()), len(names))
            # Reproducible: the same sources give the same bytes.
            again = Path(d) / "again"
            again.mkdir()
            backend.build_wheel(str(again))
            self.assertEqual((Path(d) / name).read_bytes(), (again / name).read_bytes())

    def test_the_sdist_holds_what_rebuilds_the_wheel(self):
        backend = load_backend()
        with tempfile.TemporaryDirectory() as d:
            name = backend.build_sdist(d)
            with tarfile.open(Path(d) / name) as sdist:
                names = sdist.getnames()
        for required in ("pyproject.toml", "PKG-INFO", "README.md", "_build/imagegen_build.py", "src/imagegen/_client.py"):
            self.assertIn(f"imagegen-0.1.0/{required}", names)

    def test_the_fallback_toml_reader_agrees_with_tomllib(self):
        backend = load_backend()
        text = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
        parsed = backend._parse_toml_subset(text)  # what Python 3.9 and 3.10 build with
        self.assertEqual(parsed["project"]["name"], "imagegen")
        self.assertEqual(parsed["build-system"], {"requires": [], "build-backend": "imagegen_build", "backend-path": ["_build"]})
        try:
            import tomllib
        except ModuleNotFoundError:
            return
        self.assertEqual(parsed, tomllib.loads(text))


if __name__ == "__main__":
    unittest.main()
