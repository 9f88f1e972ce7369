"""One documentation page per env class, generated from its docstring and its registered variants.

``auction-envs docs --out docs/envs`` writes the pages (and an index); ``auction-envs docs --check``
fails when a committed page differs from what the code generates, so the pages cannot drift from
the docstrings (CI runs the check through ``tests/test_env_docs.py``).

A page starts with a PettingZoo-style property table (import, agents, action, observation and
state spaces, the named observation layout, horizon, render modes, paper), lists the registered
variants with the keyword arguments each is built with, and then carries the class docstring,
whose fixed sections (:data:`REQUIRED_SECTIONS`) are the model of Gymnasium's cartpole plus
Mechanism and Reference solution.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from auction_envs.registration import EnvSpec, registry

REQUIRED_SECTIONS = (
    "Description",
    "Mechanism",
    "Action Space",
    "Observation Space",
    "Rewards",
    "Starting State",
    "Episode End",
    "Reference solution",
    "Arguments",
    "Version History",
)

# the paper behind each market package (auction_envs/envs/<package>), as MARKETS.md numbers them
PAPERS = {
    "kelly": "001, *Learning in Proportional Allocation Auctions Games* (MARKETS.md §1)",
    "v2x": "000, DRACO: V2X offloading by second-price auction with backoff (MARKETS.md §2)",
    "iov": "002, DVCG: IoV slicing by a dual-currency VCG auction with a bank (MARKETS.md §3)",
    "exchange": "003, exchange economy with competitive-equilibrium learning under bandit feedback "
                "(MARKETS.md §4)",
    "cloud": "004, RTRM: cloud double auction with RL pricing and fair matching (MARKETS.md §5)",
}

_HEADING = re.compile(r"^## (.+?)\s*$", re.MULTILINE)


@dataclass
class EnvPage:
    """The variants registered on one env class and the page written for them."""

    env_class: type
    specs: list[EnvSpec] = field(default_factory=list)

    @property
    def slug(self) -> str:
        """The page's file stem: the class name in snake case without the ``_env`` suffix."""
        name = self.env_class.__name__.replace("IoV", "Iov").replace("V2X", "V2x")
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        return name.removesuffix("_env")

    @property
    def package(self) -> str:
        parts = self.env_class.__module__.split(".")
        return parts[2] if len(parts) > 2 and parts[:2] == ["auction_envs", "envs"] else parts[-1]


def missing_sections(env_class: type) -> list[str]:
    """The :data:`REQUIRED_SECTIONS` that no ``## `` heading of the class docstring contains."""
    headings = _HEADING.findall(inspect.getdoc(env_class) or "")
    return [section for section in REQUIRED_SECTIONS
            if not any(section.lower() in heading.lower() for heading in headings)]


def collect_pages(namespace: str = "auction_envs") -> list[EnvPage]:
    """Every env class with at least one variant registered under ``namespace``, in id order."""
    pages: dict[type, EnvPage] = {}
    for env_id, spec in sorted(registry().items()):
        if not env_id.startswith(f"{namespace}/"):
            continue
        env_class = spec.load()
        if not inspect.isclass(env_class):  # a factory: document what it builds
            env = spec.make()
            env_class = type(env.unwrapped)
            env.close()
        pages.setdefault(env_class, EnvPage(env_class)).specs.append(spec)
    return list(pages.values())


def _code(text: Any) -> str:
    text = " ".join(str(text).split())  # one table cell: no line breaks
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def describe_space(space: Any) -> str:
    """A short, deterministic description of a space (Box bounds summarized when they vary)."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        low, high = np.unique(space.low), np.unique(space.high)
        if low.size == 1 and high.size == 1:
            return f"Box({low[0]:g}, {high[0]:g}, shape={space.shape}, {space.dtype})"
        return (f"Box(shape={space.shape}, {space.dtype}, low in [{low.min():g}, {low.max():g}], "
                f"high in [{high.min():g}, {high.max():g}])")
    if isinstance(space, spaces.Dict):
        return "Dict(" + ", ".join(f"{key}: {describe_space(sub)}" for key, sub in space.items()) + ")"
    return str(space)


def _agents_line(agents: list[str]) -> str:
    shown = ", ".join(_code(a) for a in agents[:4])
    return f"{len(agents)}: {shown}" + (", ..." if len(agents) > 4 else "")


def _spaces_line(env: Any, kind: str) -> str:
    spaces = {describe_space(getattr(env, f"{kind}_space")(agent)) for agent in env.possible_agents}
    if len(spaces) == 1:
        return _code(spaces.pop())
    return "per agent: " + "; ".join(_code(space) for space in sorted(spaces))


def _field_names(layout: Any) -> str:
    """The layout's field names, numbered repeats folded (``request{k}_work`` for k = 0..3)."""
    folded: dict[str, list[int]] = {}
    for f in layout.fields:
        match = re.fullmatch(r"([a-z_]*[a-z])(\d+)(_\w+)", f.name)
        name, index = (f"{match[1]}{{k}}{match[3]}", int(match[2])) if match else (f.name, -1)
        folded.setdefault(name, []).append(index)
    parts = []
    for name, indices in folded.items():
        ks = f" (k = {min(indices)}..{max(indices)})" if indices[0] >= 0 else ""
        parts.append(_code(name) + ks)
    return ", ".join(parts)


def _layout_line(env: Any) -> str:
    layouts = getattr(env, "layouts", None)
    if isinstance(layouts, dict):
        return "; ".join(f"{kind}: {_field_names(layout)}" for kind, layout in layouts.items())
    layout = getattr(env, "layout", None)
    return _field_names(layout) if hasattr(layout, "fields") else "see Observation Space"


def render_page(page: EnvPage) -> str:
    """The markdown page of one env class (deterministic: the same code gives the same text)."""
    first = page.specs[0]
    env = first.make()
    try:
        unwrapped = env.unwrapped
        rows = [
            ("Import", _code(f'auction_envs.make("{first.id}")')),
            ("Class", _code(f"{page.env_class.__module__}.{page.env_class.__name__}")),
            ("API", "PettingZoo `ParallelEnv` (and AEC through `pettingzoo.make(\"aec\", id)`)"),
            ("Agents", _agents_line(list(env.possible_agents))),
            ("Action space", _spaces_line(env, "action")),
            ("Observation space", _spaces_line(env, "observation")),
            ("Observation layout", _layout_line(unwrapped)),
            ("State space", _code(describe_space(getattr(unwrapped, "state_space", None)))),
            ("Horizon", f"{getattr(unwrapped, 'max_cycles', 'see Episode End')} steps "
                        "(truncation; see Episode End)"),
            ("Render modes", ", ".join(_code(m) for m in env.metadata.get("render_modes", []))),
            ("Paper", PAPERS.get(page.package, "none")),
        ]
    finally:
        env.close()
    title = (inspect.getdoc(page.env_class) or page.env_class.__name__).splitlines()[0].rstrip(".")
    lines = [
        f"# {page.env_class.__name__}",
        "",
        f"*{title}.* Generated by `auction-envs docs` from the class docstring and the registry; "
        "do not edit by hand.",
        "",
        "| property | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "The property table is read off the first variant below (its default arguments).",
        "",
        "## Registered variants",
        "",
        "| id | description | keyword arguments |",
        "|---|---|---|",
    ]
    for spec in page.specs:
        kwargs = ", ".join(f"{key}={value!r}" for key, value in spec.kwargs.items()) or "(none)"
        lines.append(f"| {_code(spec.id)} | {spec.description.replace('|', '/')} | {_code(kwargs)} |")
    body = inspect.getdoc(page.env_class) or ""
    body = "\n".join(body.splitlines()[1:]).strip()  # the first line is the title above
    lines += ["", body, ""]
    return "\n".join(lines)


def render_index(pages: list[EnvPage]) -> str:
    lines = ["# Environments", "", "Generated by `auction-envs docs`; one page per env class.", "",
             "| page | paper | variants |", "|---|---|---|"]
    for page in pages:
        ids = ", ".join(_code(spec.id.split("/", 1)[1]) for spec in page.specs)
        lines.append(f"| [{page.env_class.__name__}]({page.slug}.md) | "
                     f"{PAPERS.get(page.package, 'none').split(',')[0]} | {ids} |")
    return "\n".join(lines) + "\n"


def build(out_dir: str | Path, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) every page and the index under ``out_dir``.

    Returns the problems found: with ``check``, each page that is missing or differs from the
    generated text and each page that no env generates any more; in both modes, each env class
    whose docstring lacks a required section. Nothing is written in ``check`` mode.
    """
    out = Path(out_dir)
    pages = collect_pages()
    documents = {f"{page.slug}.md": render_page(page) for page in pages}
    documents["README.md"] = render_index(pages)
    problems = [f"{page.env_class.__name__}: docstring lacks the section(s) "
                f"{', '.join(missing)}" for page in pages if (missing := missing_sections(page.env_class))]
    if check:
        for name, text in documents.items():
            path = out / name
            if not path.exists():
                problems.append(f"{path}: missing (run `auction-envs docs --out {out}`)")
            elif path.read_text() != text:
                problems.append(f"{path}: out of date (run `auction-envs docs --out {out}`)")
        if out.is_dir():
            problems += [f"{path}: no env generates this page any more"
                         for path in sorted(out.glob("*.md")) if path.name not in documents]
        return problems
    out.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        (out / name).write_text(text)
    return problems
