"""Optuna storages: SQLite (WAL, busy timeout), journal files, any RDB URL; clear errors."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xsell_eval.errors import ConfigError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

DEFAULT_STORAGE = "sqlite:///reports/optuna.db"
"""Where studies go when no ``--storage`` is given (relative to the working directory, beside the run folders)."""

LEGACY_STORAGE = "sqlite:///runs/optuna.db"
"""The default before run folders moved to ``reports/``; still used when only it exists (:func:`default_storage`)."""


def default_storage() -> str:
    """:data:`DEFAULT_STORAGE`, or :data:`LEGACY_STORAGE` when only ``runs/optuna.db`` exists (old studies resume)."""
    legacy = Path(LEGACY_STORAGE.split("///", 1)[1])
    current = Path(DEFAULT_STORAGE.split("///", 1)[1])
    return LEGACY_STORAGE if legacy.is_file() and not current.is_file() else DEFAULT_STORAGE


JOURNAL_PREFIX = "journal:"
SQLITE_TIMEOUT_S = 60
"""SQLite busy timeout: a writer waits this long for the lock instead of failing at once."""


# =============================================================================== storage
def redact(url: str) -> str:
    """The storage URL with its password replaced by ``***`` (for messages and reports)."""
    if url.startswith(JOURNAL_PREFIX) or "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        head, _, rest = url.partition("://")
        if "@" in rest:
            cred, _, host = rest.rpartition("@")
            return f"{head}://{cred.split(':')[0]}:***@{host}"
        return url


def _storage_hint(url: str, exc: BaseException) -> str:
    low = url.lower()
    msg = str(exc)
    if isinstance(exc, ImportError) or "No module named" in msg:
        if low.startswith("postgres"):
            return " — install a PostgreSQL driver: pip install 'xsell-eval[postgres]' (psycopg2-binary)"
        if low.startswith("mysql"):
            return " — install a MySQL driver: pip install pymysql (URL mysql+pymysql://...)"
        return " — the database driver for this URL is not installed"
    if "Can't load plugin" in msg or "NoSuchModule" in type(exc).__name__:
        return (
            " — unknown database kind; use sqlite:///PATH, postgresql://user:pw@host/db, "
            "mysql+pymysql://..., or journal:PATH"
        )
    return ""


def _sqlite_wal(path: Path) -> None:
    """Switch an SQLite file to write-ahead logging (persistent; readers no longer block the writer).

    Several worker processes on one SQLite file then wait for each other (busy timeout)
    instead of failing with "database is locked". Best effort: errors are left to the
    storage to report.
    """
    import sqlite3

    try:
        con = sqlite3.connect(str(path), timeout=SQLITE_TIMEOUT_S)
        try:
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
    except sqlite3.Error:
        pass


def _sqlite_creator(path: Path) -> Callable[[], Any]:
    """Connections with a busy timeout and ``synchronous=NORMAL``.

    In WAL mode NORMAL syncs at checkpoints instead of at every commit: an Optuna trial
    makes a dozen small commits, which cost ~20 ms each with full syncs on a busy disk.
    A killed process loses nothing committed; a power cut may lose the last trials.
    """
    import sqlite3

    def connect() -> sqlite3.Connection:
        con = sqlite3.connect(str(path), timeout=SQLITE_TIMEOUT_S, check_same_thread=False)
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    return connect


def _check_journal(path: Path, shown: str) -> None:
    """Refuse a file that is not an Optuna journal before Optuna appends to it.

    Every complete line of a journal is a JSON object with an ``op_code``; a last line may be
    cut short by a killed writer (Optuna skips it), so only complete lines are checked.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.endswith(b"\n") and number > 1:
                break  # an unfinished last line after real records
            try:
                op = json.loads(line)
            except ValueError:
                op = None
            if not isinstance(op, dict) or "op_code" not in op:
                raise ConfigError(
                    f"cannot open Optuna storage {shown!r}: line {number} of '{path}' is not an Optuna journal "
                    "record; give a new file name (the file was not changed)"
                )


def open_storage(url: str | None = None, *, heartbeat: bool = True) -> BaseStorage:
    """Open (and create if needed) an Optuna storage.

    Args:
        url: an SQLAlchemy URL (``sqlite:///reports/optuna.db``, ``postgresql://user:pw@host/db``,
            ``mysql+pymysql://...``), ``journal:PATH`` for Optuna's journal file storage
            (append-only log, safe for several processes on one machine or NFS), or None
            for :func:`default_storage` (its folder is created).
        heartbeat: RDB storages record a heartbeat for running trials, so a trial of a
            killed process is marked failed when a later run opens the study.

    Raises:
        ConfigError: the URL cannot be opened; the message names it (password hidden)
            and the reason.
    """
    import optuna

    given = url
    url = url or default_storage()
    shown = redact(url)
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :].removeprefix("//"))
        if not str(path) or str(path) == ".":
            raise ConfigError(f"storage {shown!r}: give a file after 'journal:', e.g. journal:reports/optuna.log")
        if not path.parent.is_dir():
            raise ConfigError(f"cannot open Optuna storage {shown!r}: folder '{path.parent}' does not exist")
        _check_journal(path, shown)
        try:
            from optuna.storages.journal import JournalFileBackend

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except Exception as exc:
            raise ConfigError(f"cannot open Optuna storage {shown!r}: {type(exc).__name__}: {exc}") from None
    if "://" not in url:
        raise ConfigError(
            f"storage {shown!r} is not a URL; use sqlite:///reports/optuna.db, postgresql://user:pw@host/db "
            "or journal:reports/optuna.log"
        )
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
        db = url.split("///", 1)[1] if "///" in url else ""
        if db and db != ":memory:":
            parent = Path(db).parent
            if given is None or url in (DEFAULT_STORAGE, LEGACY_STORAGE):  # the defaults, spelled out, work anywhere
                parent.mkdir(parents=True, exist_ok=True)
            elif not parent.is_dir():
                raise ConfigError(f"cannot open Optuna storage {shown!r}: folder '{parent}' does not exist")
            _sqlite_wal(Path(db))
            engine_kwargs = {"creator": _sqlite_creator(Path(db))}
    kwargs: dict[str, Any] = {"engine_kwargs": engine_kwargs}
    if heartbeat:
        kwargs.update(heartbeat_interval=30, grace_period=120)
    try:
        for attempt in range(6):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(url, **kwargs)
            except Exception as exc:
                # several workers creating the schema of a new database at the same moment:
                # the loser sees "table ... already exists" (or a lock); the next attempt finds it ready
                text = str(exc)
                if attempt == 5 or not ("already exists" in text or "locked" in text or "UNIQUE constraint" in text):
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"cannot open Optuna storage {shown!r}: {type(exc).__name__}: {detail}{_storage_hint(url, exc)}"
        ) from None
