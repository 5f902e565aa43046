"""A throw-away single-node SLURM cluster on this machine, for the workflow tests.

Needs root and the Debian packages slurmctld, slurmd, slurm-client and munge
(``.ci/run`` installs them). The cluster lives in one directory (munge key and
socket, state, spool, logs, PID files); only its configuration has to be at
``/etc/slurm/slurm.conf``, because the Snakemake SLURM plugin's job step
drops ``SLURM_CONF``. That file starts with :data:`MARKER`: a configuration
without it belongs to someone else and is never overwritten.

    with slurm_cluster(directory) as cluster:
        ...  # sbatch, squeue, snakemake --executor slurm
"""

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# webbflow test cluster (tests/workflow/slurm_cluster.py)"
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
# Memory (MB) left to the system and the daemons out of what slurmd -C reports.
MEMORY_MARGIN_MB = 1024
# A unix socket path longer than this does not fit in sockaddr_un.
MAX_SOCKET_PATH = 100


class ClusterError(RuntimeError):
    """The test cluster cannot be set up or did not come up."""


def missing_requirements():
    """Why no test cluster can run here, or an empty string if one can.

    Returns
    -------
    str
        The missing programs, or "not root"; empty when all is there.
    """
    missing = [name for name in PROGRAMS if _which(name) is None]
    if missing:
        return "missing SLURM/munge programs: " + ", ".join(missing)
    if os.geteuid() != 0:
        return "the test SLURM cluster needs root (slurmd starts jobs as their user)"
    return ""


def _which(name):
    # the daemons are in /usr/sbin, which is not on every user's PATH
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _real_memory_mb():
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"RealMemory=(\d+)", out)
    if not match:
        raise ClusterError(f"slurmd -C reports no RealMemory:\n{out}")
    total = int(match.group(1))
    return max(256, total - MEMORY_MARGIN_MB)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SlurmCluster:
    """One node (this machine, 127.0.0.1), one default partition, no accounting.

    Parameters
    ----------
    directory : path-like
        Where the cluster keeps everything but its configuration; created if
        missing. Keep it short: it holds the munge socket.
    partition : str, optional
        Name of the single, default partition.
    """

    def __init__(self, directory, partition="debug"):
        self.directory = Path(directory).resolve()
        self.partition = partition
        self.node = socket.gethostname().split(".")[0]
        self.processes = {}
        self._wrote_conf = False

    @property
    def munge_socket(self):
        return self.directory / "munge.socket"

    def log(self, daemon):
        """The log file of ``daemon`` (munged, slurmctld or slurmd)."""
        return self.directory / f"{daemon}.log"

    def pid_file(self, daemon):
        """The PID file of ``daemon``."""
        return self.directory / f"{daemon}.pid"

    def config_text(self):
        """The slurm.conf of this cluster.

        Returns
        -------
        str
            The configuration, starting with :data:`MARKER`.
        """
        d = self.directory
        cpus = len(os.sched_getaffinity(0))
        return "\n".join([
            MARKER,
            f"# owner pid {os.getpid()}, directory {d}",
            "ClusterName=webbflowtest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={d / 'state'}",
            f"SlurmdSpoolDir={d / 'spool'}",
            f"SlurmctldPidFile={self.pid_file('slurmctld')}",
            f"SlurmdPidFile={self.pid_file('slurmd')}",
            f"SlurmctldLogFile={self.log('slurmctld')}",
            f"SlurmdLogFile={self.log('slurmd')}",
            # no systemd, no cgroups: plain process tracking, no task binding
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "ReturnToService=2",
            # squeue (the profile's status command) sees finished jobs this long
            "MinJobAge=600",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_real_memory_mb()} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    def _claim_conf(self):
        if SLURM_CONF.exists():
            text = SLURM_CONF.read_text(errors="replace")
            if not text.startswith(MARKER):
                raise ClusterError(f"{SLURM_CONF} exists and was not written by the webbflow tests: "
                                   "refusing to overwrite it (a real SLURM installation?)")
            owner = re.search(r"^# owner pid (\d+)", text, flags=re.M)
            if owner and int(owner.group(1)) != os.getpid() and _pid_alive(int(owner.group(1))):
                raise ClusterError(f"{SLURM_CONF} belongs to a test cluster of the running process "
                                   f"{owner.group(1)}: one test cluster at a time")
        if len(str(self.munge_socket)) > MAX_SOCKET_PATH:
            raise ClusterError(f"cluster directory path too long for a unix socket: {self.directory}")
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        tmp = SLURM_CONF.with_name(f".{SLURM_CONF.name}.{os.getpid()}")
        tmp.write_text(self.config_text())
        tmp.chmod(0o644)
        os.replace(tmp, SLURM_CONF)
        self._wrote_conf = True

    def _spawn(self, daemon, args):
        # foreground daemons: their PIDs are ours to stop, whatever their PID files say
        log = open(self.directory / f"{daemon}.out", "ab")
        try:
            process = subprocess.Popen([_which(daemon), *args], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        self.processes[daemon] = process
        return process

    def _wait(self, what, check, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for daemon, process in self.processes.items():
                if process.poll() is not None:
                    raise ClusterError(f"{daemon} exited with {process.returncode} while waiting for {what}:\n"
                                       + self._tails())
            if check():
                return
            time.sleep(0.2)
        raise ClusterError(f"timed out after {timeout} s waiting for {what}:\n" + self._tails())

    def _tails(self):
        parts = []
        for path in sorted(self.directory.glob("*.log")) + sorted(self.directory.glob("*.out")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def start(self, timeout=60):
        """Write the configuration, start munged, slurmctld and slurmd, wait for an idle node.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait for each daemon, and for the node to be idle.

        Raises
        ------
        ClusterError
            Requirements missing, a foreign /etc/slurm/slurm.conf, or a
            daemon that did not come up (with the tails of its logs).
        """
        why = missing_requirements()
        if why:
            raise ClusterError(why)
        for sub in ("", "state", "spool"):
            (self.directory / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # munged refuses a socket or key directory others can write
        key = self.directory / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        self._claim_conf()
        try:
            self._spawn("munged", ["--foreground", "--force", f"--socket={self.munge_socket}",
                                   f"--key-file={key}", f"--pid-file={self.pid_file('munged')}",
                                   f"--log-file={self.log('munged')}",
                                   f"--seed-file={self.directory / 'munged.seed'}"])
            self._wait("the munge socket", self.munge_socket.exists, timeout)
            self._spawn("slurmctld", ["-D", "-i"])
            self._wait("slurmctld", lambda: self._query(["scontrol", "ping"], "UP"), timeout)
            self._spawn("slurmd", ["-D", "-N", self.node])
            self._wait(f"node {self.node} idle", self._node_idle, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _query(self, cmd, expected):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except subprocess.TimeoutExpired:
            return False
        return expected in out

    def _node_idle(self):
        try:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True,
                                 timeout=10).stdout
        except subprocess.TimeoutExpired:
            return False
        return f"{self.node} idle" in out.splitlines()

    def jobs(self):
        """The jobs slurmctld knows, finished ones included (for MinJobAge seconds).

        Returns
        -------
        dict of str -> dict
            SLURM job id to ``{"state", "comment", "name"}`` (``squeue`` fields).
        """
        out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%j|%k"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
        jobs = {}
        for line in out.splitlines():
            job_id, state, name, comment = line.strip().split("|", 3)
            jobs[job_id] = {"state": state, "name": name, "comment": comment}
        return jobs

    def stop(self, timeout=20):
        """Cancel the cluster's jobs, stop the daemons this object started, remove its slurm.conf."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(["scancel", "--full", "--quiet", f"--partition={self.partition}"],
                               capture_output=True, timeout=30)
                # give slurmstepd a moment to end the cancelled jobs' processes
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    out = subprocess.run(["squeue", "-h", "-t", "RUNNING,COMPLETING,PENDING", "-o", "%i"],
                                         capture_output=True, text=True, timeout=10).stdout
                    if not out.strip():
                        break
                    time.sleep(0.5)
        for daemon in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(daemon, None)
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout)
        if self._wrote_conf and SLURM_CONF.exists() and SLURM_CONF.read_text(errors="replace").startswith(MARKER):
            SLURM_CONF.unlink()
        self._wrote_conf = False


@contextlib.contextmanager
def slurm_cluster(directory, partition="debug", timeout=60):
    """Run a :class:`SlurmCluster` for the duration of a ``with`` block.

    Parameters
    ----------
    directory : path-like
        The cluster's directory (see :class:`SlurmCluster`).
    partition : str, optional
        Name of the single, default partition.
    timeout : float, optional
        Seconds to wait for each daemon to come up.

    Yields
    ------
    SlurmCluster
        The running cluster; every daemon it started is stopped on exit.
    """
    cluster = SlurmCluster(directory, partition=partition)
    cluster.start(timeout=timeout)
    try:
        yield cluster
    finally:
        cluster.stop()
