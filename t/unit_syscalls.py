#!/usr/bin/env python3
"""unit_syscalls.py UNIT: the system calls a unit's SystemCallFilter=
allows, one per line, its groups expanded as systemd expands them
(systemd-analyze syscall-filter).  Only allow-lists: a deny-list (~...)
is refused, as the tests that use this run commands under an allow-list."""
import subprocess
import sys


def expand(group, seen):
    out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if word.startswith("@"):
            if word not in seen:
                seen.add(word)
                names |= expand(word, seen)
        else:
            names.add(word)
    return names


def main():
    items = []
    with open(sys.argv[1]) as unit:
        for line in unit:
            if line.startswith("SystemCallFilter="):
                items += line.split("=", 1)[1].split()
    if not items or any(i.startswith("~") for i in items):
        sys.exit(f"{sys.argv[1]}: no SystemCallFilter= allow-list")
    names = set()
    for item in items:
        names |= expand(item, {item}) if item.startswith("@") else {item}
    print("\n".join(sorted(names)))


main()
