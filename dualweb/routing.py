"""Flexible request routing: Tornado's ``tornado.routing`` API.

A :class:`Router` turns an :class:`~dualweb.httputil.HTTPServerRequest` into the
:class:`~dualweb.httputil.HTTPMessageDelegate` that will handle it. The usual
router is a :class:`RuleRouter` (or :class:`ReversibleRuleRouter`), an ordered
list of :class:`Rule` objects, each a :class:`Matcher` (what to look at in the
request) plus a target (what handles it)::

    router = RuleRouter([
        Rule(HostMatches("example.com"), RuleRouter([
            ("/", MainDelegate()),               # str pattern -> PathMatches
            (PathMatches(r"/items/([0-9]+)"), item_callable),
        ])),
        Rule(AnyMatches(), fallback_router),
    ])
    server = HTTPServer(router)

Targets may be a nested :class:`Router`, an
:class:`~dualweb.httputil.HTTPServerConnectionDelegate` (such as an
``Application``) or a plain callable taking the request. ``Application`` builds
on this module: its private router subclass overrides
:meth:`RuleRouter.get_target_delegate` so that ``RequestHandler`` subclasses
become targets too.

Semantics are Tornado's: the first rule, in declaration order, whose matcher
matches and whose target produces a delegate wins. The implementation is not a
linear scan, though (see "Theory of operation" below), so routing cost stays
flat as the table grows.
"""

# Theory of operation
# -------------------
# Every rule gets a *key* when the index is built:
#
# * an exact rule (a plain PathMatches whose pattern is a literal string
#   anchored with "$") is keyed by that literal path;
# * a regex PathMatches is keyed by the literal prefix every path it can match
#   must start with (r"/item7/([0-9]+)" -> "/item7/"), or by "" when there is
#   no safe prefix (alternation, leading group, IGNORECASE, ...);
# * any other matcher (hosts, AnyMatches, custom or subclassed matchers) is
#   keyed by "" because it has to be tried for every request.
#
# For a request path, the rules that *might* match are: the exact rules keyed
# by the path, plus the prefixed rules whose key is a prefix of the path. If P
# is the longest registered prefix of the path, every other registered prefix
# of the path is a prefix of P, so that whole candidate set (in declaration
# order) can be computed once per registered prefix and per exact path when
# the index is built. A lookup is then one dict probe for the exact path and,
# failing that, one slice + dict probe per distinct prefix length (longest
# first) — independent of the number of rules. The candidates are tried in
# order with the same protocol as Tornado's scan (match, then
# get_target_delegate; a None delegate moves on to the next candidate), which
# is what keeps first-match semantics exact.
#
# The index is rebuilt lazily when the rule list changes: ``rules`` is a list
# subclass that flags every mutation, because Tornado code (Application's
# add_handlers among it) edits ``router.rules`` in place.

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, SupportsIndex

from dualweb.connection import (
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
)
from dualweb.escape import url_escape, url_unescape, utf8
from dualweb.httputil import HTTPServerRequest
from dualweb.intake import CallableDelegate, NotFoundDelegate, RequestIntake
from dualweb.log import app_log

__all__ = [
    "AnyMatches",
    "DefaultHostMatches",
    "HostMatches",
    "Matcher",
    "PathMatches",
    "ReversibleRouter",
    "ReversibleRuleRouter",
    "Router",
    "Rule",
    "RuleRouter",
    "URLSpec",
    "url",
]


class Router(HTTPServerConnectionDelegate):
    """Abstract router: maps a request to the delegate that will handle it.

    A router is also an :class:`~dualweb.httputil.HTTPServerConnectionDelegate`,
    so it can be passed straight to ``HTTPServer``: for each request,
    :meth:`start_request` returns a delegate that builds the
    :class:`~dualweb.httputil.HTTPServerRequest` when the headers arrive, calls
    :meth:`find_handler`, and forwards the body and the end of the request to
    the delegate found (or answers 404 when there is none).
    """

    def find_handler(
        self, request: HTTPServerRequest, **kwargs: Any
    ) -> HTTPMessageDelegate | None:
        """Return the delegate that will serve ``request``, or ``None`` if nothing matches.

        Args:
            request: the current request.
            kwargs: extra routing parameters; routers that nest others pass the
                parameters their matcher produced (such as ``path_args``).

        Subclasses must implement this; the base class raises ``NotImplementedError``.
        """
        raise NotImplementedError()

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return a delegate that routes the next request on ``request_conn``."""
        return _RoutingIntake(self, server_conn, request_conn)


class ReversibleRouter(Router):
    """A router whose named routes can be turned back into URLs."""

    def reverse_url(self, name: str, *args: Any) -> str | None:
        """Return the URL of the route called ``name`` filled with ``args``, or ``None``.

        Args:
            name: the route name given to :class:`Rule` / :class:`URLSpec`.
            args: values for the route's capturing groups, in order.

        Subclasses must implement this; the base class raises ``NotImplementedError``.
        """
        raise NotImplementedError()


class _RoutingIntake(RequestIntake):
    """What :meth:`Router.start_request` returns: the core's intake, routed by the router."""

    __slots__ = ("router",)

    def __init__(self, router: Router, server_conn: object, request_conn: HTTPConnection) -> None:
        super().__init__(server_conn, request_conn)
        self.router = router

    def route(self, request: HTTPServerRequest) -> HTTPMessageDelegate:
        """The router's delegate for ``request``, or a 404 one when nothing matches."""
        delegate = self.router.find_handler(request)
        if delegate is None:
            app_log.debug("Delegate for %s %s request not found", request.method, request.path)
            return NotFoundDelegate(self.request_conn)
        return delegate


class Matcher:
    """Decides whether a rule applies to a request."""

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        """Return the parameters for the rule's target if ``request`` matches, else ``None``.

        An empty dict is a match with nothing to pass on. Path matchers return
        ``{"path_args": [...], "path_kwargs": {...}}`` when their pattern has groups.
        Subclasses must implement this.
        """
        raise NotImplementedError()

    def reverse(self, *args: Any) -> str | None:
        """Rebuild a URL from this matcher and ``args``; ``None`` when the matcher cannot."""
        return None


class AnyMatches(Matcher):
    """Matches every request."""

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        """Always ``{}``."""
        return {}


class HostMatches(Matcher):
    """Matches requests whose host name (``request.host_name``) fits ``host_pattern``.

    Args:
        host_pattern: a regex string (anchored at the end with ``$`` if it is
            not already) or a compiled pattern, used as given.
    """

    def __init__(self, host_pattern: str | re.Pattern[str]) -> None:
        if isinstance(host_pattern, str):
            if not host_pattern.endswith("$"):
                host_pattern += "$"
            self.host_pattern: re.Pattern[str] = re.compile(host_pattern)
        else:
            self.host_pattern = host_pattern

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        """``{}`` if the request's host name matches, else ``None``."""
        if self.host_pattern.match(request.host_name):
            return {}
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host_pattern.pattern!r})"


class DefaultHostMatches(Matcher):
    """Matches when ``application.default_host`` fits ``host_pattern``.

    Used by ``Application`` for its ``default_host`` setting. Never matches a
    request carrying an ``X-Real-Ip`` header (one that came through a proxy,
    which is expected to send the real host).

    Args:
        application: any object with a ``default_host`` string attribute.
        host_pattern: a compiled host regex.
    """

    def __init__(self, application: Any, host_pattern: re.Pattern[str]) -> None:
        self.application = application
        self.host_pattern = host_pattern

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        """``{}`` when the default host matches and there is no ``X-Real-Ip`` header."""
        if "X-Real-Ip" not in request.headers and self.host_pattern.match(
            self.application.default_host
        ):
            return {}
        return None


class PathMatches(Matcher):
    """Matches requests whose path fits ``path_pattern``.

    Args:
        path_pattern: a regex string (anchored at the end with ``$`` if it is
            not already; it is always anchored at the start) or a compiled
            pattern, used as given.

    Capturing groups are passed to the target URL-unescaped (``%2F`` becomes
    ``/``, ``+`` stays ``+``) as ``bytes``, or ``None`` for a group that did not
    participate: unnamed groups in ``path_args``, named groups in
    ``path_kwargs``.

    Raises:
        ValueError: if the pattern mixes named and unnamed groups.
        TypeError: if a compiled bytes pattern is given.
    """

    def __init__(self, path_pattern: str | re.Pattern[str]) -> None:
        if isinstance(path_pattern, str):
            if not path_pattern.endswith("$"):
                path_pattern += "$"
            self.regex: re.Pattern[str] = re.compile(path_pattern)
        else:
            self.regex = path_pattern
        if not isinstance(self.regex.pattern, str):
            raise TypeError(
                f"URL pattern {self.regex.pattern!r} is a bytes regex; request paths are "
                "str, so compile the pattern from a str"
            )
        if self.regex.groupindex and len(self.regex.groupindex) != self.regex.groups:
            raise ValueError(
                f"URL pattern {self.regex.pattern!r} mixes named and unnamed capturing "
                "groups; make them all named (passed to the handler by keyword) or all "
                "unnamed (passed by position), or use (?:...) for groups you don't need"
            )
        self._has_groups = self.regex.groups > 0
        self._named = bool(self.regex.groupindex)
        self._reverse = _reverse_template(self.regex)

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        """Return ``{}`` (no groups), the group values, or ``None`` if the path does not match."""
        m = self.regex.match(request.path)
        if m is None:
            return None
        if not self._has_groups:
            return {}
        if self._named:
            named = m.groupdict()
            values = map(_unquote, named.values())
            return {"path_args": [], "path_kwargs": dict(zip(named, values, strict=True))}
        groups = m.groups()
        if None in groups or "%" in "".join(groups):
            return {"path_args": list(map(_unquote, groups)), "path_kwargs": {}}
        # The usual argument (no escapes, the group took part): _unquote without its frame.
        return {"path_args": list(map(str.encode, groups)), "path_kwargs": {}}

    def reverse(self, *args: Any) -> str | None:
        """Fill the pattern's groups with ``args`` (URL-escaped, ``/`` kept) and return the path.

        Non-string arguments are converted with ``str()``.

        Raises:
            ValueError: if the pattern cannot be reversed (it has regex syntax
                outside its groups that has no literal form, non-capturing or
                nested groups), or if the number of ``args`` differs from the
                number of groups.
        """
        if self._reverse is None:
            raise ValueError(
                f"Cannot reverse url regex {self.regex.pattern}: only patterns whose text "
                "outside capturing groups is literal can be turned back into a URL"
            )
        pieces = self._reverse
        if len(args) != len(pieces) - 1:
            raise ValueError(
                f"URL pattern {self.regex.pattern!r} needs {len(pieces) - 1} argument(s) "
                f"to reverse, got {len(args)}"
            )
        if not args:
            return pieces[0]
        out = [pieces[0]]
        for arg, piece in zip(args, pieces[1:], strict=True):
            if not isinstance(arg, (str, bytes)):
                arg = str(arg)
            out.append(url_escape(utf8(arg), plus=False))
            out.append(piece)
        return "".join(out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.regex.pattern!r})"


class Rule:
    """One routing rule: a matcher, a target, the target's kwargs and an optional name.

    Args:
        matcher: the :class:`Matcher` that decides whether the rule applies.
        target: what serves a matching request: a nested :class:`Router`, an
            :class:`~dualweb.httputil.HTTPServerConnectionDelegate`, a callable
            taking the request, or (inside an ``Application``) a
            ``RequestHandler`` subclass. A string is imported as a dotted name.
        target_kwargs: parameters for creating the target (for a handler, the
            ``initialize()`` keyword arguments); passed to
            :meth:`RuleRouter.get_target_delegate` as ``target_kwargs``.
        name: a name for :meth:`ReversibleRouter.reverse_url`.
    """

    def __init__(
        self,
        matcher: Matcher,
        target: Any,
        target_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(target, str):
            from dualweb.util import import_object

            target = import_object(target)
        self.matcher = matcher
        self.target = target
        self.target_kwargs: dict[str, Any] = target_kwargs if target_kwargs else {}
        self.name = name

    def reverse(self, *args: Any) -> str | None:
        """Rebuild this rule's URL from ``args`` (see :meth:`Matcher.reverse`)."""
        return self.matcher.reverse(*args)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.matcher!r}, {self.target}, "
            f"kwargs={self.target_kwargs!r}, name={self.name!r})"
        )


class URLSpec(Rule):
    """A path rule for an ``Application``: ``url(pattern, handler, kwargs=None, name=None)``.

    Args:
        pattern: the path regex (see :class:`PathMatches`); capturing groups
            become the handler method's arguments.
        handler: the ``RequestHandler`` subclass (or a dotted name of one).
        kwargs: keyword arguments for the handler's ``initialize()``.
        name: a name for ``reverse_url`` / ``RequestHandler.reverse_url``.

    Attributes ``regex``, ``handler_class``, ``kwargs`` and ``name`` are kept as
    in Tornado.
    """

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        handler: Any,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        matcher = PathMatches(pattern)
        super().__init__(matcher, handler, kwargs, name)
        self.regex = matcher.regex
        self.handler_class = self.target
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.regex.pattern!r}, {self.handler_class}, "
            f"kwargs={self.kwargs!r}, name={self.name!r})"
        )


url = URLSpec

_RulePattern = str | re.Pattern[str] | Matcher
_RuleList = Sequence[
    Rule
    | list[Any]
    | tuple[_RulePattern, Any]
    | tuple[_RulePattern, Any, dict[str, Any]]
    | tuple[_RulePattern, Any, dict[str, Any], str]
]


class RuleRouter(Router):
    """A router over an ordered list of :class:`Rule` objects; the first match wins.

    Args:
        rules: rules to start with, as for :meth:`add_rules`.

    Extension hooks (``Application`` uses both):

    * :meth:`process_rule` sees every rule as it is added and may return a
      replacement (for example, turning a list target into a nested router);
    * :meth:`get_target_delegate` turns a matching rule's target into a
      delegate; override it to support new target types and call
      ``super().get_target_delegate(...)`` for the rest.

    ``self.rules`` is the live list of processed rules. Editing it in place is
    supported; the lookup index is rebuilt on the next request.
    """

    #: The processed rules, in matching order (assigning a new list is supported).
    rules: list[Rule]

    def __init__(self, rules: _RuleList | None = None) -> None:
        self.rules = []
        self._index: _Index | None = None
        if rules:
            self.add_rules(rules)

    def __setattr__(self, name: str, value: Any) -> None:
        # ``rules`` is a plain attribute, read on every request without a
        # property's call; whatever is assigned to it is wrapped in a list
        # that remembers edits, so the lookup index is rebuilt when it changes.
        if name == "rules":
            value = _TrackedRules(value)
        super().__setattr__(name, value)

    def add_rules(self, rules: _RuleList) -> None:
        """Append rules, each passed through :meth:`process_rule`.

        Args:
            rules: :class:`Rule` objects, or tuples/lists of ``Rule`` arguments:
                ``(matcher, target[, target_kwargs[, name]])``, where a string
                matcher means :class:`PathMatches`.

        Raises:
            TypeError: for an item that is neither a ``Rule`` nor a 2- to 4-item
                tuple, or a tuple that does not start with a pattern or matcher.
        """
        for item in rules:
            if isinstance(item, (tuple, list)):
                if not 2 <= len(item) <= 4:
                    raise TypeError(
                        f"{type(self).__name__}: a rule given as a tuple must be "
                        "(pattern_or_matcher, target[, target_kwargs[, name]]), "
                        f"got {len(item)} items: {item!r}"
                    )
                head, *rest = item
                if isinstance(head, (str, re.Pattern)):
                    head = PathMatches(head)
                elif not callable(getattr(head, "match", None)):
                    raise TypeError(
                        f"{type(self).__name__}: a rule must start with a path pattern or a "
                        f"Matcher, got {head!r} in {item!r}; write (pattern, target, ...)"
                    )
                rule = Rule(head, *rest)
            elif isinstance(item, Rule):
                rule = item
            else:
                raise TypeError(
                    f"{type(self).__name__}: expected a Rule or a tuple "
                    f"(pattern_or_matcher, target, ...), got {item!r}"
                )
            self.rules.append(self.process_rule(rule))
        self._reindex()

    def process_rule(self, rule: Rule) -> Rule:
        """Hook called for each rule added; return the rule to store (by default ``rule``)."""
        return rule

    def find_handler(
        self, request: HTTPServerRequest, **kwargs: Any
    ) -> HTTPMessageDelegate | None:
        """Return the delegate of the first rule that matches and yields one, else ``None``."""
        index = self._index
        if index is None or self.rules.dirty:  # type: ignore[attr-defined]
            index = self._reindex()
        params: dict[str, Any] | None
        for rule, kind in index.candidates(request.path):
            if kind == _LITERAL:
                # A literal path has no groups: no match() call, no params dict.
                if rule.target_kwargs:
                    delegate = self.get_target_delegate(
                        rule.target, request, target_kwargs=rule.target_kwargs
                    )
                else:
                    delegate = self.get_target_delegate(rule.target, request)
            else:
                params = rule.matcher.match(request)
                if params is None:
                    continue
                if rule.target_kwargs:
                    params["target_kwargs"] = rule.target_kwargs
                delegate = self.get_target_delegate(rule.target, request, **params)
            if delegate is not None:
                return delegate
        return None

    def find_route(
        self, request: HTTPServerRequest
    ) -> tuple[Rule, tuple[str | None, ...] | dict[str, Any] | None] | None:
        """Return the first rule whose matcher matches ``request``, without making a delegate.

        Returns ``(rule, captured)``, or ``None`` when no rule matches.
        ``captured`` is what the match yields, in the cheapest form:

        * ``None``: nothing to pass on (a literal path, a pattern without
          groups, a matcher that returned ``{}``);
        * a tuple of ``str``: the unnamed groups of a :class:`PathMatches`
          pattern as they appear in the path (still percent-encoded; ``None``
          for a group that did not participate);
        * a dict: what any other matcher returned (named groups give
          ``path_kwargs`` with URL-unescaped ``bytes`` values, as in :meth:`find_handler`).

        For a table whose targets always produce a delegate (an
        ``Application``'s handler classes) this is the rule :meth:`find_handler`
        uses; :meth:`find_handler` also moves past rules whose target gives no
        delegate (a nested router without a match).
        """
        index = self._index
        if index is None or self.rules.dirty:  # type: ignore[attr-defined]
            index = self._reindex()
        path = request.path
        # _Index.candidates(path), its exact probe inlined: every request pays it.
        candidates = index.exact.get(path)
        if candidates is None:
            candidates = index.prefix_candidates(path)
        for rule, kind in candidates:
            if kind == _LITERAL:
                return rule, None
            if kind == _GROUPS:
                # PathMatches.match without its frame, params dict and bytes copies.
                match = rule.matcher.regex.match(path)  # type: ignore[attr-defined]
                if match is not None:
                    return rule, match.groups() or None
                continue
            params = rule.matcher.match(request)
            if params is not None:
                return rule, params or None
        return None

    def get_target_delegate(
        self, target: Any, request: HTTPServerRequest, **target_params: Any
    ) -> HTTPMessageDelegate | None:
        """Turn a matching rule's target into a delegate (``None`` lets the next rule try).

        Args:
            target: the rule's target.
            request: the current request.
            target_params: what the matcher returned (``path_args``,
                ``path_kwargs``), plus ``target_kwargs`` when the rule has them.

        A :class:`Router` target is asked with ``find_handler(request,
        **target_params)``; an :class:`~dualweb.httputil.HTTPServerConnectionDelegate`
        gets ``start_request(request.server_connection, request.connection)``;
        any other callable is called as ``target(request, **target_params)``
        once the request body has arrived. Anything else gives ``None``.
        """
        if isinstance(target, Router):
            return target.find_handler(request, **target_params)
        if isinstance(target, HTTPServerConnectionDelegate):
            if request.connection is None:
                raise ValueError(
                    f"{type(self).__name__}: target {target!r} is a connection delegate, "
                    "which needs a request with a connection; build the request with "
                    "connection=..."
                )
            return target.start_request(request.server_connection, request.connection)
        if callable(target):
            return CallableDelegate(target, request, target_params)
        return None

    def _reindex(self) -> _Index:
        rules: _TrackedRules = self.rules  # type: ignore[assignment]
        rules.dirty = False
        index = self._index = _Index(rules)
        return index


class ReversibleRuleRouter(ReversibleRouter, RuleRouter):
    """A :class:`RuleRouter` whose named rules can be reversed with :meth:`reverse_url`.

    A name given twice keeps the later rule and logs a warning.
    """

    def __init__(self, rules: _RuleList | None = None) -> None:
        self.named_rules: dict[str, Rule] = {}
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        """Record named rules for :meth:`reverse_url` (after the parent classes' processing)."""
        rule = super().process_rule(rule)
        if rule.name:
            if rule.name in self.named_rules:
                app_log.warning(
                    "Multiple handlers named %s; replacing previous value", rule.name
                )
            self.named_rules[rule.name] = rule
        return rule

    def reverse_url(self, name: str, *args: Any) -> str | None:
        """Return the URL for the rule named ``name``, searching nested reversible routers.

        Returns ``None`` when no rule has that name. Raises ``ValueError`` as
        :meth:`PathMatches.reverse` does for a bad pattern or argument count.
        """
        rule = self.named_rules.get(name)
        if rule is not None:
            return rule.matcher.reverse(*args)
        for rule in self.rules:
            if isinstance(rule.target, ReversibleRouter):
                found = rule.target.reverse_url(name, *args)
                if found is not None:
                    return found
        return None


# --------------------------------------------------------------------------- helpers


def _unquote(value: str | None) -> bytes | None:
    # Most path arguments contain no escapes; skip the unquoting machinery then.
    if value is None:
        return None
    if "%" not in value:
        return value.encode("utf-8")
    return url_unescape(value, encoding=None, plus=False)


_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_QUANTIFIERS = frozenset("*+?{")
_STOPS = frozenset(".^$[]()|")
# Flags under which a pattern's literal characters match only themselves.
_INDEXABLE_FLAGS = re.UNICODE | re.ASCII | re.DOTALL


def _has_top_level_alternation(pattern: str) -> bool:
    depth = 0
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            # "]" right after "[" or "[^" is a literal member of the class.
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _literal_key(regex: re.Pattern[str]) -> tuple[str, bool]:
    """Return ``(literal, exact)`` for a path regex used with ``regex.match``.

    ``exact`` means the regex matches exactly ``literal`` (and ``literal + "\\n"``,
    as ``$`` allows); otherwise every path it matches starts with ``literal``.
    Stopping early only shortens the prefix, which is always safe.
    """
    pattern = regex.pattern
    if regex.flags & ~_INDEXABLE_FLAGS or _has_top_level_alternation(pattern):
        return "", False
    chars: list[str] = []
    n = len(pattern)
    i = 1 if pattern.startswith("^") else 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n or pattern[i + 1] in _ASCII_ALNUM:
                break
            chars.append(pattern[i + 1])
            i += 2
            continue
        if c in _QUANTIFIERS:
            # The quantifier applies to the previous character, which may be absent.
            if chars:
                chars.pop()
            break
        if c == "$" and i == n - 1:
            return "".join(chars), True
        if c in _STOPS:
            break
        chars.append(c)
        i += 1
    return "".join(chars), False


def _reverse_template(regex: re.Pattern[str]) -> tuple[str, ...] | None:
    """Split a path regex into literal pieces around its groups, or ``None`` if not reversible.

    ``/([0-9]{4})/([a-z-]+)/`` gives ``("/", "/", "/")``: piece, group, piece, group, piece.
    """
    pattern = regex.pattern
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$"):
        pattern = pattern[:-1]
    if regex.groups != pattern.count("("):
        return None  # non-capturing groups, lookarounds or escaped parentheses
    pieces: list[str] = []
    buf: list[str] = []
    depth = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if depth == 0:
                if i + 1 >= n or pattern[i + 1] in _ASCII_ALNUM:
                    return None  # \d, \w, backreferences: no literal form
                buf.append(pattern[i + 1])
            i += 2
            continue
        if c == "(":
            if depth == 0:
                pieces.append("".join(buf))
                buf = []
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0:
            buf.append(c)
        i += 1
    pieces.append("".join(buf))
    if depth != 0 or len(pieces) - 1 != regex.groups:
        return None  # nested groups
    return tuple(pieces)


# How find_handler/find_route try a candidate rule: a literal path (no
# match() call), a plain PathMatches without named groups (its regex matched
# inline), or any other matcher (its match()).
_LITERAL = 1
_GROUPS = 2
_OTHER = 3
_Candidates = tuple[tuple[Rule, int], ...]


class _Index:
    """The precomputed candidate lists of one rule table (see "Theory of operation")."""

    __slots__ = ("default", "exact", "lengths", "prefixed")

    def __init__(self, rules: Sequence[Rule]) -> None:
        exact_keys: dict[str, list[int]] = {}
        prefix_keys: dict[str, list[int]] = {"": []}
        for position, rule in enumerate(rules):
            matcher = rule.matcher
            if type(matcher) is PathMatches:
                literal, exact = _literal_key(matcher.regex)
            else:
                literal, exact = "", False
            if exact:
                exact_keys.setdefault(literal, []).append(position)
                # "$" also matches before a trailing newline, as in re.match.
                exact_keys.setdefault(literal + "\n", []).append(position)
            else:
                prefix_keys.setdefault(literal, []).append(position)
        all_lengths = sorted({len(p) for p in prefix_keys}, reverse=True)

        def candidates(key: str, own: list[int]) -> _Candidates:
            positions = list(own)
            for length in all_lengths:
                if length <= len(key):
                    positions.extend(prefix_keys.get(key[:length], ()))
            positions.sort()
            return tuple((rules[p], kinds[p]) for p in positions)

        exact_set = {p for ps in exact_keys.values() for p in ps}
        kinds = [
            _LITERAL
            if p in exact_set
            else _GROUPS
            if type(rule.matcher) is PathMatches and not rule.matcher.regex.groupindex
            else _OTHER
            for p, rule in enumerate(rules)
        ]
        self.exact: dict[str, _Candidates] = {
            key: candidates(key, own) for key, own in exact_keys.items()
        }
        self.prefixed: dict[str, _Candidates] = {
            key: candidates(key, []) for key in prefix_keys if key
        }
        self.default: _Candidates = candidates("", [])
        self.lengths: tuple[int, ...] = tuple(n for n in all_lengths if n)

    def candidates(self, path: str) -> _Candidates:
        """The rules that may match ``path``, in declaration order."""
        found = self.exact.get(path)
        if found is not None:
            return found
        return self.prefix_candidates(path)

    def prefix_candidates(self, path: str) -> _Candidates:
        """:meth:`candidates` for a ``path`` that is not in :attr:`exact`."""
        plen = len(path)
        prefixed = self.prefixed
        for length in self.lengths:
            if length <= plen:
                found = prefixed.get(path[:length])
                if found is not None:
                    return found
        return self.default


class _TrackedRules(list[Rule]):
    """A list that remembers it was changed, so the router knows to rebuild its index."""

    __slots__ = ("dirty",)

    def __init__(self, items: Iterable[Rule] = ()) -> None:
        super().__init__(items)
        self.dirty = True

    def append(self, item: Rule) -> None:
        super().append(item)
        self.dirty = True

    def extend(self, items: Iterable[Rule]) -> None:
        super().extend(items)
        self.dirty = True

    def insert(self, index: SupportsIndex, item: Rule) -> None:
        super().insert(index, item)
        self.dirty = True

    def pop(self, index: SupportsIndex = -1) -> Rule:
        self.dirty = True
        return super().pop(index)

    def remove(self, item: Rule) -> None:
        super().remove(item)
        self.dirty = True

    def clear(self) -> None:
        super().clear()
        self.dirty = True

    def reverse(self) -> None:
        super().reverse()
        self.dirty = True

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self.dirty = True

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self.dirty = True

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self.dirty = True

    def __iadd__(self, items: Iterable[Rule]) -> _TrackedRules:  # type: ignore[override,misc]
        super().__iadd__(items)
        self.dirty = True
        return self

    def __imul__(self, count: SupportsIndex) -> _TrackedRules:
        super().__imul__(count)
        self.dirty = True
        return self
