"""A single-node Slurm cluster on localhost for the tests: munged, slurmctld and slurmd.

Everything lives under one directory: munge's key, socket, pid, seed and log files, and Slurm's
``slurm.conf``, state, spool, pid and log files; the daemons listen on free ports, so a second
cluster (another pytest-xdist worker) or a system Slurm can run beside it. Clients find it
through ``SLURM_CONF`` (:attr:`SlurmCluster.env`), which ``sbatch`` hands on to the jobs (its
default ``--export=ALL``), so ``srun`` and ``scontrol`` inside a job find it too.

The cluster is the smallest one Slurm runs: one node with this machine's CPUs and memory, one
default partition, ``proctrack/linuxproc`` and ``task/none`` (no cgroups), and no accounting
storage (no slurmdbd), so ``sacct`` fails here as on any cluster without accounting.

Needs Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them) and root (slurmd starts
jobs as their users).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

#: The daemons; the cluster cannot start without any of them.
DAEMONS = ("munged", "slurmctld", "slurmd")
#: The client commands the tests and submitit use.
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel", "sacct")
#: Seconds to wait for the node to come up idle (generous: the machine may be loaded).
START_TIMEOUT_S = 120
NODE = "localhost"
PARTITION = "debug"


def _which(name: str) -> str | None:
    """``name`` on PATH, or in the sbin directories (daemons), or None."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def missing() -> str | None:
    """Why a cluster cannot start here (a sentence), or None if it can."""
    absent = [name for name in (*DAEMONS, *CLIENTS) if _which(name) is None]
    if absent:
        return (
            f"Slurm is not installed ({', '.join(absent)} not found): "
            "apt-get install slurm-wlm munge"
        )
    if os.geteuid() != 0:
        return "a local Slurm cluster needs root (slurmd starts jobs as their users)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mem_mb() -> int:
    """Total memory in MB (as ``slurmd -C`` counts it: /proc/meminfo's MemTotal)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


class SlurmCluster:
    """A running single-node cluster under ``root`` (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.cpus = os.cpu_count() or 1
        self._procs: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process that talks to this cluster: ``os.environ`` with
        ``SLURM_CONF``."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        """Write the munge key and ``slurm.conf``."""
        munge = self.munge_socket.parent
        munge.mkdir(mode=0o700, parents=True)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for d in ("state", "spool", "log"):
            (self.root / d).mkdir(mode=0o755)
        # A node that reports more than the config says is fine; config_overrides keeps it
        # from being drained over small differences (e.g. memory the kernel reserves).
        mem = int(_mem_mb() * 0.9)
        lines = [
            f"ClusterName=bnnrun{os.getpid()}",
            f"SlurmctldHost={NODE}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            # cred_expire is also how long a requeued job waits before it may start again
            # (default 120 s).
            f"AuthInfo=socket={self.munge_socket},cred_expire=10",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            # Schedule every few seconds, not every minute: a requeued job restarts promptly.
            "SchedulerParameters=sched_interval=2,bf_interval=2",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            # Short timeouts: a test notices a lost daemon, and a killed job ends, in seconds.
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "MessageTimeout=20",
            "KillWait=2",
            "InactiveLimit=0",
            "MinJobAge=300",
            "Waittime=0",
            f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        """Write the config, start the daemons and wait until the node is idle."""
        self.write_config()
        munge = self.munge_socket.parent
        self._spawn(
            "munged",
            [_which("munged"), "--foreground", "--force",
             f"--socket={self.munge_socket}", f"--key-file={munge / 'munge.key'}",
             f"--pid-file={munge / 'munged.pid'}", f"--seed-file={munge / 'munged.seed'}",
             f"--log-file={munge / 'munged.log'}"],
        )  # fmt: skip
        self._wait(lambda: self.munge_socket.exists(), "munged's socket")
        # -D: in the foreground (this process owns it); -i: ignore any saved state.
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", NODE, "-f", str(self.conf)])
        self._wait(self._node_idle, "the node to be idle (sinfo)")

    def _spawn(self, name: str, argv: list) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")  # noqa: SIM115 (closed by the child)
        self._procs[name] = subprocess.Popen(
            [str(a) for a in argv], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it with its children
        )  # fmt: skip
        log.close()

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")
            time.sleep(0.2)

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "--noheader", "--nodes", NODE, "--format=%t", check=False)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def run(
        self, *argv: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster."""
        return subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def logs(self) -> str:
        """The tails of the daemons' logs (for failure messages)."""
        parts = []
        logs = [*sorted((self.root / "log").iterdir()), self.munge_socket.parent / "munged.log"]
        for path in logs:
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-30:]
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, then end the daemons (slurmd, slurmctld, munged) and anything
        they started."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.run("scancel", "--full", f"--partition={PARTITION}", check=False, timeout=20)
        for name in reversed(DAEMONS):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
        # Jobs' processes that slurmd started (their own sessions): end any left over.
        self._kill_strays()

    def processes(self) -> list[int]:
        """The live processes of this cluster: its daemons and every process whose environment
        names its ``slurm.conf`` (the jobs' slurmstepd, srun and Python processes; not this
        one)."""
        marker = f"SLURM_CONF={self.conf}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if (proc / "stat").read_text().rsplit(") ", 1)[1].startswith("Z"):
                    continue  # a zombie: ended, waiting for its parent
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
        return sorted(found)

    def _kill_strays(self) -> None:
        """SIGKILL any process of the cluster (:meth:`processes`) that outlived the daemons."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster(root: Path) -> Iterator[SlurmCluster]:
    """A started :class:`SlurmCluster` under ``root``, stopped when the block ends (also when
    it fails, or the cluster fails to start)."""
    cluster = SlurmCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
