"""A one-node SLURM cluster for the sweep tests: munged, mariadbd, slurmdbd, slurmctld and
slurmd, each started in the foreground by ``one_node_cluster`` and stopped when it ends.

Everything lives in a temporary folder with ports of its own, except munged's socket:
``sacct`` and ``sacctmgr`` only talk to the default ``/run/munge/munge.socket.2``, so a
munged already listening there is used as it is, and one is started there otherwise.
Accounting (slurmdbd on mariadb) is what lets submitit read job states with ``sacct``.
Needs root (slurmd runs the jobs) and Debian's slurm-wlm, munge, slurmdbd, mariadb-server.

    python tests/slurm_cluster.py     # start one, print its SLURM_CONF, stop on Enter
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "sacct", "sacctmgr", "scontrol", "sinfo", "squeue", "scancel")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
CLUSTER = "cxgradtest"


def missing_binaries() -> list[str]:
    """The programs of the cluster that are not on PATH (or in /usr/sbin)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [b for b in DAEMONS + CLIENTS if shutil.which(b, path=path) is None]


def _which(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert found, name
    return found


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait(what: str, ready, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    tails = "\n".join(
        f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in logs
        if log.exists()
    )
    raise RuntimeError(f"the test cluster's {what} did not come up in {timeout:.0f} s\n{tails}")


def _ok(*command: str, env: dict[str, str] | None = None) -> bool:
    result = subprocess.run(command, capture_output=True, env=env, timeout=20)
    return result.returncode == 0


def _munge_works() -> bool:
    if not MUNGE_SOCKET.exists():
        return False
    munge = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if munge.returncode != 0:
        return False
    return _ok_input(["unmunge"], munge.stdout)


def _ok_input(command: list[str], data: bytes) -> bool:
    return subprocess.run(command, input=data, capture_output=True, timeout=10).returncode == 0


def _slurm_conf(tmp: Path, ports: dict[str, int]) -> str:
    host = socket.gethostname().split(".")[0]
    return f"""\
ClusterName={CLUSTER}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports["slurmctld"]}
SlurmdPort={ports["slurmd"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={tmp}/state
SlurmdSpoolDir={tmp}/spool
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={tmp}/slurmctld.log
SlurmdLogFile={tmp}/slurmd.log
# no cgroups in a container: track processes by their parents, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
# submitit ignores SIGTERM: a requeued job dies only at SIGKILL, KillWait seconds later;
# 0, so that a run cannot finish between the requeue and the kill
KillWait=0
MessageTimeout=10
SchedulerParameters=sched_interval=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports["slurmdbd"]}
JobAcctGatherType=jobacct_gather/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _slurmdbd_conf(tmp: Path, ports: dict[str, int]) -> str:
    return f"""\
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={ports["slurmdbd"]}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["mariadb"]}
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={tmp}/slurmdbd.pid
LogFile={tmp}/slurmdbd.log
"""


@contextlib.contextmanager
def one_node_cluster(tmp: Path, timeout: float = 60) -> Iterator[dict[str, str]]:
    """Start the cluster in ``tmp``; yield the environment that reaches it (SLURM_CONF)."""
    tmp = Path(tmp)
    for sub in ("state", "spool", "munge", "db"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    ports = dict(zip(("slurmctld", "slurmd", "slurmdbd", "mariadb"), _free_ports(4), strict=True))
    conf = tmp / "slurm.conf"
    conf.write_text(_slurm_conf(tmp, ports))
    dbd_conf = tmp / "slurmdbd.conf"  # slurmdbd reads it beside slurm.conf
    dbd_conf.write_text(_slurmdbd_conf(tmp, ports))
    dbd_conf.chmod(0o600)
    env = dict(os.environ, SLURM_CONF=str(conf))
    started: list[subprocess.Popen] = []

    def start(log: str, *command: str) -> subprocess.Popen:
        out = open(tmp / log, "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        started.append(process)
        return process

    try:
        if not _munge_works():
            key = tmp / "munge" / "munge.key"
            key.write_bytes(os.urandom(1024))
            key.chmod(0o600)
            MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            munge_dir = tmp / "munge"
            start(
                "munged.out",
                _which("munged"),
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--pid-file={munge_dir}/munged.pid",
                f"--log-file={munge_dir}/munged.log",
                f"--seed-file={munge_dir}/munged.seed",
            )
            _wait("munged", _munge_works, timeout, [munge_dir / "munged.log"])
        subprocess.run(
            [
                _which("mariadb-install-db"),
                "--user=root",
                f"--datadir={tmp}/db",
                "--skip-test-db",
                # a password-less root over TCP: the default (unix socket) refuses slurmdbd
                "--auth-root-authentication-method=normal",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        start(
            "mariadbd.log",
            _which("mariadbd"),
            "--user=root",
            f"--datadir={tmp}/db",
            f"--socket={tmp}/mariadb.sock",
            f"--port={ports['mariadb']}",
            "--bind-address=127.0.0.1",
            f"--pid-file={tmp}/mariadbd.pid",
        )
        _wait("mariadb", lambda: _port_open(ports["mariadb"]), timeout, [tmp / "mariadbd.log"])
        start("slurmdbd.out", _which("slurmdbd"), "-D")
        _wait("slurmdbd", lambda: _port_open(ports["slurmdbd"]), timeout, [tmp / "slurmdbd.log"])
        _wait(
            "cluster registration",
            lambda: (
                _ok(_which("sacctmgr"), "-i", "add", "cluster", CLUSTER, env=env)
                or _ok(_which("sacctmgr"), "-n", "show", "cluster", CLUSTER, env=env)
            ),
            timeout,
            [tmp / "slurmdbd.log"],
        )
        start("slurmctld.out", _which("slurmctld"), "-D", "-i")
        start("slurmd.out", _which("slurmd"), "-D")
        _wait(
            "node",
            lambda: _node_state(env) == "idle",
            timeout,
            [tmp / "slurmctld.log", tmp / "slurmd.log"],
        )
        yield env
    finally:
        if any(p.poll() is None for p in started if "slurmctld" in str(p.args)):
            # Jobs first: with proctrack/linuxproc a job outlives a stopped slurmd.
            subprocess.run([_which("scancel"), "--full", "-u", "root"], env=env, timeout=20)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _queue(env):
                time.sleep(0.5)
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _node_state(env: dict[str, str]) -> str:
    result = subprocess.run(
        [_which("sinfo"), "-h", "-o", "%T"], capture_output=True, text=True, env=env, timeout=20
    )
    return result.stdout.strip()


def _queue(env: dict[str, str]) -> str:
    result = subprocess.run(
        [_which("squeue"), "-h", "-o", "%i"], capture_output=True, text=True, env=env, timeout=20
    )
    return result.stdout.strip()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder, one_node_cluster(Path(folder)) as cluster:
        print(f"export SLURM_CONF={cluster['SLURM_CONF']}")
        input("cluster up; Enter stops it ")
