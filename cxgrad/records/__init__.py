"""Results of record: CxGrad and its controls trained at a size that resolves them.

The chapters train small models live, a few hundred iterations each, which cannot separate
methods a few points apart. The runs named here are trained once, with several seeds, by
``cxgrad sweep run`` (``cxgrad.sweeps``), and each leaves one JSON file under ``results/``: the
configuration, the commit that trained it, the training curve, and the test accuracy with
both 95% intervals and every test task's accuracy; the model it tested is kept beside it
(``records.models``). All runs are tested on the same seeded
test tasks, so two configurations can be compared task by task (a paired comparison).

Every configuration is the course's standard Omniglot run (``cxgrad.runs.omniglot_config``:
5-way 1-shot, alphabet-disjoint split, 28x28, Conv4 with 32 filters, the paper's alpha,
beta and eta, 5 second-order inner steps, meta-batch 4) with one thing changed.
"""

from cxgrad.records.catalogue import (
    COMPARISON,
    CONFIGURATIONS,
    CONTEXT_JOB_PAIRS,
    CONTEXT_JOBS,
    DECIDING_CONFIGURATIONS,
    DECIDING_PAIRS,
    LONG_CONFIGURATIONS,
    LONG_RECORD_ITERATIONS,
    LONG_RESULTS_DIR,
    PAIRS,
    PLAN_FROM_SEEDS,
    PLANNED_SEEDS,
    RECORD_ITERATIONS,
    RECORD_TEST_TASKS,
    RESULTS_DIR,
    SWEEP,
    load_records,
    record_config,
    record_path,
)
from cxgrad.records.drift import (
    DRIFT_FIRST_RTOL,
    DRIFT_ITERATIONS,
    DRIFT_LATER_RTOL,
    drift,
    retrain_losses,
)
from cxgrad.records.models import (
    keep_record_model,
    kept_seeds,
    load_record_model,
    model_path,
    nth_kept_model,
)
from cxgrad.records.power import SampleSize, plan_sample_size, seeds_for_equivalence, tost_power
from cxgrad.records.run import run_record
from cxgrad.records.statistics import (
    EQUIVALENCE_ALPHA,
    EQUIVALENCE_MARGIN,
    Comparison,
    comparable,
    compare,
    mean_and_ci95,
    paired_comparisons,
    sample_size_plan,
)
from cxgrad.records.tables import (
    hardware_note,
    markdown_comparisons,
    markdown_table,
    planned_size_note,
    summary_rows,
)

__all__ = [
    "COMPARISON",
    "CONFIGURATIONS",
    "CONTEXT_JOBS",
    "CONTEXT_JOB_PAIRS",
    "Comparison",
    "DECIDING_CONFIGURATIONS",
    "DECIDING_PAIRS",
    "DRIFT_FIRST_RTOL",
    "DRIFT_ITERATIONS",
    "DRIFT_LATER_RTOL",
    "EQUIVALENCE_ALPHA",
    "EQUIVALENCE_MARGIN",
    "LONG_CONFIGURATIONS",
    "LONG_RECORD_ITERATIONS",
    "LONG_RESULTS_DIR",
    "PAIRS",
    "PLANNED_SEEDS",
    "PLAN_FROM_SEEDS",
    "RECORD_ITERATIONS",
    "RECORD_TEST_TASKS",
    "RESULTS_DIR",
    "SWEEP",
    "SampleSize",
    "comparable",
    "compare",
    "drift",
    "hardware_note",
    "keep_record_model",
    "kept_seeds",
    "load_record_model",
    "load_records",
    "markdown_comparisons",
    "markdown_table",
    "mean_and_ci95",
    "model_path",
    "nth_kept_model",
    "paired_comparisons",
    "plan_sample_size",
    "planned_size_note",
    "record_config",
    "record_path",
    "retrain_losses",
    "run_record",
    "sample_size_plan",
    "seeds_for_equivalence",
    "summary_rows",
    "tost_power",
]
