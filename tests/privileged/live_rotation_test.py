#!/usr/bin/env python3
"""Log rotation under the unprivileged agent: mailtapd opens its output files as root, then runs
as an unprivileged user (here --user nobody). logrotate renames what it rotates — and, with
`notifempty`, leaves an empty weird.log where it is — then sends SIGHUP.

1. The documented set-up (deploy/: the log directory belongs to the agent's user): the output
   files belong to that user too, a renamed smtp.log is created anew, the files left in place
   are reopened, nothing is lost or counted as failed.
2. A log directory the user cannot write (root's, 0755): the agent says so at start; after the
   rename it cannot create smtp.log, says so, and keeps writing into the renamed file — the next
   record is there, nothing is dropped.
3. The query socket in a directory the agent makes: after SIGTERM, as the user, it removes the
   socket and its lock file.

Traffic: smtp-source sends one message at a time to smtp-sink on 127.0.0.1:2527.
Usage: live_rotation_test.py [--mailtapd PATH] [--mailtap PATH] [--keep]
Needs root; skips loudly otherwise (exit 77), and fails instead under CI=true.
"""
import os
import pwd
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import Results, wait_for  # noqa: E402

PORT = 2527
USER = "nobody"
OUTPUTS = ("smtp.log", "weird.log", "events.json")


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line for line in f if line.strip()]


def mail_requests(agent):
    return [e for e in agent.events()
            if e["event"] == "smtp_request" and e["command"] == "MAIL"]


def send_one_message():
    livelib.smtp_source(PORT, sessions=1, messages=1, length=300)


def file_counters(status):
    """{output: (reopen_failures, bytes_dropped)} of the three file outputs."""
    c = status["counters"]
    groups = {"smtp.log": "smtp_log_file", "weird.log": "weird_log",
              "events.json": "events_jsonl"}
    return {name: (c[g]["reopen_failures"], c[g]["bytes_dropped"]) for name, g in groups.items()}


def rotate_smtp_log(agent, workdir):
    """What logrotate does with a non-empty smtp.log and an empty weird.log (notifempty)."""
    log = os.path.join(workdir, "smtp.log")
    os.rename(log, log + ".1")
    agent.proc.send_signal(signal.SIGHUP)


def user_owned_directory(res, opts):
    user = pwd.getpwnam(USER)
    workdir = livelib.make_workdir("mailtap-live-rotation-")
    os.chown(workdir, user.pw_uid, user.pw_gid)
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, str(PORT),
                             extra_args=["--user", USER])
    log = os.path.join(workdir, "smtp.log")
    try:
        agent.start()
        send_one_message()
        wait_for(lambda: len(lines(log)) == 1, "the first record")
        for name in OUTPUTS:
            res.equal(f"user's directory: {name} belongs to {USER}",
                      os.stat(os.path.join(workdir, name)).st_uid, user.pw_uid)
        rotate_smtp_log(agent, workdir)
        wait_for(lambda: os.path.exists(log), "smtp.log created again after SIGHUP")
        send_one_message()
        wait_for(lambda: len(lines(log)) == 1 and len(mail_requests(agent)) == 2,
                 "the second record and its events")
        res.equal("user's directory: the rotated smtp.log keeps the first record only",
                  len(lines(log + ".1")), 1)
        status = agent.wait_quiet()
        for name, counts in file_counters(status).items():
            res.equal(f"user's directory: {name} reopened, nothing dropped", counts, (0, 0))
        res.equal("user's directory: lost_total is 0", status["lost_total"], 0)
        res.equal("user's directory: mailtapd exits 0", agent.stop(), 0)
        res.check("user's directory: no warning", "warn" not in agent.stderr_text(),
                  agent.stderr_text())
    finally:
        agent.stop()
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)


def root_owned_directory(res, opts):
    workdir = livelib.make_workdir("mailtap-live-rotation-")  # root's, 0755
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, str(PORT),
                             extra_args=["--user", USER])
    log = os.path.join(workdir, "smtp.log")
    try:
        agent.start()
        res.check("root's directory: the start-up warning names the directory and the user",
                  f"'{workdir}' is not writable by user {USER}" in agent.stderr_text(),
                  agent.stderr_text())
        send_one_message()
        wait_for(lambda: len(lines(log)) == 1, "the first record")
        rotate_smtp_log(agent, workdir)
        wait_for(lambda: "cannot reopen" in agent.stderr_text(), "the reopen warning")
        send_one_message()
        wait_for(lambda: len(mail_requests(agent)) == 2, "the second session's events")
        wait_for(lambda: len(lines(log + ".1")) == 2, "the second record in the renamed file")
        res.check("root's directory: smtp.log was not created", not os.path.exists(log))
        res.check("root's directory: the warning names the file and the reason",
                  f"cannot reopen '{log}' after SIGHUP: Permission denied" in agent.stderr_text(),
                  agent.stderr_text())
        status = agent.wait_quiet()
        counts = file_counters(status)
        res.equal("root's directory: smtp.log reopen failed once, nothing dropped",
                  counts["smtp.log"], (1, 0))
        res.equal("root's directory: files left in place reopened",
                  [counts["weird.log"], counts["events.json"]], [(0, 0), (0, 0)])
        res.equal("root's directory: lost_total is 0", status["lost_total"], 0)
        res.equal("root's directory: mailtapd exits 0", agent.stop(), 0)
    finally:
        agent.stop()
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)


def socket_removed_after_dropping_privileges(res, opts):
    """The agent makes its socket's directory and binds the socket as root, then runs as the
    user: after SIGTERM neither the socket nor its lock file may be left behind."""
    workdir = livelib.make_workdir("mailtap-live-socket-")  # root's, 0755
    run_dir = os.path.join(workdir, "run")  # made by the agent
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, str(PORT),
                             extra_args=["--user", USER])
    agent.socket = os.path.join(run_dir, "mailtap.sock")
    agent.args[agent.args.index("--socket") + 1] = agent.socket
    try:
        agent.start()
        res.check("socket: bound and the lock file taken",
                  os.path.exists(agent.socket) and os.path.exists(agent.socket + ".lock"))
        res.equal("socket: mailtapd exits 0", agent.stop(), 0)
        res.equal("socket: nothing left in its directory after SIGTERM", os.listdir(run_dir), [])
        res.check("socket: no warning about it", "cannot remove" not in agent.stderr_text()
                  and "socket directory" not in agent.stderr_text(), agent.stderr_text())
    finally:
        agent.stop()
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)


def main():
    opts = livelib.parse_common_args(sys.argv[1:])
    livelib.require_root_and_tools(["smtp-source", "smtp-sink"])
    res = Results()
    sink = livelib.SmtpSink(PORT)
    try:
        for scenario in (user_owned_directory, root_owned_directory,
                         socket_removed_after_dropping_privileges):
            try:
                scenario(res, opts)
            except Exception as e:  # a timeout or a broken fixture: a failure, not a traceback
                res.check(f"{scenario.__name__} ran to completion", False,
                          f"{type(e).__name__}: {e}")
    finally:
        sink.stop()
    res.finish()


if __name__ == "__main__":
    main()
