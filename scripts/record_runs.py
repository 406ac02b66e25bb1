"""The results of record (cxgrad.records), made by ``cxgrad sweep run``: this script is that
command with the options it always had.

    python scripts/record_runs.py                        # the comparison set, seeds 0-2
    python scripts/record_runs.py --configs maml-alpha0.1 maml-alpha0.4 boil boil-alpha0.1 \\
        boil-alpha0.4                                    # the inner-step sweep
    python scripts/record_runs.py --table                # print the summary of results/

Every other option is passed on to ``cxgrad sweep run`` (``--executor slurm``,
``--workers``, ``--seeds``, ``--force``, ...; see ``cxgrad sweep run --help``). Runs live
in ``runs/records`` of the repository and train on the CPU, as the records did.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cxgrad.cli import main as cxgrad

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--table" in argv:
        argv.remove("--table")
        return cxgrad(["sweep", "table", *argv])
    defaults = []
    if not any(a == "--runs" or a.startswith("--runs=") for a in argv):
        defaults += ["--runs", str(REPO / "runs" / "records")]
    if not any(a == "--device" or a.startswith("--device=") for a in argv):
        defaults += ["--device", "cpu"]  # the records were trained on a CPU
    return cxgrad(["sweep", "run", *defaults, *argv])


if __name__ == "__main__":
    sys.exit(main())
