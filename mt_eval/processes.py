"""Is the process that owns something (a cache claim, a staging folder) still running?

A PID alone is not enough: a killed process may linger as a zombie that will never finish, and after a
container restart its PID may belong to another process. ``/proc/<pid>/stat`` gives the state and
the start time (clock ticks since boot); an owner records both, and is alive only while a process
with that PID, not a zombie, started at that time, runs on the same host and boot.
:func:`owner_id` names a process that way (host, boot id, PID namespace, PID, start time) and
:func:`owner_alive` tells from such a name whether it still runs.
"""

from __future__ import annotations

import os
import socket
import uuid


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


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def owner_id(pid: int | None = None) -> str:
    """``host|boot id|pid namespace|pid|start ticks|random``: enough to tell whether the owner still runs."""
    pid = os.getpid() if pid is None else pid
    parts = [socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), _pid_namespace(), str(pid),
             start_ticks(pid), uuid.uuid4().hex[:8]]
    return "|".join(p.replace("|", "/") for p in parts)


def owner_alive(owner: str) -> bool | None:
    """Whether the process behind an :func:`owner_id` still runs: False when it is known gone (exited,
    zombie, its PID reused by another process, or the machine rebooted); None when it cannot be told from
    here (another host or PID namespace: its heartbeat decides); True when it runs."""
    parts = owner.split("|")
    if len(parts) == 6:
        host, boot, namespace, pid_text, start, _ = parts
    else:  # a version 1 claim: host:pid:random
        host, _, rest = owner.partition(":")
        boot, namespace, start = "", "", ""
        pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    if boot and boot != _read("/proc/sys/kernel/random/boot_id"):
        return False
    if namespace and namespace != _pid_namespace():
        return None
    return pid_alive(int(pid_text), start)


def describe_owner(owner: str) -> str:
    """``pid N on HOST`` for an :func:`owner_id` (anything else as it is), for messages."""
    parts = owner.split("|")
    return f"pid {parts[3]} on {parts[0]}" if len(parts) == 6 else owner
