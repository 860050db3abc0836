"""One shallow exception hierarchy for hypelua.

Every error carries ``code`` (a stable SCREAMING_SNAKE identifier), ``message``
(human readable), ``details`` (plain data: dict) and ``suggestion`` (what to do
about it).  The same four fields cross to JavaScript as ``HypeError``
(the PRD's error shape: ``{code, message, details, suggestion}``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


class HypeError(Exception):
    """Base class of every error hypelua raises on purpose.

    Args:
        message: what went wrong, in one sentence.
        code: stable identifier; defaults to the class's ``default_code``.
        details: plain-data context (JSON-serialisable dict).
        suggestion: a hint telling the user how to fix it.
    """

    default_code = "HYPE_ERROR"
    default_suggestion = ""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})
        self.suggestion = suggestion if suggestion is not None else self.default_suggestion

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"code", "message", "details", "suggestion"}`` (plain data)."""
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "suggestion": self.suggestion,
        }

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class LuaError(HypeError):
    """An error raised by Lua code: ``message`` is the Lua error message and
    ``traceback`` the Lua traceback (``debug.traceback`` at the error point)."""

    default_code = "LUA_RUNTIME_ERROR"
    default_suggestion = "Check the Lua code at the position given in the message."

    def __init__(self, message: str, *, traceback: str = "", code: str | None = None,
                 details: dict[str, Any] | None = None, suggestion: str | None = None,
                 value: Any = None) -> None:
        details = dict(details or {})
        details.setdefault("traceback", traceback)
        super().__init__(message, code=code, details=details, suggestion=suggestion)
        self.traceback = traceback
        #: the raw Lua error value converted to plain data (a string usually)
        self.value = value if value is not None else message


class LuaSyntaxError(LuaError):
    """Lua source failed to compile (``load`` returned an error)."""

    default_code = "LUA_SYNTAX_ERROR"
    default_suggestion = "Fix the syntax error at the line given in the message."


class LuaMemoryError(LuaError):
    """The Lua VM ran out of memory (or hit its configured ``max_memory``)."""

    default_code = "LUA_MEMORY_ERROR"
    default_suggestion = "Reduce the data the script builds, or raise the memory limit."


class ConversionError(HypeError):
    """A value cannot cross the Python/Lua bridge as plain data (userdata,
    threads, cyclic tables, unsupported Python types)."""

    default_code = "CONVERSION_ERROR"
    default_suggestion = "Pass only nil, booleans, numbers, strings, bytes, lists and maps."


class StorageError(HypeError):
    """Base of storage errors (external tables, databases)."""

    default_code = "STORAGE_ERROR"


class NotStorableError(StorageError):
    """A value cannot be stored in an external table (userdata, coroutine,
    cyclic table, a C function with no known name, ...)."""

    default_code = "NOT_STORABLE"
    default_suggestion = (
        "Store plain data (nil, booleans, numbers, strings, tables without cycles) or Lua functions."
    )


class BytecodeRejectedError(StorageError):
    """Persisted bytecode failed authentication (tampered or from another
    database) and there is no source text to fall back on."""

    default_code = "BYTECODE_REJECTED"
    default_suggestion = (
        "The stored function was modified outside hypelua or copied from another database; "
        "persist it again from source."
    )


class DatabaseError(StorageError):
    """The backing store is closed, corrupt or unreachable."""

    default_code = "DATABASE_ERROR"
    default_suggestion = "Check the database path and permissions; reopen the database."


class BackendUnavailableError(HypeError):
    """A Lua or storage back-end cannot be loaded on this platform."""

    default_code = "BACKEND_UNAVAILABLE"


class LuaModuleNotFoundError(HypeError):
    """``require(name)`` found no module; ``details["tried"]`` lists every path tried
    and ``details["name"]`` / ``details["from"]`` the request and the requiring file."""

    default_code = "MODULE_NOT_FOUND"
    default_suggestion = (
        "Check the module name, install the package (hype install NAME), "
        "or use './name' for a file next to the requiring one."
    )


class PackageError(HypeError):
    """Base of package-manager errors (manifest, resolution, lock file, tarballs, registry)."""

    default_code = "PACKAGE_ERROR"


class ManifestError(PackageError):
    """``hype.json`` is missing, not JSON, or has an invalid field (``details["field"]``)."""

    default_code = "MANIFEST_INVALID"
    default_suggestion = "Fix hype.json (run 'hype init' to create one)."


class ResolutionError(PackageError):
    """A dependency cannot be resolved: unknown package (``PACKAGE_NOT_FOUND``), no
    version matching the range (``NO_MATCHING_VERSION``) or an invalid range (``INVALID_RANGE``)."""

    default_code = "NO_MATCHING_VERSION"
    default_suggestion = "Check the package name and version range, and that it is published in the registry."


class LockfileError(PackageError):
    """``hype-lock.json`` is invalid, or out of date with ``hype.json`` under ``--frozen-lockfile``."""

    default_code = "LOCKFILE_OUT_OF_DATE"
    default_suggestion = "Run 'hype install' without --frozen-lockfile and commit the updated hype-lock.json."


class IntegrityError(PackageError):
    """A downloaded tarball does not match its SRI integrity (sha512) from the registry or lock file."""

    default_code = "INTEGRITY_MISMATCH"
    default_suggestion = (
        "The tarball was modified after publishing or the cache is corrupt; "
        "clear the cache (HYPE_HOME/cache) and check the registry."
    )


class UnsafeTarballError(PackageError):
    """A package tarball is hostile or malformed: absolute paths, ``..``, links, device
    files, too large or too many files (``details["member"]``, ``details["reason"]``)."""

    default_code = "UNSAFE_TARBALL"
    default_suggestion = "Do not install this package; report it to the registry owner."


class RegistryError(PackageError):
    """The registry refused a request or is unreachable (``details["status"]`` when HTTP)."""

    default_code = "REGISTRY_ERROR"
    default_suggestion = "Check the registry URL (--registry or HYPE_REGISTRY) and the token (--token or HYPE_TOKEN)."


class LoopError(HypeError):
    """Base of event-loop errors (timers, promises, host futures)."""

    default_code = "LOOP_ERROR"


class UncaughtLuaError(LoopError):
    """A Lua error escaped a timer or microtask callback (Node's "uncaught
    exception"); ``details["errors"]`` lists every message of the batch."""

    default_code = "UNCAUGHT_ERROR"
    default_suggestion = "Catch the error inside the callback (pcall), or handle the promise's rejection."


class UnhandledRejectionError(LoopError):
    """A Lua promise was rejected and no handler was attached by the end of the
    microtask drain (Node's default ``--unhandled-rejections=throw``);
    ``details["reasons"]`` lists the rejection reasons."""

    default_code = "UNHANDLED_REJECTION"
    default_suggestion = (
        "Attach :catch(fn) to the promise, await it inside pcall, or set "
        "require('hype.loop').onUnhandledRejection(fn)."
    )


class UnsettledAwaitError(LoopError):
    """The loop ran out of work while the main chunk was still awaiting a
    promise that can never settle (Node exits with code 13 here)."""

    default_code = "UNSETTLED_TOP_LEVEL_AWAIT"
    default_suggestion = "Make sure every awaited promise is eventually resolved or rejected."


class UniqueViolation(StorageError):
    """A write (or a new unique index) would give two rows the same values in a
    unique index.  ``details``: ``{"index", "fields", "key", "conflicting_key"}``;
    nothing was changed."""

    default_code = "UNIQUE_VIOLATION"
    default_suggestion = "Use a different value for the indexed fields, or delete the conflicting row first."


class RegistryDocumentError(RegistryError):
    """A package document from a registry (HTTP or ``file:``) is malformed or hostile:
    an invalid package or dependency name, version, range or tarball URL, or a
    document over the size/nesting limits (``details["field"]``, ``details["value"]``)."""

    default_code = "REGISTRY_DOCUMENT_INVALID"
    default_suggestion = "Do not install from this registry; report the package to the registry owner."


class UnsafeInstallPathError(PackageError):
    """An install path (from a registry document or ``hype-lock.json``) would resolve
    outside ``<project>/hype_modules/`` (``details["path"]``); nothing was written."""

    default_code = "UNSAFE_INSTALL_PATH"
    default_suggestion = "Do not install this package; check hype-lock.json and the registry for hostile names."


class LimitExceededError(PackageError):
    """A request, document or tree is over a size limit of the package manager
    (``details["limit"]``, ``details["size"]``)."""

    default_code = "LIMIT_EXCEEDED"
    default_suggestion = "Make the package smaller (fewer or smaller files, fewer dependencies)."


class ServerError(HypeError):
    """``hype serve`` cannot start: a missing app, a bad option, a port in use
    (``details`` holds the offending value)."""

    default_code = "SERVER_ERROR"
    default_suggestion = "Run `hype serve --help` for the options."


class HttpError(HypeError):
    """An HTTP-level failure of server mode (``hypelua.http``): ``HTTP_NOT_AN_APP``,
    ``HTTP_OUTSIDE_ROOT``, ``HTTP_NO_EXPORT``, ``HTTP_LISTEN``, ``SANDBOXED``, ``BAD_JSON``, ..."""

    default_code = "HTTP_ERROR"


class RouteError(HttpError):
    """A route pattern that cannot be compiled (``HTTP_BAD_ROUTE``)."""

    default_code = "HTTP_BAD_ROUTE"
    default_suggestion = "Write paths like /users/:id, /files/:name?, /static/* or /items/{id:int}."


class LiveError(HypeError):
    """A LiveView failure (issue 10): a bad wire frame, a refused session, an event no view
    handles, a view that crashed.  ``code`` is one of the protocol's error codes
    (``docs/live-protocol.md``: ``BAD_FRAME``, ``BAD_VERSION``, ``FRAME_TOO_LARGE``,
    ``RATE_LIMITED``, ``NOT_JOINED``, ``BAD_SESSION``, ``NO_VIEW``, ``UNKNOWN_EVENT``,
    ``VIEW_CRASHED``, ``BAD_PAYLOAD``)."""

    default_code = "LIVE_ERROR"


class TemplateError(LiveError):
    """A LiveView template that does not compile (``TEMPLATE_SYNTAX``), with the line in ``details``."""

    default_code = "TEMPLATE_SYNTAX"
    default_suggestion = "Check the {{ }} and {% %} tags near the line given."


class ActorError(HypeError):
    """An actor failure seen from Python (issue 11): ``code`` is the Lua side's
    (``ACTOR_NO_PROCESS``, ``ACTOR_BAD_MESSAGE``, ``ACTOR_PROTOCOL``, ``ACTOR_CALL_TIMEOUT``,
    ``ACTOR_CALL_FAILED``, ``ACTOR_BAD_SPAWN``...) or ``ACTOR_EXIT`` (a Python process
    ended by an exit signal; ``details["reason"]``)."""

    default_code = "ACTOR_ERROR"
