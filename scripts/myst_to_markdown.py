"""Rewrite the MyST of the book's markdown cells as plain Markdown that Colab renders.

The book (Jupyter Book, MyST) builds from the jupytext sources; Colab opens the generated
.ipynb files and shows MyST roles and directives as raw text. This module turns

- citations (``{cite}`key```, ``{cite:p}``, ``{cite:t}``) into "(Finn et al., 2017)" /
  "Finn et al. (2017)", the book's author_year style, and collects the keys so that the
  caller can append a reference list;
- cross-references (``{doc}``, ``{ref}``, ``{numref}``) into links made by a caller-given
  function (the published book page, or a sibling chapter's Colab notebook);
- admonitions and other fenced directives (```` ```{name} ```` and ``:::{name}``) into
  blockquotes with a bold title, and dropdown admonitions (the exercises' solutions) into
  collapsed ``<details>`` blocks;
- MyST targets ``(label)=`` and comments ``% ...`` into nothing.

Math (``$...$``, ``$$...$$``) is left alone: Colab renders it. ``count_myst`` counts what
is left, which the tests require to be zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pybtex.database import parse_file

ROLE = re.compile(r"\{([a-z][\w:-]*)\}`([^`]*)`")
FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<arg>.*)$")
CODE_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})[^`]*$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
TARGET = re.compile(r"^\([\w.:-]+\)=[ \t]*$")
COMMENT = re.compile(r"^%( |$)")
EXPLICIT_TITLE = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
# What the tests count as MyST left in a notebook: a role, a directive fence, a target, a
# directive option line or a MyST comment.
MYST_CONSTRUCTS = re.compile(
    r"\{[a-z][\w:-]*\}`|^[ \t]*(`{3,}|:{3,})\{|^[ \t]*\([\w.:-]+\)=[ \t]*$|^:[\w-]+:[ \t]|^% ",
    re.MULTILINE,
)
ADMONITIONS = {
    "note",
    "tip",
    "hint",
    "important",
    "warning",
    "caution",
    "attention",
    "danger",
    "error",
    "seealso",
}

Linker = Callable[[str, str], tuple[str, str]]  # (role, target) -> (URL, default title)


@dataclass
class Bibliography:
    """The book's references.bib, formatted as sphinxcontrib-bibtex's author_year style."""

    entries: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, path: Path) -> Bibliography:
        data = parse_file(str(path), bib_format="bibtex")
        entries = {}
        for key, entry in data.entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            entries[key] = {
                "surnames": [_plain(" ".join(p.prelast_names + p.last_names)) for p in people],
                "initials": [
                    " ".join(f"{n[0]}." for n in p.first_names + p.middle_names if n)
                    for p in people
                ],
                **{name: _plain(value) for name, value in entry.fields.items()},
            }
        return cls(entries)

    def entry(self, key: str, where: str) -> dict[str, Any]:
        if key not in self.entries:
            raise KeyError(
                f"{where}: citation key {key!r} is not in book/references.bib; "
                "add the entry there or fix the key"
            )
        return self.entries[key]

    def authors_short(self, key: str, where: str) -> str:
        surnames = self.entry(key, where)["surnames"]
        if len(surnames) == 1:
            return surnames[0]
        if len(surnames) == 2:
            return f"{surnames[0]} and {surnames[1]}"
        return f"{surnames[0]} et al."

    def year(self, key: str, where: str) -> str:
        """The year, with a letter where one label would name two works (Baik et al., 2020a)."""
        entry = self.entry(key, where)
        label = (self.authors_short(key, where), entry.get("year", "n.d."))
        same = sorted(
            (e.get("title", k), k)
            for k, e in self.entries.items()
            if (self.authors_short(k, where), e.get("year", "n.d.")) == label
        )
        if len(same) == 1:
            return label[1]
        return label[1] + "abcdefghijklmnopqrstuvwxyz"[[k for _, k in same].index(key)]

    def sort(self, keys: list[str]) -> list[str]:
        """Keys in the order of a reference list: by authors' surnames, then year."""
        return sorted(keys, key=lambda k: (self.entries[k]["surnames"][:1], self.year(k, "")))

    def reference(self, key: str) -> str:
        """One line of the reference list: authors (year). *Title*. Venue."""
        e = self.entries[key]
        names = [
            f"{s}, {i}".rstrip(", ") for s, i in zip(e["surnames"], e["initials"], strict=True)
        ]
        authors = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        venue = next(
            (
                e[f]
                for f in ("booktitle", "journal", "howpublished", "institution", "publisher")
                if e.get(f)
            ),
            "",
        )
        number = e.get("number", "")
        details = ", ".join(
            part
            for part in (
                f"{e['volume']}({number})"
                if e.get("volume") and number
                else e.get("volume") or number,
                e.get("pages", "").replace("--", "-"),
            )
            if part
        )
        line = f"{authors} ({self.year(key, '')}). *{e.get('title', key)}*."
        if venue:
            line += f" {venue}" + (f", {details}" if details else "") + "."
        return line


def _plain(text: str) -> str:
    """BibTeX text without its protective braces and LaTeX escapes of common characters."""
    text = re.sub(r"\\[`'^\"~]\{?(\w)\}?", r"\1", text)
    return text.replace("{", "").replace("}", "").replace("\\&", "&").replace("--", "-")


@dataclass
class Converter:
    """Converts one notebook's markdown cells; ``cited`` collects the keys in citation order."""

    bibliography: Bibliography
    link: Linker
    where: str
    cited: list[str] = field(default_factory=list)

    def convert(self, text: str) -> str:
        return self._blocks(text.split("\n"))

    # --- block level: directives, targets, comments ---------------------------------------
    def _blocks(self, lines: list[str]) -> str:
        """Converts directives and drops targets; roles are rewritten in the prose between
        them, never inside code blocks."""
        out: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                out.append(self._roles("\n".join(prose)))
                prose.clear()

        i = 0
        while i < len(lines):
            line = lines[i]
            opened = FENCE_OPEN.match(line)
            code = CODE_FENCE_OPEN.match(line)
            if opened:
                flush()
                end = _closing(lines, i + 1, opened["fence"])
                body = lines[i + 1 : end]
                out.append("\n".join(self._directive(opened["name"], opened["arg"], body)))
                i = end + 1
            elif code:  # a plain code block: copy it untouched
                flush()
                end = _closing(lines, i + 1, code["fence"])
                out.append("\n".join(lines[i : end + 1]))
                i = end + 1
            elif TARGET.match(line) or COMMENT.match(line):
                i += 1
                if not out and not prose and i < len(lines) and not lines[i].strip():
                    i += 1  # a target at the top of a cell leaves no blank first line
            else:
                prose.append(line)
                i += 1
        flush()
        return "\n".join(out)

    def _directive(self, name: str, arg: str, body: list[str]) -> list[str]:
        options: dict[str, str] = {}
        while body and OPTION.match(body[0]):
            match = OPTION.match(body[0])
            options[match["key"]] = match["value"]
            body = body[1:]
        inner = self._blocks(body).strip("\n")
        classes = options.get("class", "").split()
        if name in ("math",):
            return ["$$", inner, "$$"]
        if name in ("figure", "image"):
            url, _ = self.link("file", arg.strip())
            return [f"![{inner or options.get('alt', '')}]({url})"]
        if name in ("code", "code-block", "code-cell"):
            return [f"```{arg.strip()}", inner, "```"]
        title = self._roles(arg.strip()) or ("See also" if name == "seealso" else name.capitalize())
        hidden = name in ("dropdown", "toggle") or {"dropdown", "toggle"} & set(classes)
        if hidden or title.lower().startswith("solution"):  # solutions stay hidden until asked
            return [
                "<details>",
                f"<summary>{title}</summary>",
                "",
                inner,
                "",
                "</details>",
            ]
        if name not in ADMONITIONS and name != "admonition" and not arg.strip():
            title = name.replace("-", " ").capitalize()
        quoted = [f"> **{title}**", ">"] + [f"> {line}".rstrip() for line in inner.split("\n")]
        return quoted

    # --- inline: roles ---------------------------------------------------------------------
    def _roles(self, text: str) -> str:
        return ROLE.sub(lambda m: self._role(m[1], m[2]), text)

    def _role(self, name: str, content: str) -> str:
        if name.startswith("cite"):
            return self._cite(name, content)
        if name in ("doc", "ref", "numref", "download"):
            explicit = EXPLICIT_TITLE.match(content)
            title, target = (explicit["title"], explicit["target"]) if explicit else ("", content)
            url, default_title = self.link(name, target)
            return f"[{title or default_title}]({url})"
        if name == "math":
            return f"${content}$"
        if name in ("sub", "sup"):
            return f"<{name}>{content}</{name}>"
        return f"`{content}`"  # {eval}, {glue}, {term}, ...: the raw content, as code

    def _cite(self, name: str, content: str) -> str:
        keys = [k.strip() for k in content.split(",") if k.strip()]
        for key in keys:
            self.bibliography.entry(key, self.where)
            if key not in self.cited:
                self.cited.append(key)
        b, where = self.bibliography, self.where
        if name in ("cite:t", "cite:ts"):
            return "; ".join(f"{b.authors_short(k, where)} ({b.year(k, where)})" for k in keys)
        inner = "; ".join(f"{b.authors_short(k, where)}, {b.year(k, where)}" for k in keys)
        return f"({inner})"

    def reference_list(self) -> str:
        """The markdown of a "References" section for the keys cited so far."""
        lines = ["## References", ""]
        lines += [f"- {self.bibliography.reference(k)}" for k in self.bibliography.sort(self.cited)]
        return "\n".join(lines)


def _closing(lines: list[str], start: int, fence: str) -> int:
    """The index of the line that closes ``fence`` (or the last line), skipping code blocks
    nested inside (a ```bash block inside a ```{admonition} would otherwise close it)."""
    i = start
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
            return i
        nested = FENCE_OPEN.match(lines[i]) or CODE_FENCE_OPEN.match(lines[i])
        if nested and stripped != nested["fence"]:  # an opening fence with an info string
            i = _closing(lines, i + 1, nested["fence"])
        i += 1
    return len(lines)


def count_myst(text: str) -> int:
    """How many MyST constructs (roles, directive fences, targets, options, comments)."""
    return len(MYST_CONSTRUCTS.findall(text))
