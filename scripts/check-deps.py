#!/usr/bin/python3
"""Checks scripts/deps.txt against the machine: every tool, header and module the build, the tests
and the scripts call is there, and comes from a package that the list installs (or that the
machine image brings, at the version the tools need) — not from one somebody installed by hand.

For each tool line: find the file that really runs or loads (PATH then /usr/sbin:/sbin, and
realpath; a Python module's __file__; a Perl module's %INC entry), ask dpkg which package owns it,
and require that package to be the line's package or one it depends on (Depends/Pre-Depends, what
apt installs with --no-install-recommends). Then require the line's package to be in the install
list, or a dependency of a listed package, or Essential.

Usage: check-deps.py [--manifest FILE]      (default: deps.txt beside this script)
Exit status: 0 all good; 1 something is missing or comes from elsewhere (each named on a FAIL
line with the package to list or install); 2 the manifest cannot be read.
Standard library only; needs no root (dpkg-query reads the package database).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import namedtuple

DEBIAN_PYTHON = "/usr/bin/python3"
DEBIAN_PERL = "/usr/bin/perl"
SBIN_PATH = "/usr/sbin:/sbin"
IMAGE = "image:"

Tool = namedtuple("Tool", "kind name min_version package why line")
Manifest = namedtuple("Manifest", "path install image tools")
Package = namedtuple("Package", "installed essential version provides depends")

TOOL_RE = re.compile(r"^(cmd|file|py|perl):([^\s>]+)(?:>=([0-9][0-9.]*))?$")
PACKAGE_RE = re.compile(r"^(image:)?[a-z0-9][a-z0-9.+-]+$")
# How a tool states the version that matters; the default is `TOOL --version`.
VERSION_PROBES = {
    "kubectl": (["version", "--client"], r"Kustomize Version: v(\d+(?:\.\d+)*)"),
}


class ManifestError(Exception):
    pass


# --- the manifest --------------------------------------------------------------------------------

def read_manifest(path):
    install, image, tools = [], [], []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            words = text.split()
            if not words or words[0].startswith("#"):
                continue
            where = f"{path}:{number}"
            if words[0] == "package":
                name = package_word(words, 1, where)
                (image if name.startswith(IMAGE) else install).append(name.removeprefix(IMAGE))
            else:
                tools.append(tool_line(words, where))
    return Manifest(path, install, image, tools)


def package_word(words, index, where):
    if len(words) <= index + 1:
        raise ManifestError(f"{where}: expected '{' '.join(words)} WHY' (say why it is needed)")
    if not PACKAGE_RE.match(words[index]):
        raise ManifestError(f"{where}: '{words[index]}' is not a Debian package name")
    return words[index]


def tool_line(words, where):
    m = TOOL_RE.match(words[0])
    if not m:
        raise ManifestError(f"{where}: '{words[0]}' is neither 'package' nor KIND:NAME "
                            "(KIND: cmd, file, py, perl)")
    package = package_word(words, 1, where)
    return Tool(m.group(1), m.group(2), m.group(3), package, " ".join(words[2:]), where)


# --- the package database ------------------------------------------------------------------------

def load_packages():
    """{name: Package} of every package dpkg knows, from one dpkg-query call."""
    fmt = ("${Package}\\t${db:Status-Abbrev}\\t${Essential}\\t${Version}\\t${Provides}\\t"
           "${Pre-Depends}\\t${Depends}\\n")
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True,
                         check=True).stdout
    packages = {}
    for line in out.splitlines():
        name, status, essential, version, provides, pre, dep = (line.split("\t") + [""] * 7)[:7]
        if name in packages and packages[name].installed:
            continue  # another architecture of an installed package
        packages[name] = Package(status[1:2] == "i", essential == "yes", version,
                                 relation_names(provides), relation_clauses(pre + "," + dep))
    return packages


def relation_clauses(field):
    """'a (>= 1) | b:any, c' -> [['a', 'b'], ['c']]"""
    return [relation_names(clause.replace("|", ",")) for clause in field.split(",")
            if clause.strip()]


def relation_names(field):
    return [re.sub(r"\s*\(.*?\)|:\S+", "", part).strip() for part in field.split(",")
            if part.strip()]


def providers(packages):
    """{virtual or real name: installed packages that satisfy it}"""
    by_name = {}
    for name, p in packages.items():
        if p.installed:
            for provided in [name] + p.provides:
                by_name.setdefault(provided, set()).add(name)
    return by_name


def closure(roots, packages, satisfiers):
    """The installed packages among `roots` and everything they depend on (every installed
    alternative of an `a | b` counts)."""
    seen, todo = set(), [r for r in roots if r in packages and packages[r].installed]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for clause in packages[name].depends:
            for alternative in clause:
                todo.extend(satisfiers.get(alternative, ()))
    return seen


# --- finding what a tool line names --------------------------------------------------------------

def locate(tool):
    """(path of the file that runs or loads, None) or (None, why it was not found)."""
    if tool.kind == "cmd":
        if os.path.isabs(tool.name):
            return (tool.name, None) if os.access(tool.name, os.X_OK) else (None, "no such file")
        path = shutil.which(tool.name) or shutil.which(tool.name, path=SBIN_PATH)
        return (path, None) if path else (None, "not on PATH, nor in /usr/sbin or /sbin")
    if tool.kind == "file":
        return (tool.name, None) if os.path.exists(tool.name) else (None, "no such file")
    if tool.kind == "py":
        return module_file([DEBIAN_PYTHON, "-c", "import importlib,sys; "
                            "print(importlib.import_module(sys.argv[1]).__file__)", tool.name])
    return module_file([DEBIAN_PERL, f"-M{tool.name}", "-e",
                        f'print $INC{{"{tool.name.replace("::", "/")}.pm"}}'])


def module_file(command):
    """Runs an interpreter that prints the file a module was loaded from: (path, None), or
    (None, the interpreter's first complaint)."""
    if not os.access(command[0], os.X_OK):
        return None, f"{command[0]} is not installed"
    r = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if r.returncode == 0 and r.stdout.strip():
        return r.stdout.strip(), None
    complaint = r.stderr.strip().splitlines()
    return None, complaint[0] if complaint else "cannot load it"


def candidate_paths(path):
    """Where dpkg may have recorded the file: the real file first, then the name it was found
    under; each also with and without /usr (Debian 12 merges /bin into /usr/bin, dpkg does not)."""
    out = []
    for p in (os.path.realpath(path), os.path.abspath(path)):
        out.append(p)
        parts = p.split("/")
        if p.startswith("/usr/") and parts[2] in ("bin", "sbin", "lib", "lib64"):
            out.append(p[len("/usr"):])
        elif len(parts) > 2 and parts[1] in ("bin", "sbin", "lib", "lib64"):
            out.append("/usr" + p)
    return list(dict.fromkeys(out))


def file_owners(paths):
    """{path: {packages}} for the paths dpkg knows (one dpkg-query call)."""
    if not paths:
        return {}
    r = subprocess.run(["dpkg-query", "-S", *paths], capture_output=True, text=True)
    owners = {}
    for line in r.stdout.splitlines():
        if line.startswith("diversion "):
            continue
        names, sep, path = line.partition(": ")
        if sep and path in paths:
            owners.setdefault(path, set()).update(n.split(":")[0] for n in names.split(", "))
    return owners


def tool_version(tool, path):
    """The version `path` states (x.y...), or None."""
    args, pattern = VERSION_PROBES.get(os.path.basename(tool.name),
                                       (["--version"], r"(\d+(?:\.\d+)+)"))
    r = subprocess.run([path, *args], capture_output=True, text=True, timeout=60)
    m = re.search(pattern, r.stdout + r.stderr)
    return m.group(1) if m else None


def version_tuple(text):
    return tuple(int(x) for x in text.split(".") if x.isdigit())


# --- the checks ----------------------------------------------------------------------------------

class Checker:
    def __init__(self, manifest, packages):
        self.manifest = manifest
        self.packages = packages
        self.satisfiers = providers(packages)
        essential = [n for n, p in packages.items() if p.installed and p.essential]
        self.essential = closure(essential, packages, self.satisfiers)
        self.listed = closure(manifest.install + manifest.image, packages, self.satisfiers)
        self.failures = 0

    def fail(self, what, message):
        self.failures += 1
        print(f"FAIL {what}: {message}", flush=True)

    def check_list(self):
        named = {t.package.removeprefix(IMAGE) for t in self.manifest.tools}
        for name in self.manifest.install + self.manifest.image:
            p = self.packages.get(name)
            if p is None or not p.installed:
                how = ("the machine image should bring it" if name in self.manifest.image
                       else "run scripts/bootstrap.sh deps")
                self.fail(f"package {name}", f"listed but not installed ({how})")
            if name not in named:
                self.fail(f"package {name}", "listed, but no tool line says what needs it")

    def check_tool(self, tool, path, owners, missing):
        what = f"{tool.kind}:{tool.name}"
        package = tool.package.removeprefix(IMAGE)
        if path is None:
            return self.fail(what, f"not found ({missing}); package '{package}' provides it"
                             + (self.listing_advice(tool) or self.install_advice(tool)))
        if not owners:
            return self.fail(what, f"{path} belongs to no Debian package (installed by hand?); "
                             f"scripts/deps.txt says it comes from '{package}'")
        if not owners & closure([package], self.packages, self.satisfiers):
            return self.fail(what, f"{path} comes from package {', '.join(sorted(owners))}, "
                             f"not from '{package}' (nor from a package it depends on) as "
                             f"{tool.line} says")
        source = self.source_of(tool, package)
        if source is None:
            return self.fail(what, f"{path} comes from package '{package}', which the install "
                             f"list does not have{self.listing_advice(tool)}")
        version = ""
        if tool.min_version:
            version = self.checked_version(tool, path, what)
            if version is None:
                return None
        owner = ", ".join(sorted(owners)) + ("" if package in owners else f" via {package}")
        print(f"ok   {what:<28} {path}{version} ({owner}: {source})", flush=True)
        return None

    def listing_advice(self, tool):
        package = tool.package.removeprefix(IMAGE)
        if package in self.manifest.install or package in self.manifest.image:
            return ""
        return f": add 'package {tool.package}  WHY' to {self.manifest.path}"

    def install_advice(self, tool):
        if tool.package.startswith(IMAGE):
            return " and the machine image should bring it"
        return ": scripts/bootstrap.sh deps installs it"

    def source_of(self, tool, package):
        """How a fresh machine gets `package`: listed, pulled in by the list, Essential, image."""
        if tool.package.startswith(IMAGE):
            return "machine image" if package in self.manifest.image else None
        if package in self.manifest.install:
            return "listed"
        if package in self.listed:
            return "dependency of the list"
        return "Essential" if package in self.essential else None

    def checked_version(self, tool, path, what):
        """' VERSION' when it is at least the line's minimum; None (and a failure) otherwise."""
        version = tool_version(tool, path)
        if version is None:
            self.fail(what, f"{path} did not say its version (need {tool.min_version} or later)")
            return None
        if version_tuple(version) < version_tuple(tool.min_version):
            self.fail(what, f"{path} is version {version}; the tests need {tool.min_version} "
                      f"or later (package '{tool.package.removeprefix(IMAGE)}')")
            return None
        return f" {version}"

    def run(self):
        self.check_list()
        located = [(t, *locate(t)) for t in self.manifest.tools]
        candidates = {t: candidate_paths(p) for t, p, _ in located if p}
        known = file_owners(sorted({c for cs in candidates.values() for c in cs}))
        for tool, path, missing in located:
            owners = next((known[c] for c in candidates.get(tool, []) if c in known), set())
            self.check_tool(tool, path, owners, missing)
        checked = len(self.manifest.tools)
        print(f"check-deps: {checked} tools and {len(self.manifest.install)} listed packages "
              f"checked, {self.failures} problem(s)", flush=True)
        return 1 if self.failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "deps.txt"))
    opts = parser.parse_args()
    try:
        manifest = read_manifest(opts.manifest)
    except (OSError, ManifestError) as e:
        print(f"check-deps: {e}", file=sys.stderr)
        return 2
    if shutil.which("dpkg-query") is None:
        print("check-deps: dpkg-query not found (a Debian system is needed)", file=sys.stderr)
        return 2
    return Checker(manifest, load_packages()).run()


if __name__ == "__main__":
    sys.exit(main())
