"""Template rendering benchmark: dualweb.template vs tornado.template vs Jinja2.

The same realistic page in each engine: a base layout with three blocks
(title, head, content) extended by a page template; the content is a table
of 100 rows, each with four escaped values (a name and an e-mail address
containing ``<``, ``&``, quotes; an int id; a computed string) and a UI
module call (``{% module Badge(row) %}`` in the Tornado syntax, a
Markup-returning function in Jinja2) that renders a small template of its
own. Each engine renders through its own loader, with compiled templates
cached, so only rendering is timed.

A second page replaces the module call with the same markup inline, to
show the engines without the cost of rendering a sub-template per row.

The three engines are interleaved in each round; the table reports the
median time per render over the rounds and the ratios
``tornado / dualweb`` and ``jinja2 / dualweb`` (above 1.0x means dualweb is
faster). The process is pinned to one CPU when possible. Before timing, the
script checks that dualweb and Tornado produce identical bytes.

    python benchmarks/bench_template.py [--rounds 7] [--seconds 0.5]

Needs tornado and jinja2 (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jinja2
import markupsafe
import tornado.template

import dualweb.template

TORNADO_TEMPLATES = {
    "base.html": """<!DOCTYPE html>
<html>
  <head>
    <title>{% block title %}Site{% end %}</title>
    {% block head %}{% end %}
  </head>
  <body>
    <header><a href="/">{{ site_name }}</a> | {{ user_name }}</header>
    <main>{% block content %}{% end %}</main>
    <footer>&copy; {{ year }}</footer>
  </body>
</html>
""",
    "page.html": """{% extends "base.html" %}
{% block title %}{{ title }} - Site{% end %}
{% block head %}<meta name="description" content="{{ description }}">{% end %}
{% block content %}
  <h1>{{ title }}</h1>
  <table>
    {% for row in rows %}
      <tr class="{{ 'odd' if row.id % 2 else 'even' }}">
        <td>{{ row.id }}</td>
        <td>{{ row.name }}</td>
        <td><a href="mailto:{{ row.email }}">{{ row.email }}</a></td>
        <td>{% module Badge(row) %}</td>
      </tr>
    {% end %}
  </table>
  {% if not rows %}<p>No rows.</p>{% end %}
{% end %}
""",
    "badge.html": """<span class="badge {{ kind }}">{{ label }}</span>""",
}



def to_jinja(text: str) -> str:
    """The Tornado-syntax template in Jinja2 syntax (``{% end %}`` tags, the module call)."""
    opened: list[str] = []

    def tag(match: re.Match[str]) -> str:
        word = match.group(1).split()[0]
        if word in ("block", "for", "if"):
            opened.append(word)
        elif word == "end":
            return "{% end" + opened.pop() + " %}"
        return match.group(0)

    text = re.sub(r"{%\s*(.*?)\s*%}", tag, text)
    return text.replace("{% module Badge(row) %}", "{{ modules.Badge(row) }}")


JINJA_TEMPLATES = {name: to_jinja(text) for name, text in TORNADO_TEMPLATES.items()}


class Row:
    __slots__ = ("email", "id", "name")

    def __init__(self, i: int) -> None:
        self.id = i
        self.name = f"User <{i}> & \"friends\" o'neil" if i % 7 == 0 else f"User number {i}"
        self.email = f"user{i}@example.com"


ROWS = [Row(i) for i in range(100)]
PAGE_ARGS: dict[str, Any] = {
    "title": "Members & <guests>",
    "description": 'A "list" of members',
    "site_name": "Example",
    "user_name": "admin",
    "year": 2026,
    "rows": ROWS,
}


def _badge_args(row: Row) -> dict[str, str]:
    return {"kind": "even" if row.id % 2 == 0 else "odd", "label": f"#{row.id}"}


class _Modules:
    """The ``_tt_modules`` namespace a handler gives Tornado-syntax templates."""

    def __init__(self, badge: Any) -> None:
        self.Badge = badge


INLINE_CELL = '<span class="badge">#{{ row.id }}</span>'


def without_module(templates: dict[str, str], call: str) -> dict[str, str]:
    """The same templates with the UI module call replaced by inline markup."""
    return {**templates, "page.html": templates["page.html"].replace(call, INLINE_CELL)}


def tornado_syntax_renderer(engine: Any, templates: dict[str, str]) -> Any:
    """``page.html`` rendered by ``engine`` (``dualweb.template`` or ``tornado.template``)."""
    loader = engine.DictLoader(templates)
    page = loader.load("page.html")
    badge = loader.load("badge.html")
    modules = _Modules(lambda row: badge.generate(**_badge_args(row)))
    return lambda: page.generate(_tt_modules=modules, **PAGE_ARGS)


def jinja2_renderer(templates: dict[str, str]) -> Any:
    env = jinja2.Environment(loader=jinja2.DictLoader(templates), autoescape=True)
    page = env.get_template("page.html")
    badge = env.get_template("badge.html")
    modules = _Modules(lambda row: markupsafe.Markup(badge.render(**_badge_args(row))))
    # Encoded to bytes like the other two (what a handler sends).
    return lambda: page.render(modules=modules, **PAGE_ARGS).encode("utf-8")


def measure(engines: dict[str, Any], rounds: int, seconds: float) -> dict[str, float]:
    """Median µs per render of each engine, the engines interleaved in every round."""
    counts = {}
    for name, render in engines.items():
        number, _ = timeit.Timer(render).autorange()
        took = timeit.Timer(render).timeit(number)
        counts[name] = max(1, int(number * seconds / took))
    samples: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, render in engines.items():
            took = timeit.Timer(render).timeit(counts[name])
            samples[name].append(took / counts[name] * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per engine per round")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    scenarios = {
        "with UI module": (TORNADO_TEMPLATES, JINJA_TEMPLATES),
        "inline cells": (
            without_module(TORNADO_TEMPLATES, "{% module Badge(row) %}"),
            without_module(JINJA_TEMPLATES, "{{ modules.Badge(row) }}"),
        ),
    }
    print(f"{'page':<16}{'engine':<10}{'µs/render':>12}{'renders/s':>12}{'vs dualweb':>12}")
    for label, (tornado_templates, jinja_templates) in scenarios.items():
        engines = {
            "dualweb": tornado_syntax_renderer(dualweb.template, tornado_templates),
            "tornado": tornado_syntax_renderer(tornado.template, tornado_templates),
            "jinja2": jinja2_renderer(jinja_templates),
        }
        if engines["dualweb"]() != engines["tornado"]():
            sys.exit(f"{label}: dualweb and tornado rendered different pages")
        median = measure(engines, args.rounds, args.seconds)
        for name, value in median.items():
            ratio = value / median["dualweb"]
            print(f"{label:<16}{name:<10}{value:>12.1f}{1e6 / value:>12.0f}{ratio:>11.2f}x")
        print(
            f"{label}: tornado/dualweb {median['tornado'] / median['dualweb']:.2f}x "
            f"(target >= 1.2x), jinja2/dualweb {median['jinja2'] / median['dualweb']:.2f}x "
            "(target >= 1.0x)\n"
        )


if __name__ == "__main__":
    main()
