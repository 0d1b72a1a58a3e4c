#!/usr/bin/env python3
"""Zeek parity: replays every trace of Zeek's SMTP corpus (and its STARTTLS trace's ssl.log) through mailtapd and compares the events
and logs with Zeek's own baselines (expected outputs produced by Zeek, not by mailtap).

Usage: zeek_parity.py MAILTAPD [CORPUS_DIR]
CORPUS_DIR defaults to $MAILTAP_ZEEK_CORPUS, then to $MAILTAP_ZEEK_CORPUS_CONFIGURED (the
directory CMake was configured with, set by CTest). Prints one line per check, then
`zeek parity: N/M`.
Exit status: 0 all checks pass, 1 a check failed, 77 corpus absent (CTest reports a skip).

Comparison rules (from the corpus INDEX.md): uids and fuids are Zeek's seeded random ids, so
connections are matched by order of first appearance; ts is masked in logs; sets compare unordered.
Deliberate divergences are listed in DIVERGENCES with their reason (docs/zeek-divergences.md).
"""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

BASE = "baselines"
TR = "traces"

# Checks that cannot match by design; each has a section in docs/zeek-divergences.md.
DIVERGENCES = {
    "smtp.log http-connect": "SMTP inside an HTTP CONNECT tunnel on port 8240 needs Zeek's "
                             "content-based protocol detection (DPD); mailtap analyses by port",
    "files.cut rfc822-msg-file-analysis-gap": "after the BDAT gap Zeek's file handles collide and "
                                              "it merges the next message's 8-byte body into that "
                                              "message's rfc822 file (86 bytes); mailtap keeps "
                                              "them apart (78 + 8)",
}

# Fields of a check that cannot match by design, with the reason (docs/zeek-divergences.md); the
# check compares the others.
FIELD_DIVERGENCES = {
    "files.cut rfc822-msg-file-analysis-multi-mail": {
        "mime_type": "a patch in a text part: Zeek's signatures say text/x-diff; mailtap types text "
                     "by libmagic's built-in tests only (text/plain), as its full database costs "
                     "up to 1.4 ms per text file",
    },
    "conn.log http-connect": {
        "service": "Zeek found HTTP and SMTP by content (DPD): `http,smtp`; mailtap has no HTTP "
                   "analyzer and logs `smtp`",
        "local_orig": "the baseline's test sets Site::local_nets; mailtap has no local networks "
                      "and leaves the field unset",
        "local_resp": "as local_orig",
    },
}

# The BDAT tests: each prints the requests (`out`) and cuts its conn.log.
BDAT_TESTS = [("bdat", "smtp/rfc3030-bdat-example1.pcap"),
              ("bdat-0-last", "smtp/rfc3030-bdat-0-last.pcap"),
              ("bdat-multipart", "smtp/rfc3030-bdat-multipart.pcap"),
              ("bdat-multipart-chunked", "smtp/rfc3030-bdat-multipart-chunked.pcap"),
              ("bdat-pipeline-8bitmime", "smtp/smtp-bdat-pipeline-8bitmime.pcap"),
              ("bdat-gap", "smtp/smtp-bdat-gap.pcap")]

# Columns mailtap appends after Zeek's (docs/interface.md); not in Zeek's baselines.
MAILTAP_COLUMNS = {"community_id"}


def zeek_escape(raw: bytes) -> str:
    """Zeek's print rendering of a string: printable ASCII as is, every other byte as \\xNN."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw)


def json_string_bytes(s: str) -> bytes:
    """Undoes mailtap's JSON string convention: text `\\xNN` stands for a byte that was not UTF-8."""
    out = bytearray()
    data = s.encode("utf-8")
    i = 0
    while i < len(data):
        if data[i:i + 2] == b"\\x" and re.fullmatch(rb"[0-9a-f]{2}", data[i + 2:i + 4] or b""):
            out.append(int(data[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def render(value) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int):
        return str(value)
    return zeek_escape(json_string_bytes(value))


class Run:
    """One mailtapd replay of a trace with every output enabled."""

    def __init__(self, mailtapd, trace, workdir, extra_args=()):
        self.dir = tempfile.mkdtemp(dir=workdir)
        src = trace
        if trace.endswith(".gz"):
            src = os.path.join(self.dir, "trace.pcap")
            with gzip.open(trace, "rb") as fin, open(src, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        self.events_path = os.path.join(self.dir, "events.jsonl")
        # Extraction goes into a directory of this run's own.
        self.extract_dir = os.path.join(self.dir, "extract")
        os.mkdir(self.extract_dir)
        extra_args = [self.extract_dir if a == EXTRACT_DIR else a for a in extra_args]
        cmd = [mailtapd, "-r", src, "--events", self.events_path, "--events-include", "all",
               "--log-dir", self.dir,
               "--log-format", "zeek", "--redact", "none", *extra_args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        with open(self.events_path, encoding="utf-8") as f:
            self.events = [json.loads(line) for line in f if line.strip()]
        self.smtp_log = os.path.join(self.dir, "smtp.log")

    def log(self, name):
        return os.path.join(self.dir, name)


EXTRACT_DIR = "<extract-dir>"  # placeholder in a check's arguments: the run's directory


def uid_mapper():
    """Maps uids to C1, C2, ... by order of first appearance (Zeek's are seeded random ids)."""
    seen = {}

    def mapped(uid):
        return seen.setdefault(uid, f"C{len(seen) + 1}")
    return mapped


def read_baseline(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return [l.rstrip("\n") for l in f if not l.startswith("### BTest")]


# ---- event sequence of smtp.pcap vs dump-events/really-all-events.log ----

ARG_ORDER = {
    "smtp_request": ("is_orig", "command", "arg"),
    "smtp_reply": ("is_orig", "code", "cmd", "msg", "cont_resp"),
    "smtp_data": ("is_orig", "data"),
    "smtp_unexpected": ("is_orig", "msg", "detail"),
    "mime_begin_entity": (),
    "mime_one_header": ("h",),
    "mime_all_headers": ("hlist",),
    "mime_end_entity": (),
    "mime_entity_data": ("length", "data"),
    "mime_all_data": ("length", "data"),
    "mime_content_hash": ("content_len", "hash_value"),
    "mime_content_hash_sha256": ("content_len", "hash_value"),
}
SMTP_EVENTS = tuple(ARG_ORDER)


def zeek_header_rec(original_name: bytes, value: bytes) -> str:
    """Zeek's print of a mime_header_rec."""
    return (f"[original_name={zeek_escape(original_name)}, "
            f"name={zeek_escape(original_name.upper())}, value={zeek_escape(value)}]")


def baseline_hlist(printed: str) -> str:
    """The entries of a printed mime_header_list table, in index order (Zeek prints hash order)."""
    inner = printed.strip()[1:-1]  # drop { }
    entries = [e for e in inner.split("\\x0a\\x09") if e]
    entries = [e[:-1] if e.endswith(",") else e for e in entries]
    entries = [e[:-4] if e.endswith("\\x0a") else e for e in entries]
    entries = [e for e in entries if e]
    return " ".join(sorted(entries, key=lambda e: int(e[1:e.index("]")])))


def our_hlist(block: bytes) -> str:
    """mailtap's hlist ("name: value" CRLF per header) as the same entries."""
    entries = []
    for i, line in enumerate(l for l in block.split(b"\r\n") if l):
        name, value = line.split(b": ", 1)
        entries.append(f"[{i + 1}] = " + zeek_header_rec(name, value))
    return " ".join(entries)


def parse_dump_events(path):
    events, current = [], None
    head = re.compile(r"^\s*(\d+\.\d+) (\w+)$")
    arg = re.compile(r"^\s+\[(\d+)\] (\w+): (\S+)\s*= ?(.*)$")
    conn = re.compile(r"id=\[orig_h=([^,]+), orig_p=(\d+)/tcp, resp_h=([^,]+), resp_p=(\d+)/tcp")
    for line in read_baseline(path):
        m = head.match(line)
        if m:
            current = None
            if m.group(2) in SMTP_EVENTS:
                current = {"ts": m.group(1), "event": m.group(2), "args": {}}
                events.append(current)
            continue
        m = arg.match(line)
        if current is not None and m:
            name, value = m.group(2), m.group(4)
            if name == "c":
                cm = conn.search(value)
                current["conn"] = "%s:%s>%s:%s" % cm.groups()
            elif name == "hlist":
                current["args"][name] = baseline_hlist(value)
            else:
                current["args"][name] = value
    return [f"{e['ts']} {e['conn']} {e['event']} " +
            " | ".join(e["args"].get(a, "") for a in ARG_ORDER[e["event"]]) for e in events]


def our_event_lines(run):
    out = []
    for e in run.events:
        if e["event"] not in SMTP_EVENTS:
            continue
        conn = f"{e['id.orig_h']}:{e['id.orig_p']}>{e['id.resp_h']}:{e['id.resp_p']}"
        args = " | ".join(render_arg(e, a) for a in ARG_ORDER[e["event"]])
        out.append(f"{e['ts']:.6f} {conn} {e['event']} {args}")
    return out


def render_arg(event, arg):
    if arg == "h":
        return zeek_header_rec(json_string_bytes(event["h.original_name"]),
                               json_string_bytes(event["h.value"]))
    if arg == "hlist":
        return our_hlist(json_string_bytes(event["hlist"]))
    return render(event[arg])


# ---- mime_content_hash `out` files: "mime_content_hash, <uid>, <len>, <md5 hex>" ----

HASH_EVENTS = ("mime_content_hash", "mime_content_hash_sha256")


def our_content_hash_lines(run, kinds):
    uid = uid_mapper()
    return [f"{e['event']}, {uid(e['uid'])}, {e['content_len']}, "
            f"{json_string_bytes(e['hash_value']).hex()}"
            for e in run.events if e["event"] in kinds]


def baseline_content_hash_lines(path):
    """The lines, and which of the two events the test handled (it prints only those)."""
    uid = uid_mapper()
    out = []
    for line in read_baseline(path):
        parts = line.split(", ")
        if parts[0] in HASH_EVENTS:
            parts[1] = uid(parts[1])
            out.append(", ".join(parts))
    return out


# ---- mime_all_headers `out`: the header table of every entity ----

def our_all_headers_lines(run):
    return [our_hlist(json_string_bytes(e["hlist"]))
            for e in run.events if e["event"] == "mime_all_headers"]


def baseline_all_headers_lines(path):
    """Each `mime_all_headers` line is followed by the printed table, one entry per line."""
    out, entries = [], None
    for line in read_baseline(path):
        if line == "mime_all_headers":
            entries = []
        elif line == "}" and entries is not None:
            entries.sort(key=lambda e: int(e[1:e.index("]")]))
            out.append(" ".join(entries))
            entries = None
        elif entries is not None and line.startswith("["):
            entries.append(line[:-1] if line.endswith(",") else line)
        elif entries is not None and line == "{}":
            out.append("")
            entries = None
    return out


# ---- request/reply `out` files of the BDAT tests ----

def our_request_lines(run, with_replies):
    uid = uid_mapper()
    out = []
    for e in run.events:
        if e["event"] == "smtp_request":
            fields = [uid(e["uid"]), render(e["is_orig"]), render(e["command"]), render(e["arg"])]
        elif e["event"] == "smtp_reply" and with_replies:
            fields = [uid(e["uid"]), render(e["is_orig"]), render(e["code"]), render(e["cmd"]),
                      render(e["msg"])]
        else:
            continue
        out.append((e["event"] + ", " if with_replies else "") + ", ".join(fields))
    return out


def baseline_request_lines(path, with_replies):
    uid = uid_mapper()
    out = []
    for line in read_baseline(path):
        parts = line.split(", ")
        i = 1 if with_replies else 0
        if with_replies and parts[0] not in ("smtp_request", "smtp_reply"):
            continue
        parts[i] = uid(parts[i])
        out.append(", ".join(parts))
    return out


# ---- smtp.log, ssl.log (Zeek TSV) field for field ----

SET_FIELDS = {"rcptto", "to", "cc"}
IGNORED_FIELDS = {"ts", "uid", "fuid", "parent_fuid"}
# fuids are seeded random ids: compared as F1, F2, ... by order of first appearance in the log.
ID_LIST_FIELDS = {"fuids"}


def without_mailtap_columns(line, fields):
    """A #fields or #types header line without the columns mailtap appends."""
    parts = line.split("\t")
    keep = [parts[0]] + [p for f, p in zip(fields, parts[1:]) if f not in MAILTAP_COLUMNS]
    return "\t".join(keep)


def parse_zeek_log(lines):
    header, fields, rows = [], None, []
    for line in lines:
        if line.startswith("#"):
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
            if line.startswith(("#fields", "#types")) and fields:
                line = without_mailtap_columns(line, fields)
            if not line.startswith(("#open", "#close")):
                header.append(line)
            continue
        if line:
            rows.append(dict(zip(fields, line.split("\t"))))
    return header, rows


def normalise_row(row, fuid):
    out = {}
    for k, v in row.items():
        if k in IGNORED_FIELDS:
            continue
        if k in ID_LIST_FIELDS and v not in ("-", "(empty)"):
            out[k] = ",".join(fuid(f) for f in v.split(","))
            continue
        out[k] = tuple(sorted(v.split(","))) if k in SET_FIELDS and v not in ("-", "(empty)") else v
    return out


def parse_cut(lines):
    """A zeek-cut output (a plain header line of field names, then rows) or a whole log."""
    if lines and lines[0].startswith("#"):
        return parse_zeek_log(lines)[1]
    fields = lines[0].split("\t") if lines else []
    return [dict(zip(fields, l.split("\t"))) for l in lines[1:] if l]


def compare_conn_log(run, baseline_path, name):
    """conn.log against a baseline or a zeek-cut of one: the baseline's fields only (uid and ts
    aside), records in order; fields listed in FIELD_DIVERGENCES are skipped."""
    exp_rows = parse_cut(read_baseline(baseline_path))
    path = run.log("conn.log")
    got_rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            got_rows = parse_zeek_log([l.rstrip("\n") for l in f])[1]
    skip = set(FIELD_DIVERGENCES.get(name, {})) | {"ts", "uid"}
    problems = []
    if len(got_rows) != len(exp_rows):
        problems.append(f"{len(got_rows)} records, expected {len(exp_rows)}")
    for i, (exp, got) in enumerate(zip(exp_rows, got_rows), 1):
        for k, v in exp.items():
            if k not in skip and v != got.get(k):
                problems.append(f"record {i} field {k}: expected {v!r}, got {got.get(k)!r}")
    return problems


def compare_zeek_log(run, baseline_path, log_name):
    exp_header, exp_rows = parse_zeek_log(read_baseline(baseline_path))
    path = run.log(log_name)
    if not os.path.exists(path):
        got_header, got_rows = [], []
    else:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            got_header, got_rows = parse_zeek_log([l.rstrip("\n") for l in f])
    problems = []
    if got_header != exp_header:
        problems.append(f"header differs:\n  expected {exp_header}\n  got      {got_header}")
    if len(got_rows) != len(exp_rows):
        problems.append(f"{len(got_rows)} records, expected {len(exp_rows)}")
    exp_fuid, got_fuid = uid_mapper(), uid_mapper()
    for i, (exp, got) in enumerate(zip(exp_rows, got_rows), 1):
        e, g = normalise_row(exp, exp_fuid), normalise_row(got, got_fuid)
        for k in e:
            if e[k] != g.get(k):
                problems.append(f"record {i} field {k}: expected {e[k]!r}, got {g.get(k)!r}")
    return problems


# ---- weird.log: the names Zeek logged, once per (name, connection) ----

def our_weirds(run):
    seen, out = set(), []
    for e in run.events:
        if e["event"] != "weird":
            continue
        key = (e["name"], e.get("uid"))
        if key in seen:
            continue
        seen.add(key)
        conn = (f"{e['id.orig_h']}:{e['id.orig_p']}>{e['id.resp_h']}:{e['id.resp_p']}"
                if "uid" in e else "-:->-:-")
        out.append(f"{conn} {e['name']} {render(e['addl']) or '-'} {e.get('source') or '-'}")
    return sorted(out)


def baseline_weirds(path):
    lines = read_baseline(path)
    if lines and not lines[0].startswith("#"):  # zeek-cut -m output: a plain header line
        lines = ["#fields\t" + lines[0][len(""):]] + lines[1:]
    _, rows = parse_zeek_log(lines)
    return sorted(f"{r['id.orig_h']}:{r['id.orig_p']}>{r['id.resp_h']}:{r['id.resp_p']} "
                  f"{r['name']} {r['addl']} {r['source']}" for r in rows)


def diff_lines(expected, got, limit=8):
    if expected == got:
        return []
    problems = [f"{len(got)} lines, expected {len(expected)}"] if len(got) != len(expected) else []
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            problems.append(f"first difference at line {i + 1}:\n  expected {e}\n  got      {g}")
            break
    else:
        extra = expected[len(got):] or got[len(expected):]
        problems.append("then: " + " // ".join(extra[:limit]))
    return problems


# ---- the checks ----

# ---- files.log and extraction ----

def our_files(run):
    with open(run.log("files.log"), encoding="utf-8", errors="surrogateescape") as f:
        return parse_zeek_log([l.rstrip("\n") for l in f])[1]


def compare_files_cut(run, baseline_path, skip=()):
    """A files.cut baseline (zeek-cut columns) against our files.log: the same files in the same
    order, fuids compared by order of appearance so that parent_fuid links are checked too;
    columns in `skip` (FIELD_DIVERGENCES) are not compared."""
    lines = [l for l in read_baseline(baseline_path) if l]
    columns, expected = lines[0].split("\t"), [l.split("\t") for l in lines[1:]]
    ours, problems = our_files(run), []
    if len(ours) != len(expected):
        problems.append(f"{len(ours)} files, expected {len(expected)}")
    exp_ids, our_ids = uid_mapper(), uid_mapper()
    for i, (exp, got) in enumerate(zip(expected, ours), 1):
        for col, value in zip(columns, exp):
            mine = got.get(col)
            if col in ("fuid", "parent_fuid"):
                value = value if value == "-" else exp_ids(value)
                mine = mine if mine == "-" else our_ids(mine)
            elif col == "uid" or col in skip:
                continue
            elif col == "sha1" and value == "-":
                # Zeek's test attaches its SHA1 analyzer to the message/rfc822 files only; ours
                # hashes every file (hash-all-files): compare where Zeek hashed.
                continue
            if value != mine:
                problems.append(f"file {i} {col}: expected {value!r}, got {mine!r}")
    return problems


def baseline_bytes(path, btest_header):
    with open(path, "rb") as f:
        data = f.read()
    return data.split(b"\n", 1)[1] if btest_header else data


def compare_extracted(run, baseline_dir, names, suffix):
    """Zeek's extracted files (in the order Zeek logged them) against ours, byte for byte."""
    ours = [r for r in our_files(run) if r.get("extracted", "-") != "-"]
    ours = [r for r in ours if r["extracted"].endswith(suffix)] if suffix else ours
    problems = []
    if len(ours) < len(names):
        problems.append(f"{len(ours)} extracted files, expected at least {len(names)}")
    for name, row in zip(names, ours):
        header = not name.startswith("extract_files")
        expected = baseline_bytes(os.path.join(baseline_dir, name), header)
        with open(os.path.join(run.extract_dir, row["extracted"]), "rb") as f:
            got = f.read()
        if got != expected:
            problems.append(f"{row['extracted']} differs from Zeek's {name} "
                            f"({len(got)} bytes, expected {len(expected)})")
        if row.get("extracted_size") != str(len(got)):
            problems.append(f"{row['extracted']}: extracted_size {row.get('extracted_size')}")
    return problems


def compare_file_hashes(run, out_path):
    """The MD5/SHA1/SHA256 lines of file-analysis.smtp's `out` (SMTP files only) against ours."""
    expected, current = [], None
    for line in read_baseline(out_path):
        if line.startswith("source: "):
            current = line == "source: SMTP"
        for kind in ("MD5", "SHA1", "SHA256"):
            if current and line.startswith(kind + ": "):
                expected.append((kind, line.split(": ", 1)[1]))
    ours = [(k.upper(), r[k]) for r in our_files(run) for k in ("md5", "sha1", "sha256")]
    return diff_lines(expected, ours)


def checks():
    """(name, trace, kind, baseline file, extra mailtapd args)"""
    b = "scripts.base.protocols.smtp."
    yield ("events smtp.pcap", "smtp.pcap", "events",
           "scripts.policy.misc.dump-events/really-all-events.log", ())
    for test, trace in BDAT_TESTS:
        yield (f"requests {test}", trace, "requests", b + test + "/out", ())
    for test, trace in [("bdat-cmd-invalid", "smtp/smtp-bdat-cmd-invalid.pcapng"),
                        ("bdat-chunk-size-overflow", "smtp/smtp-bdat-cmd-chunk-size-overflow.pcap"),
                        ("bdat-chunk-size-overflow2",
                         "smtp/smtp-bdat-cmd-chunk-size-overflow2.pcap"),
                        ("bdat-negative-chunk-size",
                         "smtp/smtp-bdat-cmd-negative-chunk-size.pcap")]:
        yield (f"requests+replies {test}", trace, "requests+replies", b + test + "/out", ())
    for test, trace in [("basic", "smtp.pcap"), ("attachment", "smtp.pcap"),
                        ("attachment-msg", "smtp-attachment-msg.pcap"),
                        ("one-side", "smtp-one-side-only.pcap"),
                        ("mail-transactions-invalid", "smtp-mail-transactions-invalid.pcap"),
                        ("starttls", "tls/smtp-starttls.pcap"),
                        ("bdat", "smtp/rfc3030-bdat-example1.pcap"),
                        ("bdat-0-last", "smtp/rfc3030-bdat-0-last.pcap"),
                        ("bdat-multipart", "smtp/rfc3030-bdat-multipart.pcap"),
                        ("bdat-multipart-chunked", "smtp/rfc3030-bdat-multipart-chunked.pcap"),
                        ("bdat-pipeline-8bitmime", "smtp/smtp-bdat-pipeline-8bitmime.pcap"),
                        ("bdat-gap", "smtp/smtp-bdat-gap.pcap"),
                        ("bdat-cmd-invalid", "smtp/smtp-bdat-cmd-invalid.pcapng"),
                        ("bdat-chunk-size-overflow", "smtp/smtp-bdat-cmd-chunk-size-overflow.pcap"),
                        ("bdat-chunk-size-overflow2",
                         "smtp/smtp-bdat-cmd-chunk-size-overflow2.pcap"),
                        ("bdat-negative-chunk-size",
                         "smtp/smtp-bdat-cmd-negative-chunk-size.pcap")]:
        yield (f"smtp.log {test}", trace, "smtp.log", b + test + "/smtp.log", ())
    # The TLS handshake on the wire after STARTTLS.
    yield ("ssl.log starttls", "tls/smtp-starttls.pcap", "ssl.log", b + "starttls/ssl.log", ())
    disable = ("--set", "SMTP::max_invalid_mail_transactions=2")
    yield ("smtp.log mail-transactions-invalid-disable-analyzer",
           "smtp-mail-transactions-invalid.pcap", "smtp.log",
           b + "mail-transactions-invalid-disable-analyzer/smtp.log", disable)
    yield ("weird.log mail-transactions-invalid-disable-analyzer",
           "smtp-mail-transactions-invalid.pcap", "weirds",
           b + "mail-transactions-invalid-disable-analyzer/weird.log", disable)
    limits = tuple(a for name in ("max_rcptto_addresses", "max_to_addresses", "max_cc_addresses",
                                  "max_path_length") for a in ("--set", f"SMTP::{name}=500"))
    yield ("weird.log address-limits", "smtp/smtp-many-addresses.pcap.gz", "weirds",
           b + "address-limits/weird.log", limits)
    yield ("smtp.log http-connect", "http/connect-with-smtp.pcap", "smtp.log",
           "scripts.base.protocols.http.http-connect/smtp.log", ("--ports", "25,587,8240"))
    for test, trace in [("bdat-gap", "smtp/smtp-bdat-gap.pcap"),
                        ("bdat-cmd-invalid", "smtp/smtp-bdat-cmd-invalid.pcapng"),
                        ("bdat-chunk-size-overflow", "smtp/smtp-bdat-cmd-chunk-size-overflow.pcap"),
                        ("bdat-chunk-size-overflow2",
                         "smtp/smtp-bdat-cmd-chunk-size-overflow2.pcap"),
                        ("bdat-negative-chunk-size",
                         "smtp/smtp-bdat-cmd-negative-chunk-size.pcap"),
                        ("mail-transactions-invalid", "smtp-mail-transactions-invalid.pcap")]:
        yield (f"weird.log {test}", trace, "weirds", b + test + "/weird.log", ())
    # conn.log: the cuts of the BDAT tests, the MIME tests' cuts, the tunnel test's whole log.
    for test, trace in BDAT_TESTS:
        yield (f"conn.log {test}", trace, "conn.log", b + test + "/conn.log.cut", ())
    for test in ("mime-content-hash", "mime-content-hash-2", "mime-content-hash-3"):
        yield (f"conn.log {test}", "smtp.pcap", "conn.log",
               f"scripts.base.files.mime.{test}/conn.log", ())
    yield ("conn.log mime-header-size-limit", "smtp/mime-header-size-limit.pcap.gz", "conn.log",
           b + "mime-header-size-limit/conn.log", ("--set", "Log::default_max_field_string_bytes=0"))
    yield ("conn.log http-connect", "http/connect-with-smtp.pcap", "conn.log",
           "scripts.base.protocols.http.http-connect/conn.log", ("--ports", "25,587,8240"))
    # MIME: every entity's headers; the MD5 of each message's decoded content (Zeek's tests
    # capture port 25 only, which changes nothing for mailtap).
    yield ("mime_all_headers smtp.pcap", "smtp.pcap", "all-headers",
           b + "mime-all-headers-event/out", ())
    for test in ("mime-content-hash", "mime-content-hash-2", "mime-content-hash-3"):
        yield (f"mime_content_hash {test}", "smtp.pcap", "content-hash",
               f"scripts.base.files.mime.{test}/out", ())
    # files.log: Zeek's base scripts log no hashes; hash-all-files and extraction add columns.
    yield ("files.log attachment", "smtp.pcap", "files.log", b + "attachment/files.log",
           ("--file-hashes", "off"))
    fa = "scripts.base.frameworks.file-analysis.smtp"
    extract_files = ("--extract", "files", "--extract-dir", EXTRACT_DIR)
    yield ("file hashes file-analysis.smtp", "smtp.pcap", "file-hashes", fa + "/out",
           extract_files)
    yield ("extracted files file-analysis.smtp", "smtp.pcap", "extracted:thefile0,thefile1,"
           "thefile2", fa, extract_files)
    rfc822 = ("--set", "SMTP::enable_rfc822_msg_file_analysis=T", "--extract", "messages",
              "--extract-dir", EXTRACT_DIR)
    for test, trace, extracted in [
            ("rfc822-msg-file-analysis", "smtp-attachment-msg.pcap", True),
            ("rfc822-msg-file-analysis-binary", "smtp/rfc3030-bdat-nonascii.pcap", True),
            ("rfc822-msg-file-analysis-gap", "smtp/smtp-bdat-gap.pcap", True),
            ("rfc822-msg-file-analysis-multi-mail", "smtp/smtp-bdat-pipeline-8bitmime.pcap", False),
            ("rfc822-msg-file-analysis-multi-session", "smtp.pcap", False)]:
        yield (f"files.cut {test}", trace, "files.cut", b + test + "/files.cut", rfc822)
        if extracted:
            yield (f"extracted message {test}", trace, "extracted.eml:extract_files.mail",
                   b + test, rfc822)
    # Zeek's test switches the log string limit off (0 = no limit).
    yield ("weird.log mime-header-size-limit", "smtp/mime-header-size-limit.pcap.gz", "weirds",
           b + "mime-header-size-limit/weird.log", ("--set", "Log::default_max_field_string_bytes=0"))


def run_check(kind, run, baseline, name=""):
    if kind == "conn.log":
        return compare_conn_log(run, baseline, name)
    if kind == "events":
        return diff_lines(parse_dump_events(baseline), our_event_lines(run))
    if kind in ("requests", "requests+replies"):
        replies = kind == "requests+replies"
        return diff_lines(baseline_request_lines(baseline, replies), our_request_lines(run, replies))
    if kind in ("smtp.log", "ssl.log"):
        return compare_zeek_log(run, baseline, kind)
    if kind == "content-hash":
        expected = baseline_content_hash_lines(baseline)
        kinds = {line.split(", ")[0] for line in expected}
        return diff_lines(expected, our_content_hash_lines(run, kinds))
    if kind == "all-headers":
        return diff_lines(baseline_all_headers_lines(baseline), our_all_headers_lines(run))
    if kind == "weirds":
        return diff_lines(baseline_weirds(baseline), our_weirds(run))
    if kind == "files.log":
        return compare_zeek_log(run, baseline, kind)
    if kind == "files.cut":
        return compare_files_cut(run, baseline, FIELD_DIVERGENCES.get(name, {}))
    if kind == "file-hashes":
        return compare_file_hashes(run, baseline)
    if kind.startswith("extracted"):
        what, names = kind.split(":", 1)
        return compare_extracted(run, baseline, names.split(","),
                                 ".eml" if what.endswith(".eml") else "")
    raise ValueError(kind)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    mailtapd = sys.argv[1]
    corpus = (sys.argv[2] if len(sys.argv) > 2 else os.environ.get("MAILTAP_ZEEK_CORPUS")
              or os.environ.get("MAILTAP_ZEEK_CORPUS_CONFIGURED", ""))
    if not corpus or not os.path.isdir(os.path.join(corpus, TR)):
        print(f"SKIPPED: Zeek corpus not found at '{corpus}' (set MAILTAP_ZEEK_CORPUS to the "
              "folder holding traces/ and baselines/)")
        return 77
    passed = total = 0
    runs = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, trace, kind, baseline, extra in checks():
            total += 1
            key = (trace, extra)
            try:
                if key not in runs:
                    runs[key] = Run(mailtapd, os.path.join(corpus, TR, trace), workdir, extra)
                problems = run_check(kind, runs[key], os.path.join(corpus, BASE, baseline), name)
            except Exception as e:  # a crash or bad output is a failed check, not a harness error
                problems = [f"error: {e}"]
            if not problems:
                passed += 1
                skipped = FIELD_DIVERGENCES.get(name)
                print(f"PASS {name}" + (f" (except {', '.join(skipped)}: "
                                        "docs/zeek-divergences.md)" if skipped else ""))
            elif name in DIVERGENCES:
                total -= 1
                print(f"DIVERGENCE {name}: {DIVERGENCES[name]} (docs/zeek-divergences.md)")
            else:
                print(f"FAIL {name}")
                for p in problems:
                    print("    " + p.replace("\n", "\n    "))
    print(f"zeek parity: {passed}/{total}")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
