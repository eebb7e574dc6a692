#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks the D-Bus data files against each other and against the systemd units.

- the interface XML and the bus policy are well-formed XML (xmllint too, where installed);
- the bus policy lets only the user "aid" own org.aid.Daemon1 and lets everyone call the
  Manager, Properties, Introspectable and Peer interfaces of it, and nothing else;
- both activation files name org.aid.Daemon1, never start a program themselves
  (Exec=/bin/false) and hand activation to aid.service; the system one runs as "aid";
- the units ask for the same bus name, and the system unit runs as that same user.

usage: check-dbus-files.py DBUS_SOURCE_DIR USER_UNIT SYSTEM_UNIT
"""
import configparser
import shutil
import subprocess
import sys
import xml.dom.minidom

BUS_NAME = "org.aid.Daemon1"
UNIT = "aid.service"
DAEMON_USER = "aid"
CALLABLE = {
    "org.aid.Daemon1.Manager",
    "org.freedesktop.DBus.Properties",
    "org.freedesktop.DBus.Introspectable",
    "org.freedesktop.DBus.Peer",
}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def parse_xml(path):
    try:
        doc = xml.dom.minidom.parse(path)
    except Exception as e:  # ExpatError, OSError: both mean the bus cannot read it either
        fail(f"{path}: not well-formed XML: {e}")
        return None
    if shutil.which("xmllint"):
        r = subprocess.run(["xmllint", "--noout", "--nonet", path], capture_output=True, text=True)
        if r.returncode != 0 or r.stderr:
            fail(f"{path}: xmllint: {r.stderr.strip()}")
    return doc


def check_interface_xml(path):
    doc = parse_xml(path)
    if doc is None:
        return
    names = {i.getAttribute("name") for i in doc.getElementsByTagName("interface")}
    if "org.aid.Daemon1.Manager" not in names:
        fail(f"{path}: no interface org.aid.Daemon1.Manager (found {sorted(names)})")


def check_policy(path):
    doc = parse_xml(path)
    if doc is None:
        return
    if doc.documentElement.tagName != "busconfig":
        fail(f"{path}: root element is <{doc.documentElement.tagName}>, not <busconfig>")
    owners = set()
    sends = set()
    for policy in doc.getElementsByTagName("policy"):
        who = policy.getAttribute("user") or policy.getAttribute("context") or "?"
        for rule in policy.childNodes:
            if rule.nodeType != rule.ELEMENT_NODE:
                continue
            if rule.tagName != "allow":
                fail(f"{path}: unexpected <{rule.tagName}> rule for {who}")
                continue
            if rule.getAttribute("own"):
                owners.add((who, rule.getAttribute("own")))
            if rule.getAttribute("send_destination"):
                if rule.getAttribute("send_destination") != BUS_NAME:
                    fail(f"{path}: allows sending to {rule.getAttribute('send_destination')}")
                if not rule.getAttribute("send_interface"):
                    fail(f"{path}: a send rule for {who} without send_interface allows every interface")
                sends.add((who, rule.getAttribute("send_interface")))
    if owners != {(DAEMON_USER, BUS_NAME)}:
        fail(f"{path}: ownership rules {sorted(owners)}, expected only user {DAEMON_USER} owning {BUS_NAME}")
    expected = {("default", i) for i in CALLABLE}
    if sends != expected:
        fail(f"{path}: send rules {sorted(sends)}, expected {sorted(expected)}")


def read_ini(path, section):
    # strict=False: units repeat keys (SystemCallFilter=) on purpose; the last one is kept here.
    p = configparser.ConfigParser(interpolation=None, strict=False)
    p.optionxform = str  # keys are case-sensitive in both formats
    try:
        with open(path) as f:
            p.read_file(f)
    except (OSError, configparser.Error) as e:
        fail(f"{path}: {e}")
        return {}
    if section not in p:
        fail(f"{path}: no [{section}] section")
        return {}
    return dict(p[section])


def check_activation(path, system):
    s = read_ini(path, "D-BUS Service")
    expected = {"Name": BUS_NAME, "Exec": "/bin/false", "SystemdService": UNIT}
    if system:
        expected["User"] = DAEMON_USER
    if s != expected:
        fail(f"{path}: {s}, expected exactly {expected}")


def check_unit(path, system):
    s = read_ini(path, "Service")
    if s.get("BusName") != BUS_NAME:
        fail(f"{path}: BusName={s.get('BusName')}, expected {BUS_NAME}")
    if system and s.get("User") != DAEMON_USER:
        fail(f"{path}: User={s.get('User')}, expected {DAEMON_USER} (the user the bus policy trusts)")


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    dbus_dir, user_unit, system_unit = sys.argv[1:]
    check_interface_xml(f"{dbus_dir}/org.aid.Daemon1.xml")
    check_policy(f"{dbus_dir}/org.aid.Daemon1.conf")
    check_activation(f"{dbus_dir}/org.aid.Daemon1.service", system=False)
    check_activation(f"{dbus_dir}/org.aid.Daemon1.system.service", system=True)
    check_unit(user_unit, system=False)
    check_unit(system_unit, system=True)
    if not failures:
        print("ok: D-Bus files well-formed and consistent with the units")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
