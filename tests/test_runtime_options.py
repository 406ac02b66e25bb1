"""``RuntimeOptions``: declared once, checked from its fields' metadata, and the same
options on every command that runs something."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cxgrad.cli import build_parser
from cxgrad.errors import ConfigError
from cxgrad.options import flag
from cxgrad.runs.runtime import RuntimeOptions


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"path": "diagonal"}, r"unknown path 'diagonal'; choose one of auto, sequential.*--path"),
        ({"cuda_graph": "maybe"}, r"unknown cuda graph 'maybe'.*--cuda-graph"),
        ({"threads": 0}, r"--threads must be >= 1, got 0"),
    ],
)
def test_bad_values_are_refused_naming_the_option(changes, message):
    with pytest.raises(ConfigError, match=message):
        RuntimeOptions(**changes)


def test_an_unknown_keyword_names_the_options_there_are():
    with pytest.raises(TypeError, match=r"unknown runtime option\(s\) devcie; .*device"):
        RuntimeOptions.of(devcie="cpu")


def test_of_applies_keywords_on_top_of_given_options():
    base = RuntimeOptions(device="cpu", progress=False)
    assert RuntimeOptions.of(base, threads=2) == RuntimeOptions(
        device="cpu", progress=False, threads=2
    )
    assert RuntimeOptions.of() == RuntimeOptions()
    assert base.replace(path="batched").path == "batched" and base.path == "auto"


def test_threads_are_applied_only_when_given():
    before = torch.get_num_threads()
    try:
        RuntimeOptions().apply_threads()
        assert torch.get_num_threads() == before
        RuntimeOptions(threads=1).apply_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def _subcommand(parser, *names):
    for name in names:
        action = next(a for a in parser._actions if a.dest.endswith("command"))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        (("train",), ("device", "path", "cuda_graph", "data_root", "progress", "threads")),
        (("evaluate",), ("device", "path", "data_root", "progress", "threads")),
        (("sweep", "run"), ("device", "data_root", "progress", "threads")),
        (("data", "prepare"), ("data_root", "progress")),
    ],
)
def test_every_command_spells_its_runtime_options_from_the_fields(command, fields):
    """The flags come from the fields' metadata, so a field renamed or added shows up on
    every command at once; the parsed values build a valid ``RuntimeOptions``."""
    parser = _subcommand(build_parser(), *command)
    by_dest = {a.dest: a for a in parser._actions}
    declared = {f.name: f for f in dataclasses.fields(RuntimeOptions)}
    for name in fields:
        assert flag(declared[name]) in by_dest[name].option_strings


def test_the_command_line_builds_the_options_it_was_given(tmp_path):
    from cxgrad.cli import _runtime

    args = build_parser().parse_args(
        ["train", "--out", str(tmp_path), "--device", "cpu", "--path", "batched"]
        + ["--threads", "2", "--no-progress", "--data-root", "d"]
    )
    assert _runtime(args) == RuntimeOptions(
        device="cpu", path="batched", threads=2, progress=False, data_root="d"
    )
    sweep = build_parser().parse_args(["sweep", "run"])
    assert _runtime(sweep).threads == 1  # a sweep's runs default to one thread each
