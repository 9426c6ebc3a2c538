"""A PEP 517 / PEP 660 build backend for the imagegen client, standard library only.

It builds a pure-Python wheel (py3-none-any) from ``src/imagegen``, an sdist, and an editable wheel, with
the metadata of ``pyproject.toml``'s ``[project]`` table. Needing no package from an index, it lets
``pip install ./clients/python`` work offline. It writes nothing into the source tree.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "imagegen"
# Wheels and sdists are reproducible: every entry carries this time (or SOURCE_DATE_EPOCH when set).
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01, the earliest a zip can hold


# --- pyproject.toml ---------------------------------------------------------------------------------------


def _parse_toml_subset(text: str) -> dict:
    """TOML as this pyproject uses it (tables, strings, integers, booleans, arrays, inline tables), for
    Pythons without tomllib (< 3.11)."""
    out: dict = {}
    table = out
    pos = 0

    def skip(ws_only: bool = False) -> None:
        nonlocal pos
        while pos < len(text):
            if text[pos] in " \t\r\n" and not (ws_only and text[pos] == "\n"):
                pos += 1
            elif text[pos] == "#":
                while pos < len(text) and text[pos] != "\n":
                    pos += 1
            else:
                return

    def value():
        nonlocal pos
        skip()
        c = text[pos]
        if c == '"':
            m = re.compile(r'"(?:[^"\\\n]|\\.)*"').match(text, pos)
            if not m:
                raise ValueError(f"bad string at {pos}")
            pos = m.end()
            import json

            return json.loads(m.group(0))
        if c == "[":
            pos += 1
            items = []
            while True:
                skip()
                if text[pos] == "]":
                    pos += 1
                    return items
                items.append(value())
                skip()
                if text[pos] == ",":
                    pos += 1
        if c == "{":
            pos += 1
            items = {}
            while True:
                skip()
                if text[pos] == "}":
                    pos += 1
                    return items
                k = key()
                skip()
                if text[pos] != "=":
                    raise ValueError(f"expected = at {pos}")
                pos += 1
                items[k] = value()
                skip()
                if text[pos] == ",":
                    pos += 1
        m = re.compile(r"true|false|[+-]?\d+").match(text, pos)
        if not m:
            raise ValueError(f"unsupported value at {pos}")
        pos = m.end()
        word = m.group(0)
        return word == "true" if word in ("true", "false") else int(word)

    def key() -> str:
        nonlocal pos
        if text[pos] == '"':
            return value()
        m = re.compile(r"[A-Za-z0-9_-]+").match(text, pos)
        if not m:
            raise ValueError(f"expected a key at {pos}")
        pos = m.end()
        return m.group(0)

    while True:
        skip()
        if pos >= len(text):
            return out
        if text[pos] == "[":
            end = text.index("]", pos)
            table = out
            for part in text[pos + 1 : end].strip().split("."):
                table = table.setdefault(part.strip(), {})
            pos = end + 1
            continue
        k = key()
        skip(ws_only=True)
        if text[pos] != "=":
            raise ValueError(f"expected = at {pos}")
        pos += 1
        table[k] = value()


def load_pyproject(path: str | None = None) -> dict:
    with open(path or os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read()
    try:
        import tomllib
    except ModuleNotFoundError:
        return _parse_toml_subset(raw.decode("utf-8"))
    return tomllib.loads(raw.decode("utf-8"))


def _project() -> dict:
    return load_pyproject()["project"]


def _dist_name(project: dict) -> str:
    return re.sub(r"[-_.]+", "_", project["name"]).lower()


def _dist_info(project: dict) -> str:
    return f"{_dist_name(project)}-{project['version']}.dist-info"


def metadata_text(project: dict) -> str:
    """Core metadata 2.1 (PKG-INFO / METADATA) from the [project] table."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
    ]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    if project.get("keywords"):
        lines.append(f"Keywords: {','.join(project['keywords'])}")
    for a in project.get("authors", []):
        if "email" in a:
            named = f"{a['name']} <{a['email']}>" if a.get("name") else a["email"]
            lines.append(f"Author-email: {named}")
        elif "name" in a:
            lines.append(f"Author: {a['name']}")
    lic = project.get("license")
    if isinstance(lic, dict) and "text" in lic:
        lines.append(f"License: {lic['text']}")
    for c in project.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    for label, url in project.get("urls", {}).items():
        lines.append(f"Project-URL: {label}, {url}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    for dep in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    readme = project.get("readme")
    body = ""
    if isinstance(readme, str):
        with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
            body = f.read()
        lines.append("Description-Content-Type: text/markdown; charset=UTF-8")
    return "\n".join(lines) + "\n\n" + body


def _package_files() -> list[tuple[str, str]]:
    """(path in the archive, path on disk) for every file of the package, sorted."""
    src = os.path.join(ROOT, "src")
    files = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(src, PACKAGE)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".typed")):
                disk = os.path.join(dirpath, name)
                files.append((os.path.relpath(disk, src).replace(os.sep, "/"), disk))
    return files


# --- archives ---------------------------------------------------------------------------------------------


class _Wheel:
    def __init__(self, path: str, dist_info: str):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.dist_info = dist_info
        self.records: list[str] = []

    def add(self, arcname: str, data: bytes) -> None:
        info = zipfile.ZipInfo(arcname, date_time=_zip_time())
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self.records.append(f"{arcname},sha256={digest},{len(data)}")

    def close(self, metadata: str, tag: str = "py3-none-any") -> None:
        self.add(f"{self.dist_info}/METADATA", metadata.encode("utf-8"))
        wheel = f"Wheel-Version: 1.0\nGenerator: imagegen_build\nRoot-Is-Purelib: true\nTag: {tag}\n"
        self.add(f"{self.dist_info}/WHEEL", wheel.encode())
        record = f"{self.dist_info}/RECORD"
        body = "\n".join(self.records + [f"{record},,"]) + "\n"
        info = zipfile.ZipInfo(record, date_time=_zip_time())
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, body.encode())
        self.zip.close()


def _zip_time() -> tuple:
    import time

    return time.gmtime(max(EPOCH, 315532800))[:6]


def _wheel_name(project: dict) -> str:
    return f"{_dist_name(project)}-{project['version']}-py3-none-any.whl"


# --- the PEP 517 / 660 hooks ------------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project = _project()
    dist_info = os.path.join(metadata_directory, _dist_info(project))
    os.makedirs(dist_info, exist_ok=True)
    with open(os.path.join(dist_info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(metadata_text(project))
    return _dist_info(project)


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    name = _wheel_name(project)
    wheel = _Wheel(os.path.join(wheel_directory, name), _dist_info(project))
    for arcname, disk in _package_files():
        with open(disk, "rb") as f:
            wheel.add(arcname, f.read())
    wheel.close(metadata_text(project))
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a wheel holding a .pth file that puts src/ on sys.path."""
    project = _project()
    name = _wheel_name(project)
    wheel = _Wheel(os.path.join(wheel_directory, name), _dist_info(project))
    wheel.add(f"_{_dist_name(project)}_editable.pth", (os.path.join(ROOT, "src") + "\n").encode())
    wheel.close(metadata_text(project))
    return name


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    name = f"{base}.tar.gz"
    entries = [("PKG-INFO", metadata_text(project).encode("utf-8"))]
    for rel in ("pyproject.toml", "README.md", "_build/imagegen_build.py"):
        with open(os.path.join(ROOT, rel), "rb") as f:
            entries.append((rel, f.read()))
    for arcname, disk in _package_files():
        with open(disk, "rb") as f:
            entries.append(("src/" + arcname, f.read()))
    tests = os.path.join(ROOT, "tests")
    for fname in sorted(os.listdir(tests)):
        if fname.endswith(".py"):
            with open(os.path.join(tests, fname), "rb") as f:
                entries.append(("tests/" + fname, f.read()))
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel, data in entries:
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size = len(data)
            info.mtime = EPOCH
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return name
