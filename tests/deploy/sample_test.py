#!/usr/bin/env python3
"""The sample capture, the README's first step: samples/smtp-sessions.pcap is exactly what
samples/generate.py writes, and `mailtapd -r samples/smtp-sessions.pcap --events -` reports the
conversations the generator wrote into it, with Zeek's event semantics (one smtp_request per
command split at the first space, one smtp_reply per reply line with `-` continuation as
cont_resp, one smtp_data per message line with CRLF stripped and one leading dot removed, then
smtp_request "." "." for the end of the message), and
the AUTH credentials redacted by default. Run through ctest (MAILTAP_* set)."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

SOURCE = os.environ["MAILTAP_SOURCE_DIR"]
AGENT = os.path.join(os.environ["MAILTAP_BINARY_DIR"], "bin", "mailtapd")
SAMPLE = os.path.join(SOURCE, "samples", "smtp-sessions.pcap")


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def load_generator():
    spec = importlib.util.spec_from_file_location("generate", os.path.join(SOURCE, "samples",
                                                                             "generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_events(session, redact_credentials):
    """(event, fields...) tuples the analyzer must raise for one session, in order."""
    events = []
    for kind, content in session["steps"]:
        if kind == "C":
            command, _, arg = content.partition(" ")
            if redact_credentials and command.upper() == "AUTH":
                mechanism = arg.split(" ")[0]
                arg = f"{mechanism} [REDACTED]" if " " in arg else arg
            events.append(("smtp_request", command.upper(), arg))
        elif kind == "S":
            code, separator, message = content[:3], content[3:4], content[4:]
            events.append(("smtp_reply", int(code), message, separator == "-"))
        else:
            events += [("smtp_data", line[1:] if line.startswith(".") else line)
                       for line in content]
            events.append(("smtp_request", ".", "."))  # Zeek's request for the end of data
    return events


def observed_events(events, client):
    found = []
    for e in events:
        if (e["id.orig_h"], e["id.orig_p"]) != client:
            continue
        if e["event"] == "smtp_request":
            found.append(("smtp_request", e["command"], e["arg"]))
        elif e["event"] == "smtp_reply":
            found.append(("smtp_reply", e["code"], e["msg"], e["cont_resp"]))
        elif e["event"] == "smtp_data":
            found.append(("smtp_data", e["data"]))
    return found


def main():
    generator = load_generator()
    with open(SAMPLE, "rb") as f:
        if f.read() != generator.generate():
            fail("samples/smtp-sessions.pcap is not what samples/generate.py writes: rerun it")
    size = os.path.getsize(SAMPLE)
    if size > 50_000:
        fail(f"the sample is {size} bytes; keep it under 50 KB")
    print(f"ok: samples/smtp-sessions.pcap ({size} bytes) is the generator's output")

    with tempfile.TemporaryDirectory(prefix="mailtap-sample.") as logs:
        run = subprocess.run([AGENT, "-r", SAMPLE, "--events", "-", "--events-include", "all",
                              "--log-dir", logs],
                             capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            fail(f"mailtapd exited {run.returncode}: {run.stderr}")
        events = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        for session in generator.SESSIONS:
            want = expected_events(session, redact_credentials=True)
            got = observed_events(events, session["client"])
            if got != want:
                for w, g in zip(want + [None] * len(got), got + [None] * len(want)):
                    if w != g:
                        fail(f"session {session['client']}: first difference: want {w}, got {g}")
            print(f"ok: {session['client']}: {len(want)} events as the generator wrote them")
        if "AGRhdmUAbm90LWEtcmVhbC1wYXNzd29yZA" in run.stdout:
            fail("the AUTH PLAIN credentials reached the events")
        with open(os.path.join(logs, "smtp.log")) as f:
            records = [json.loads(line) for line in f if line.strip()]
        subjects = sorted(r.get("subject", "") for r in records)
        if subjects != ["Lunch on Friday", "Quarterly report"]:
            fail(f"smtp.log subjects {subjects}, want the two messages the generator sent")
        print(f"ok: smtp.log holds the {len(records)} mail transactions")


if __name__ == "__main__":
    main()
