"""Small utilities shared across dualweb, with ``tornado.util``'s names.

* :class:`ObjectDict`: a dict whose keys are also attributes;
* :func:`import_object`: import ``"package.module.name"`` from a string;
* :class:`GzipDecompressor`: streaming gzip decompression with a size limit;
* :class:`Configurable`: a base class whose constructor returns an instance
  of a configurable implementation subclass (used by ``AsyncHTTPClient`` and
  ``Resolver``);
* :func:`errno_from_exception`, :func:`re_unescape`,
  :func:`timedelta_to_seconds`, :func:`raise_exc_info`.
"""

from __future__ import annotations

import datetime
import importlib
import re
import zlib
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar, cast

if TYPE_CHECKING:
    import inspect

__all__ = [
    "ArgReplacer",
    "Configurable",
    "GzipDecompressor",
    "ObjectDict",
    "TimeoutError",
    "basestring_type",
    "bytes_type",
    "errno_from_exception",
    "exec_in",
    "import_object",
    "raise_exc_info",
    "re_unescape",
    "timedelta_to_seconds",
    "unicode_type",
]

_C = TypeVar("_C", bound="Configurable")

# Tornado 5+ made its TimeoutError the builtin one; code that catches either works.
TimeoutError = TimeoutError

bytes_type = bytes
unicode_type = str
basestring_type = str


class ObjectDict(dict[str, Any]):
    """A ``dict`` whose keys can also be read and written as attributes.

    ``d = ObjectDict(a=1); d.b = 2`` gives ``{"a": 1, "b": 2}``. Reading a
    missing attribute raises ``AttributeError`` (so ``getattr(d, "x", None)``
    and ``hasattr`` behave normally).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def import_object(name: str) -> Any:
    """Import and return the object named by a dotted path.

    ``import_object("os.path")`` returns the module, ``import_object("os.path.join")``
    the function, ``import_object("os")`` the top-level module.

    Raises:
        ImportError: if the module or the attribute does not exist.
    """
    if name.count(".") == 0:
        return importlib.import_module(name)
    module_name, _, attr = name.rpartition(".")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        # The last part may be a submodule that the package did not import.
        try:
            return importlib.import_module(name)
        except ImportError:
            raise ImportError(f"No module named {attr}") from None


def exec_in(code: Any, glob: dict[str, Any], loc: dict[str, Any] | None = None) -> None:
    """Execute ``code`` (a string or code object) in the given namespaces."""
    if isinstance(code, str):
        code = compile(code, "<string>", "exec", dont_inherit=True)
    exec(code, glob, loc)


def raise_exc_info(
    exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
) -> NoReturn:
    """Re-raise the exception from a ``sys.exc_info()`` triple with its traceback.

    Raises:
        TypeError: if the triple holds no exception.
    """
    _, value, traceback = exc_info
    if value is None:
        raise TypeError("raise_exc_info() was given an exc_info triple with no exception")
    try:
        raise value.with_traceback(traceback)
    finally:
        # Break the frame <-> traceback reference cycle.
        del value, traceback


def errno_from_exception(e: BaseException) -> int | None:
    """Return the errno of an ``OSError``-like exception, or ``None``.

    Uses the ``errno`` attribute when set, otherwise the first of ``e.args``.
    """
    errno = getattr(e, "errno", None)
    if errno is not None:
        return int(errno)
    if e.args:
        first = e.args[0]
        return first if isinstance(first, int) else None
    return None


_RE_ESCAPE_SEQUENCE = re.compile(r"\\(.)", re.DOTALL)
_ALPHANUMERIC = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _re_unescape_one(m: re.Match[str]) -> str:
    char = m.group(1)
    if char in _ALPHANUMERIC:
        raise ValueError(
            f"re_unescape() cannot unescape '\\{char}': it is a regex class or "
            "special sequence, not an escaped literal"
        )
    return char


def re_unescape(s: str) -> str:
    r"""Undo :func:`re.escape`: turn ``\.`` into ``.``, ``\/`` into ``/`` and so on.

    Raises:
        ValueError: for escapes that are not literal characters, such as
            ``\d`` or ``\w``.
    """
    return _RE_ESCAPE_SEQUENCE.sub(_re_unescape_one, s)


def timedelta_to_seconds(td: datetime.timedelta) -> float:
    """Return the total number of seconds in ``td`` as a float."""
    return td.total_seconds()


class ArgReplacer:
    """Find and replace one named argument of calls to ``func``, wherever it was passed.

    The argument may arrive by position or by keyword; :meth:`get_old_value`
    reads it and :meth:`replace` swaps it, for wrappers that need to intercept
    an argument such as a callback.

    Raises:
        ValueError: (from the constructor) if ``func``'s signature cannot be
            inspected.
    """

    __slots__ = ("arg_pos", "name")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        # inspect (with ast and dis) is for wrappers like this, not for every application.
        import inspect

        self.name = name
        parameters = list(inspect.signature(func).parameters.values())
        positional = [
            p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self.arg_pos: int | None = positional.index(name) if name in positional else None

    def get_old_value(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], default: Any = None
    ) -> Any:
        """Return the argument's value in this call, or ``default`` if it was not passed."""
        if self.arg_pos is not None and len(args) > self.arg_pos:
            return args[self.arg_pos]
        return kwargs.get(self.name, default)

    def replace(
        self, new_value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        """Return ``(old_value, args, kwargs)`` with the argument set to ``new_value``.

        ``old_value`` is ``None`` when the argument was not passed; it is then
        added as a keyword argument. ``kwargs`` is updated in place.
        """
        if self.arg_pos is not None and len(args) > self.arg_pos:
            old_value = args[self.arg_pos]
            new_args = list(args)
            new_args[self.arg_pos] = new_value
            return old_value, tuple(new_args), kwargs
        old_value = kwargs.get(self.name)
        kwargs[self.name] = new_value
        return old_value, args, kwargs


class GzipDecompressor:
    """Decompress a gzip stream incrementally, bounding the output of each call.

    Feed compressed chunks to :meth:`decompress`; when ``max_length`` is set,
    input that would produce more is kept in :attr:`unconsumed_tail` and must
    be passed back in. Call :meth:`flush` at the end of the stream.
    """

    __slots__ = ("_decompressor",)

    def __init__(self) -> None:
        # 16 + MAX_WBITS tells zlib to expect a gzip header and trailer.
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decompress(self, value: bytes, max_length: int = 0) -> bytes:
        """Decompress a chunk, returning at most ``max_length`` bytes (0 = no limit).

        Raises:
            zlib.error: if the data is not a valid gzip stream.
        """
        return self._decompressor.decompress(value, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        """Compressed input left over because of ``max_length``."""
        return self._decompressor.unconsumed_tail

    def flush(self) -> bytes:
        """Return any remaining decompressed data; call once the input is exhausted."""
        return self._decompressor.flush()


class Configurable:
    """A base class whose constructor builds an instance of a configured implementation.

    A *configurable base* (e.g. ``AsyncHTTPClient``) defines
    :meth:`configurable_base` (returning itself) and :meth:`configurable_default`
    (its default implementation class). Calling the base class, ``Base(...)``,
    then constructs the configured implementation: :meth:`configure` chooses
    the implementation and keyword arguments that are passed to every instance.

    Implementations override :meth:`initialize` instead of ``__init__``;
    ``__new__`` calls ``initialize(*args, **kwargs)`` with the configured keyword
    arguments merged under the caller's. ``help()`` and :func:`inspect.signature`
    show ``initialize``'s arguments as the class's (unless a class defines its
    own ``__new__``, as ``AsyncHTTPClient`` does).
    """

    __impl_class: type[Configurable] | None = None
    __impl_kwargs: dict[str, Any] | None = None
    __signature__: ClassVar[inspect.Signature]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__:
            if klass is Configurable:
                # The constructor takes *args, **kwargs and passes them to initialize().
                # inspect is loaded only by configurable classes (import time).
                import inspect

                signature = inspect.signature(cls.initialize)
                parameters = list(signature.parameters.values())[1:]
                cls.__signature__ = signature.replace(parameters=parameters)
                break
            if "__new__" in vars(klass):
                break  # that __new__'s own signature is the constructor's

    def __new__(cls: type[_C], *args: Any, **kwargs: Any) -> _C:
        base = cls.configurable_base()
        init_kwargs: dict[str, Any] = {}
        if cls is base:
            impl = cls.configured_class()
            configured_kwargs = base.__dict__.get("_Configurable__impl_kwargs")
            if configured_kwargs:
                init_kwargs.update(configured_kwargs)
        else:
            impl = cls
        init_kwargs.update(kwargs)
        if impl.configurable_base() is not base:
            # The implementation is itself a configurable base (a nested
            # hierarchy); let it pick its own implementation.
            return cast(_C, impl(*args, **init_kwargs))
        # impl is cls or, when cls is the base, a subclass configure() checked.
        instance = cast(_C, super().__new__(impl))
        # initialize() replaces __init__ so that the arguments given to the
        # base class reach the implementation whatever its constructor is.
        instance.initialize(*args, **init_kwargs)
        return instance

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """Return the base of this configurable hierarchy; subclasses must override."""
        raise NotImplementedError(
            f"{cls.__name__} derives from Configurable but does not define "
            "configurable_base(); add a classmethod returning the base class"
        )

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """Return the implementation used when :meth:`configure` was not called."""
        raise NotImplementedError(
            f"{cls.__name__} derives from Configurable but does not define "
            "configurable_default(); add a classmethod returning the default implementation"
        )

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Set up a new instance; receives the constructor's arguments.

        Implementations override this (with their own signature) instead of ``__init__``.
        """

    @classmethod
    def configure(cls, impl: type[Configurable] | str | None, **kwargs: Any) -> None:
        """Choose the implementation class (or its dotted name) and default keyword arguments.

        ``impl=None`` restores the default implementation.

        Raises:
            ValueError: if ``impl`` is not a subclass of this configurable base.
        """
        base = cls.configurable_base()
        if isinstance(impl, str):
            impl = import_object(impl)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, cls)):
            raise ValueError(
                f"{cls.__name__}.configure() needs a subclass of {cls.__name__}, got {impl!r}"
            )
        base.__impl_class = impl
        base.__impl_kwargs = kwargs

    @classmethod
    def configured_class(cls) -> type[Configurable]:
        """Return the implementation class that constructing the base will create."""
        base = cls.configurable_base()
        # Look in base.__dict__ so a subclass never inherits its parent
        # hierarchy's configuration.
        impl = base.__dict__.get("_Configurable__impl_class")
        if impl is None:
            impl = cls.configurable_default()
            base.__impl_class = impl
        return impl

    @classmethod
    def _save_configuration(cls) -> tuple[type[Configurable] | None, dict[str, Any] | None]:
        base = cls.configurable_base()
        return (
            base.__dict__.get("_Configurable__impl_class"),
            base.__dict__.get("_Configurable__impl_kwargs"),
        )

    @classmethod
    def _restore_configuration(
        cls, saved: tuple[type[Configurable] | None, dict[str, Any] | None]
    ) -> None:
        base = cls.configurable_base()
        base.__impl_class = saved[0]
        base.__impl_kwargs = saved[1]
