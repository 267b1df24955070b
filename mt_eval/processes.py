"""Is the process that owns something (a cache claim, a staging folder) still running?

A PID alone is not enough: a killed process may linger as a zombie that will never finish, and after a
container restart its PID may belong to another process. ``/proc/<pid>/stat`` gives the state and
the start time (clock ticks since boot); an owner records both, and is alive only while a process
with that PID, not a zombie, started at that time, runs on the same host and boot.
"""

from __future__ import annotations

import os


def proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, start time in clock ticks since boot)`` from /proc, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the command name may hold spaces and parentheses
    return (fields[0], fields[19]) if len(fields) > 19 else None


def start_ticks(pid: int | None = None) -> str:
    """This (or another) process's start time, ``""`` where /proc is not available."""
    stat = proc_stat(os.getpid() if pid is None else pid)
    return stat[1] if stat else ""


def pid_alive(pid: int, start: str = "") -> bool:
    """Whether ``pid`` runs and is not a zombie, and (with ``start``) is the process started then."""
    if os.path.isdir("/proc/self"):
        stat = proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X", "x"):  # gone, or a zombie that will never finish
            return False
        return not start or stat[1] == start  # another start time: the PID was reused
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
