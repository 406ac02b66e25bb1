"""cxgrad sweep: configurations x seeds through submitit, here and on a real SLURM cluster.

The ``slurm`` tests start a one-node cluster (tests/slurm_cluster.py) once per session and
run the sweep command against it with tiny synthetic runs. They are skipped where the
cluster's programs (or root) are missing, and fail instead under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from helpers import tiny_run_config
from slurm_cluster import missing_binaries, one_node_cluster

from cxgrad.cli import main
from cxgrad.errors import ConfigError
from cxgrad.records import kept_seeds, load_record_model, nth_kept_model
from cxgrad.runs import RunDir, RuntimeOptions, load_checkpoint
from cxgrad.sweeps import format_status, plan, sweep_status
from cxgrad.sweeps.executors import Resources, check, minutes, sbatch_parameters
from cxgrad.sweeps.job import RecordJob, RunOptions

TINY = {k: v for k, v in tiny_run_config().to_dict().items() if v is not None and k != "seed"}
# fails inside the job, after it started: 1 shot + 500 queries per class is more than
# the synthetic classes hold (a DataError at data loading)
BROKEN = dict(TINY, queries=500)
SWEEP = {
    "configurations": {
        "tiny-cxgrad": dict(TINY, description="tiny CxGrad"),
        "tiny-maml": dict(TINY, method="maml"),
        "broken": BROKEN,
    }
}
# What must be equal between two records of the same run, wherever and however it ran
# (not: timestamps, hostnames, seconds, the job's log).
SAME = ("config", "losses", "accuracies", "best", "description")


def _sweep_file(tmp_path: Path, sweep: dict = SWEEP) -> Path:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(sweep))
    return path


def _same_parts(record: dict) -> dict:
    parts = {k: record[k] for k in SAME}
    parts["validations"] = [(v["iteration"], v["val_accuracy"]) for v in record["validations"]]
    test = record["test"]
    parts["test"] = (test["accuracy"], test["tasks"], test["task_accuracies"])
    return parts


def _records(results: Path) -> dict[str, dict]:
    return {p.stem: _same_parts(json.loads(p.read_text())) for p in results.glob("*.json")}


def _sweep(tmp: Path, *options: str) -> list[str]:
    """The common options of a sweep into ``tmp``: CPU, a few test tasks, no bar."""
    return [
        "sweep",
        "run",
        "--runs",
        str(tmp / "runs"),
        "--results",
        str(tmp / "results"),
        "--test-tasks",
        "4",
        "--device",
        "cpu",
        "--no-progress",
        *options,
    ]


# ------------------------------------------------------------------ plans and errors
def test_unknown_configuration_names_the_valid_ones(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown configuration 'mamll'.*maml, cxgrad.*synthetic"):
        plan(["mamll"], [0])
    assert main(_sweep(tmp_path, "--configs", "cxgrad", "mamll")) == 2
    err = capsys.readouterr().err
    assert "unknown configuration 'mamll'" in err and "cxgrad-frozen" in err
    assert "miniimagenet-5w1s" in err  # the presets too
    assert not (tmp_path / "runs").exists()  # refused before anything was submitted
    with pytest.raises(ConfigError, match="the sweep file's configurations"):
        plan(["tiny"], [0], file=_sweep_file(tmp_path))


def test_record_configurations_presets_and_files_make_runs(tmp_path):
    runs = plan(["maml", "synthetic-demo"], [0, 1], iterations=40, test_tasks=10)
    assert [r.key for r in runs] == [
        "maml-seed0",
        "synthetic-demo-seed0",
        "maml-seed1",
        "synthetic-demo-seed1",
    ]
    assert runs[0].config.iterations == 40 and runs[0].config.val_every == 10
    assert runs[0].config.dataset == "omniglot" and runs[3].config.seed == 1
    assert runs[1].command == (
        "cxgrad sweep run --configs synthetic-demo --seeds 0 --iterations 40 --test-tasks 10"
    )
    path = tmp_path / "sweep.toml"
    path.write_text(
        'seeds = [3]\n[configurations.slow-cx]\nbase = "cxgrad"\n'
        'description = "beta 0.1"\ncontext_lr = 0.1\n'
    )
    (run,) = plan(None, None, file=path)
    assert (run.key, run.description, run.config.context_lr) == ("slow-cx-seed3", "beta 0.1", 0.1)
    assert run.config.method == "cxgrad" and run.config.seed == 3
    path.write_text('[configurations.x]\nbase = "cxgrad"\nseed = 4\n')
    with pytest.raises(ConfigError, match="sets seed; seeds come from --seeds"):
        plan(None, None, file=path)
    path.write_text('[configurations.x]\nbase = "cxgrad"\ncontext_rate = 4\n')
    with pytest.raises(
        ConfigError, match=r"configuration 'x'.*unknown option\(s\) \['context_rate'"
    ):
        plan(None, None, file=path)
    path.write_text("[configurations.x\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        plan(None, None, file=path)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--mem", "16GB", "--mem '16GB' is not an amount of memory.*16G, 8000M"),
        ("--time", "1 day", "--time '1 day' is not a time limit.*HH:MM:SS"),
        ("--time", "0", "--time '0' is under a minute"),
        ("--cpus", "0", "--cpus 0: must be an integer >= 1"),
        ("--workers", "0", "--workers 0: must be an integer >= 1"),
        ("--array-limit", "0", "--array-limit 0: must be an integer >= 1"),
        ("--sbatch-arg", "account=lab", "--sbatch-arg 'account=lab'.*--sbatch-arg=--account"),
    ],
)
def test_bad_resource_values_are_named_with_their_fix(tmp_path, capsys, option, value, message):
    assert main(_sweep(tmp_path, "--configs", "maml", f"{option}={value}")) == 2
    assert re.search(message, capsys.readouterr().err), message


def test_time_limits_and_sbatch_options_parse_as_slurm_reads_them():
    assert [minutes(t) for t in ("90", "90:30", "24:00:00", "2-00:00:00", "1-12", "0-1:30")] == [
        90,
        90,
        1440,
        2880,
        2160,
        90,
    ]
    assert sbatch_parameters(("--account=lab", "--exclusive", "--mail-type=END")) == {
        "account": "lab",
        "exclusive": True,
        "mail_type": "END",
    }


def test_slurm_executor_without_sbatch_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(ConfigError, match="needs SLURM's sbatch, which is not on PATH"):
        check(Resources(executor="slurm"))
    assert main(_sweep(tmp_path, "--configs", "maml", "--executor", "slurm")) == 2
    assert "--executor local" in capsys.readouterr().err


# ------------------------------------------------------------------ status
def test_status_counts_each_state_and_shows_failures(tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    (runs / "sweep" / "state").mkdir(parents=True)
    (runs / "sweep" / "logs").mkdir()
    log = runs / "sweep" / "logs" / "7_0_log.err"
    log.write_text("Traceback\nDataError: not enough images\n")
    manifest = {
        "executor": "local",
        "results": str(results),
        "logs": str(runs / "sweep" / "logs"),
        "runs": {
            f"{name}-seed{seed}": {"name": name, "seed": seed, "job_id": "7", "log": str(log)}
            for name in ("a", "b")
            for seed in (0, 1)
        },
    }
    (runs / "sweep" / "sweep.json").write_text(json.dumps(manifest))
    results.mkdir()
    (results / "a-seed0.json").write_text("{}")
    state = runs / "sweep" / "state"
    (state / "a-seed1.json").write_text(json.dumps({"state": "failed", "error": ["E: boom"]}))
    running = {"state": "running", "host": os.uname().nodename, "pid": os.getpid()}
    (state / "b-seed0.json").write_text(json.dumps(running))
    gone = dict(running, pid=2**22 + 12345)  # no such process: the run was killed
    (state / "b-seed1.json").write_text(json.dumps(gone))
    statuses = {s.key: s.state for s in sweep_status(runs)}
    assert statuses == {
        "a-seed0": "done",
        "a-seed1": "failed",
        "b-seed0": "running",
        "b-seed1": "failed",
    }
    text = format_status(sweep_status(runs))
    assert text.splitlines()[1].split() == ["a", "1", "0", "0", "1"]
    assert text.splitlines()[3].split() == ["all", "1", "1", "0", "2"]
    assert "a-seed1: failed: E: boom" in text and f"log: {log}" in text
    assert "DataError: not enough images" in text and "stopped before it finished" in text
    with pytest.raises(ConfigError, match="no sweep in .*pass the --runs folder"):
        sweep_status(tmp_path / "nothing")


# ------------------------------------------------------------------ local executor
@pytest.mark.integration
def test_local_sweep_records_reports_failures_and_skips_finished_runs(tmp_path, capsys):
    file = _sweep_file(tmp_path)
    args = _sweep(tmp_path, "--file", str(file), "--configs", "tiny-maml", "broken")
    assert main([*args, "--seeds", "0", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "broken-seed0: FAILED; log: " in err and "shots + queries <= 20" in err
    log = Path(err.split("broken-seed0: FAILED; log: ")[1].split()[0])
    assert log.exists() and "DataError" in log.read_text()
    record = json.loads((tmp_path / "results" / "tiny-maml-seed0.json").read_text())
    assert record["config"]["method"] == "maml" and len(record["losses"]) == 6
    assert record["test"]["tasks"] == 4 and record["hardware"]["threads"] == 1
    # the model the record was tested with is kept beside it, and reads back as that run's
    assert kept_seeds("tiny-maml", tmp_path / "results") == [0]
    config, params = load_record_model("tiny-maml", 0, tmp_path / "results")
    tested = RunDir(tmp_path / "runs" / "tiny-maml-seed0")
    best = load_checkpoint(tested.checkpoints / tested.read_best()[0]["file"])
    assert config.to_dict() == record["config"]
    assert all(torch.equal(params[k], best["params"][k]) for k in best["params"])
    with pytest.raises(ConfigError, match="no kept model of record 'tiny-maml' seed 1.*seeds "):
        load_record_model("tiny-maml", 1, tmp_path / "results")
    seed, _, first = nth_kept_model("tiny-maml", 0, tmp_path / "results")
    assert seed == 0 and all(torch.equal(first[k], params[k]) for k in params)
    with pytest.raises(ConfigError, match="1 kept model.*no model number 1; choose 0 to 0"):
        nth_kept_model("tiny-maml", 1, tmp_path / "results")
    with pytest.raises(ConfigError, match="'igs' has no kept model.*--configs igs"):
        nth_kept_model("igs", 0, tmp_path / "results")
    assert main(["sweep", "status", "--runs", str(tmp_path / "runs")]) == 0
    status = capsys.readouterr().out
    assert [line.split() for line in status.splitlines()[1:3]] == [
        ["tiny-maml", "1", "0", "0", "0"],
        ["broken", "0", "0", "0", "1"],
    ]
    assert "broken-seed0: failed" in status and "shots + queries" in status
    # the finished run is skipped; only the broken one is tried again
    assert main([*args, "--seeds", "0"]) == 1
    assert "1 of 2 run(s) to do" in capsys.readouterr().err


# ------------------------------------------------------------------ a real SLURM cluster
@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    missing = missing_binaries()
    reason = None
    if missing:
        reason = (
            f"SLURM test cluster: {', '.join(missing)} not found; apt-get install slurm-wlm "
            "munge slurmdbd mariadb-server"
        )
    elif os.geteuid() != 0:
        reason = "SLURM test cluster: slurmd must run as root to run the test jobs"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must run the SLURM tests)")
        pytest.skip(reason)
    previous = os.environ.get("SLURM_CONF")
    with one_node_cluster(tmp_path_factory.mktemp("slurm")) as env:
        os.environ["SLURM_CONF"] = env["SLURM_CONF"]
        try:
            yield env
        finally:
            if previous is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = previous


@pytest.fixture(scope="module")
def slurm_sweep(slurm_cluster, tmp_path_factory):
    """2 configurations x 2 seeds and a failing configuration, as one SLURM job array."""
    tmp = tmp_path_factory.mktemp("slurm-sweep")
    file = _sweep_file(tmp)
    started = time.monotonic()
    code = main(_sweep(tmp, "--file", str(file), "--seeds", "0", "1", "--executor", "slurm"))
    return tmp, code, time.monotonic() - started


@pytest.mark.slurm
def test_slurm_sweep_records_equal_the_local_executors(slurm_sweep, tmp_path, capsys):
    tmp, _, _ = slurm_sweep
    file = _sweep_file(tmp_path)
    local = _sweep(tmp_path, "--file", str(file), "--seeds", "0", "1", "--workers", "2")
    assert main([*local, "--configs", "tiny-cxgrad", "tiny-maml"]) == 0
    slurm, here = _records(tmp / "results"), _records(tmp_path / "results")
    assert (
        sorted(slurm)
        == sorted(here)
        == [f"tiny-{m}-seed{s}" for m in ("cxgrad", "maml") for s in (0, 1)]
    )
    for key in slurm:
        assert slurm[key] == here[key], key


@pytest.mark.slurm
def test_slurm_sweep_reports_a_failing_configuration_while_the_others_finish(slurm_sweep, capsys):
    tmp, code, _ = slurm_sweep
    assert code == 1
    statuses = {s.key: s for s in sweep_status(tmp / "runs")}
    assert {k for k, s in statuses.items() if s.state == "done"} == {
        f"tiny-{m}-seed{s}" for m in ("cxgrad", "maml") for s in (0, 1)
    }
    for seed in (0, 1):
        broken = statuses[f"broken-seed{seed}"]
        assert broken.state == "failed" and "shots + queries <= 20" in broken.detail
        assert Path(broken.log).exists() and "DataError" in Path(broken.log).read_text()
    assert main(["sweep", "status", "--runs", str(tmp / "runs")]) == 0
    out = capsys.readouterr().out
    assert "broken-seed1: failed" in out and "log: " in out


def _slurm_job_of(runs: Path, key: str) -> str | None:
    manifest = runs / "sweep" / "sweep.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text())["runs"].get(key, {}).get("job_id")


def _checkpointed(run_dir: Path) -> int:
    last = run_dir / "checkpoints" / "last.pt"
    try:
        return int(torch.load(last, weights_only=False)["iteration"]) if last.exists() else 0
    except Exception:  # written at this moment (atomically, but the name may be new)
        return 0


def _release(job: str, timeout: float = 60) -> None:
    """SLURM holds a requeued job back for about two minutes (its begin time); start it
    as soon as it is pending again, so that the test does not wait for that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
        if state == "PENDING":
            update = ["scontrol", "update", f"JobId={job}", "StartTime=now"]
            if subprocess.run(update, capture_output=True, timeout=20).returncode == 0:
                return
        elif state in ("RUNNING", ""):
            return
        time.sleep(0.3)


@pytest.mark.slurm
def test_a_requeued_slurm_job_resumes_and_ends_with_the_uninterrupted_record(
    slurm_cluster, tmp_path
):
    # long enough (tens of seconds on an idle CPU) that the requeue lands before the run
    # ends: with 100 iterations an idle machine sometimes finished it first
    long = dict(TINY, iterations=400, val_every=10)
    file = _sweep_file(tmp_path, {"configurations": {"long": long}})
    args = _sweep(tmp_path, "--file", str(file), "--seeds", "0", "--executor", "slurm")
    codes: list[int] = []
    sweep = threading.Thread(target=lambda: codes.append(main(args)))
    sweep.start()
    run_dir = tmp_path / "runs" / "long-seed0"
    deadline = time.monotonic() + 120
    while _checkpointed(run_dir) < 10 and sweep.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    job = _slurm_job_of(tmp_path / "runs", "long-seed0")
    assert job and _checkpointed(run_dir) < long["iterations"], "the run ended before requeue"
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=20)
    _release(job)
    sweep.join(timeout=240)
    assert not sweep.is_alive() and codes == [0]
    state = json.loads((tmp_path / "runs" / "sweep" / "state" / "long-seed0.json").read_text())
    assert state["attempt"] == 2 and state["resumed_from"] >= 10, state
    # the same run, uninterrupted, in this process
    (run,) = plan(None, [0], file=file)
    reference = tmp_path / "reference"
    runtime = RuntimeOptions(device="cpu", threads=1, progress=False)
    options = RunOptions(reference / "runs", reference / "results", test_tasks=4, runtime=runtime)
    threads = torch.get_num_threads()
    try:
        RecordJob()(run, options)
    finally:
        torch.set_num_threads(threads)
    assert _records(tmp_path / "results") == _records(reference / "results")
