"""The records as Markdown tables and notes (the README, chapter 11 and ``cxgrad sweep table``)."""

from __future__ import annotations

from typing import Any

from cxgrad.hardware import cpu_name
from cxgrad.records.catalogue import CONFIGURATIONS, DECIDING_CONFIGURATIONS, PAIRS, PLANNED_SEEDS
from cxgrad.records.statistics import EQUIVALENCE_MARGIN, _test, mean_and_ci95, paired_comparisons


def summary_rows(
    records: dict[str, dict[int, dict[str, Any]]], dataset: str | None = None
) -> list[dict[str, Any]]:
    """One row per configuration: mean test accuracy over seeds and its t interval (on
    ``dataset``'s test tasks when given; configurations not tested there are left out)."""
    rows = []
    for name in [n for n in CONFIGURATIONS if n in records]:
        seeds = sorted(records[name])
        if dataset is not None and any(
            dataset not in records[name][s].get("cross_domain", {}) for s in seeds
        ):
            continue
        accs = [_test(records[name][s], dataset)["accuracy"] for s in seeds]
        mean, ci = mean_and_ci95(accs)
        rows.append(
            {
                "name": name,
                "description": CONFIGURATIONS[name][0],
                "seeds": len(accs),
                "accuracy": mean,
                "ci95_seeds": ci,
                "per_seed": accs,
            }
        )
    return rows


def markdown_comparisons(
    records: dict[str, dict[int, dict[str, Any]]], pairs: list[tuple[str, str]] = PAIRS
) -> str:
    """The paired comparisons whose configurations share two or more seeds, as a table (an
    empty string where no pair does)."""
    margin = f"{100 * EQUIVALENCE_MARGIN:g}"
    lines = [
        "| comparison | seeds | difference | 95% CI over seeds | paired CI over tasks | "
        f"difference test | TOST p (margin +-{margin} point) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (a, b), c in paired_comparisons(records, pairs).items():
        lines.append(
            f"| `{a}` - `{b}` | {len(c.seeds)} | {100 * c.difference:+.2f} points | "
            f"+-{100 * c.ci95_seeds:.2f} | +-{100 * c.ci95_tasks:.2f} | {c.verdict()} | "
            f"{c.equivalence_p:.3f} | {c.equivalence_verdict()} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def planned_size_note(records: dict[str, dict[int, dict[str, Any]]]) -> str:
    """How far the deciding configurations are from the planned size of record: their
    verdicts are read at ``PLANNED_SEEDS`` seeds, and a "not distinguishable" before that is
    provisional."""
    have = {name: len(records.get(name, {})) for name in DECIDING_CONFIGURATIONS}
    fewest = min(have.values())
    counts = ", ".join(f"{name} {n}" for name, n in have.items())
    if fewest >= PLANNED_SEEDS:
        return (
            f"Planned size of record reached: {PLANNED_SEEDS} seeds of each deciding "
            f"configuration ({counts}); the verdicts above are final at that size."
        )
    return (
        f"Planned size of record: {PLANNED_SEEDS} seeds of each deciding configuration "
        f"(cxgrad sweep plan); these records hold {counts}: the verdicts of the deciding "
        "comparisons are provisional until every one has its planned seeds."
    )


def markdown_table(records: dict[str, dict[int, dict[str, Any]]]) -> str:
    lines = [
        "| configuration | what | seeds | test accuracy (mean) | 95% CI over seeds | per seed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in summary_rows(records):
        per_seed = ", ".join(f"{100 * a:.2f}" for a in row["per_seed"])
        ci = "one seed" if row["seeds"] < 2 else f"+-{100 * row['ci95_seeds']:.2f}"
        lines.append(
            f"| `{row['name']}` | {row['description']} | {row['seeds']} | "
            f"{100 * row['accuracy']:.2f}% | {ci} | {per_seed} |"
        )
    note = hardware_note(records)
    return "\n".join(lines) + (f"\n\n{note}" if note else "")


def hardware_note(records: dict[str, dict[int, dict[str, Any]]], here: str | None = None) -> str:
    """Where the records were made, and whether that is this machine.

    A record retrained on another CPU or with another thread count rounds differently and
    ends at a slightly different model (``drift`` bounds the first iterations), so what the
    records decide must rest on statistics over seeds, never on bit-identical reruns."""
    made = sorted(
        {
            f"{r['hardware']['cpu']}, {r['hardware']['threads']} thread(s), "
            f"torch {r['hardware']['torch']}, "
            f"{r['hardware'].get('kernels', 'CPU kernels not recorded')}"
            for seeds in records.values()
            for r in seeds.values()
            if "hardware" in r
        }
    )
    if not made:
        return ""
    note = f"Records made on {'; '.join(made)}."
    here = here if here is not None else cpu_name()
    if any(not m.startswith(f"{here},") for m in made):
        note += (
            f" This machine is {here}: retrained here, a run would round differently and end "
            "at a slightly different model; the comparisons are statistics over seeds and do "
            "not depend on bit-identical reruns."
        )
    return note
