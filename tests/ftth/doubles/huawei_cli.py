# ruff: noqa: E501 - console answers are kept on one line, as the OLT prints them
"""A Huawei MA5800 console, as a double: the ForceCommand of a real sshd (tests/ftth/doubles/huawei_ssh.py).

It answers the commands the CLI driver sends the way the MA5800 command reference shows them (modes
``>``, ``#``, ``(config)#``, ``(config-if-gpon-F/S)#``; ``undo smart``, ``scroll``, ``infoswitch cli OFF``;
``ont add``/``ont delete``/``ont reset``/``ont port native-vlan`` in the GPON interface; ``service-port`` and
``undo service-port`` in config mode; ``display ont autofind all``, ``display ont info by-sn``,
``display ont info``/``display ont optical-info`` in the interface; ``(y/n)[n]:`` confirmations). It is not
Huawei's software: only what the tests need, with the OLT's state in a JSON file the test reads and
writes. ``fail`` in the state makes a command matching that prefix answer ``Failure: ...``; ``hang`` makes it
never answer (a timeout).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

NAME = "MA5800-X7"
STATE = Path(sys.argv[1])


def load() -> dict[str, Any]:
    state: dict[str, Any] = json.loads(STATE.read_text())
    return state


def save(state: dict[str, Any]) -> None:
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(STATE)


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def confirm(question: str) -> bool:
    out(f"{question} (y/n)[n]:")
    answer = sys.stdin.readline().replace("\x00", "").strip().lower()
    return answer == "y"


def ont_add(state: dict[str, Any], fs: str, args: str) -> str:
    m = re.match(
        r"^(\d+) (\d+) sn-auth (\S+) omci ont-lineprofile-(?:id|name) (\S+) ont-srvprofile-(?:id|name) (\S+)(?: desc \"([^\"]*)\")?$",
        args,
    )
    if m is None:
        return "% Parameter error, the error locates at '^'\n"
    port, onu, sn = m.group(1), int(m.group(2)), m.group(3)
    if onu > 127:
        return "Failure: The ONT ID is out of range\n"
    for o in state["onts"]:
        if o["sn"] == sn:
            return "Failure: SN already exists\n"
        if o["fsp"] == f"{fs}/{port}" and o["id"] == onu:
            return "Failure: The ONT ID has already existed\n"
    state["onts"].append(
        {
            "fsp": f"{fs}/{port}",
            "id": onu,
            "sn": sn,
            "line": m.group(4),
            "srv": m.group(5),
            "desc": m.group(6) or "",
            "native_vlan": None,
        }
    )
    state["autofind"] = [a for a in state["autofind"] if a["sn"] != sn]
    save(state)
    return f"  Number of ONTs that can be added: 1, success: 1\n  PortID :{port}, ONTID :{onu}\n"


def find(state: dict[str, Any], fsp: str, onu: int) -> dict[str, Any] | None:
    return next((o for o in state["onts"] if o["fsp"] == fsp and o["id"] == onu), None)


def in_interface(state: dict[str, Any], fs: str, line: str) -> str:
    if m := re.match(r"^ont add (.*)$", line):
        return ont_add(state, fs, m.group(1))
    if m := re.match(r"^ont delete (\d+) (\d+)$", line):
        ont = find(state, f"{fs}/{m.group(1)}", int(m.group(2)))
        if ont is None:
            return "Failure: The ONT does not exist\n"
        if any(sp["fsp"] == ont["fsp"] and sp["ont"] == ont["id"] for sp in state["service_ports"]):
            return "Failure: This configured object has some service virtual ports\n"
        state["onts"].remove(ont)
        save(state)
        return "  Number of ONTs that can be deleted: 1, success: 1\n"
    if m := re.match(r"^ont reset (\d+) (\d+)$", line):
        if find(state, f"{fs}/{m.group(1)}", int(m.group(2))) is None:
            return "Failure: The ONT does not exist\n"
        if not confirm("  Are you sure to reset the ONT(s)?"):
            return ""
        state["resets"].append(f"{fs}/{m.group(1)} {m.group(2)}")
        save(state)
        return ""
    if m := re.match(r"^ont port native-vlan (\d+) (\d+) eth (\d+) vlan (\d+)$", line):
        ont = find(state, f"{fs}/{m.group(1)}", int(m.group(2)))
        if ont is None:
            return "Failure: The ONT does not exist\n"
        ont["native_vlan"] = int(m.group(4))
        save(state)
        return ""
    if m := re.match(r"^display ont info (\d+) (\d+)$", line):
        ont = find(state, f"{fs}/{m.group(1)}", int(m.group(2)))
        if ont is None:
            return "Failure: The ONT does not exist\n"
        run = ont.get("run", "online")
        return (
            "  -----------------------------------------------------------------------------\n"
            f"  F/S/P                   : {ont['fsp']}\n  ONT-ID                  : {ont['id']}\n"
            f"  Run state               : {run}\n  SN                      : {ont['sn']} (HWTC-{ont['sn'][4:]})\n"
            f"  Description             : {ont['desc']}\n  ONT distance(m)         : {ont.get('distance', 1500) if run == 'online' else '-'}\n"
            f"  Last down cause         : {ont.get('cause', '-')}\n"
            "  -----------------------------------------------------------------------------\n"
        )
    if m := re.match(r"^display ont optical-info (\d+) (\d+)$", line):
        ont = find(state, f"{fs}/{m.group(1)}", int(m.group(2)))
        if ont is None or ont.get("run", "online") != "online":
            return "Failure: The ONT is not online\n"
        return (
            "  -----------------------------------------------------------------------------\n"
            f"  Rx optical power(dBm)                  : {ont.get('rx', -20.15):.2f}\n"
            f"  Tx optical power(dBm)                  : {ont.get('tx', 2.05):.2f}\n"
            "  Laser bias current(mA)                 : 11\n  Temperature(C)                         : 47\n"
            "  Voltage(V)                             : 3.280\n"
            f"  OLT Rx ONT optical power(dBm)          : {ont.get('olt_rx', -22.6):.2f}\n"
            "  -----------------------------------------------------------------------------\n"
        )
    return None  # type: ignore[return-value]


def in_config(state: dict[str, Any], line: str) -> str | None:
    if m := re.match(
        r"^service-port vlan (\d+) gpon (\d+/\d+/\d+) ont (\d+) gemport (\d+) multi-service user-vlan (\d+) tag-transform translate$",
        line,
    ):
        if find(state, m.group(2), int(m.group(3))) is None:
            return "Failure: The ONT does not exist\n"
        if any(
            sp["fsp"] == m.group(2) and sp["ont"] == int(m.group(3)) and sp["gem"] == int(m.group(4))
            for sp in state["service_ports"]
        ):
            return "Failure: The service virtual port has existed already\n"
        state["service_ports"].append(
            {"vlan": int(m.group(1)), "fsp": m.group(2), "ont": int(m.group(3)), "gem": int(m.group(4))}
        )
        save(state)
        return ""
    if m := re.match(r"^undo service-port port (\d+/\d+/\d+) ont (\d+)$", line):
        ports = [sp for sp in state["service_ports"] if sp["fsp"] == m.group(1) and sp["ont"] == int(m.group(2))]
        if not ports:
            return "Failure: The service virtual port does not exist\n"
        if not confirm("  Are you sure to release service virtual port(s)?"):
            return ""
        state["service_ports"] = [sp for sp in state["service_ports"] if sp not in ports]
        save(state)
        return ""
    return None


def display(state: dict[str, Any], line: str) -> str | None:
    if line == "display ont autofind all":
        if not state["autofind"]:
            return "  Failure: The automatically found ONTs do not exist\n"
        blocks = []
        for n, a in enumerate(state["autofind"], 1):
            blocks.append(
                "  ----------------------------------------------------------------------------\n"
                f"  Number              : {n}\n  F/S/P               : {a['fsp']}\n"
                f"  Ont SN              : {a['sn']} (HWTC-{a['sn'][4:]})\n  Password            : 0x00000000000000000000\n"
                f"  Loid                : \n  VendorID            : HWTC\n  Ont SoftwareVersion : {a.get('software', 'V5R020C00S115')}\n"
                f"  Ont EquipmentID     : {a.get('equipment', 'EG8145V5')}\n  Ont autofind time   : 2026-12-07 10:31:02+00:00\n"
            )
        return "".join(blocks) + "  ----------------------------------------------------------------------------\n"
    if m := re.match(r"^display ont info by-sn (\S+)$", line):
        ont = next((o for o in state["onts"] if o["sn"] == m.group(1)), None)
        if ont is None:
            return "  Failure: The required ONT does not exist\n"
        return (
            "  -----------------------------------------------------------------------------\n"
            f"  F/S/P                   : {ont['fsp']}\n  ONT-ID                  : {ont['id']}\n"
            f"  SN                      : {ont['sn']}\n"
            "  -----------------------------------------------------------------------------\n"
        )
    return None


def main() -> None:
    mode, fs = ">", ""
    while True:
        prompt = {">": ">", "#": "#", "config": "(config)#", "if": f"(config-if-gpon-{fs})#"}[mode]
        out(f"\n{NAME}{prompt}")
        raw = sys.stdin.readline()
        if not raw:
            return
        line = " ".join(raw.replace("\x00", "").strip().split())
        if not line:
            continue
        state = load()
        if any(line.startswith(h) for h in state.get("hang", [])):
            time.sleep(3600)
        failing = next((f for f in state.get("fail", []) if line.startswith(f)), None)
        state.setdefault("log", []).append(line)
        save(state)
        if failing:
            out(f"\n  Failure: {state.get('fail_message', 'System is busy, please retry later')}\n")
            continue
        if line in ("undo smart", "scroll", "scroll 512", "infoswitch cli OFF", "mmi-mode enable"):
            continue
        reply: str | None = None
        if line == "enable" and mode == ">":
            mode = "#"
            continue
        if line == "disable" and mode == "#":
            mode = ">"
            continue
        if line == "config" and mode == "#":
            mode = "config"
            continue
        if line == "return":
            mode = "#" if mode != ">" else ">"
            continue
        if line == "quit":
            if mode == "if":
                mode = "config"
            elif mode == "config":
                mode = "#"
            elif confirm("  Are you sure to log out?"):
                out(
                    "\n  Check whether system data has been changed. Please save data before logout.\n  Configuration console exit, please retry to log on\n"
                )
                return
            continue
        if (m := re.match(r"^interface gpon (\d+/\d+)$", line)) and mode == "config":
            mode, fs = "if", m.group(1)
            continue
        if line.startswith("display "):
            reply = display(state, line)
        if reply is None and mode == "if":
            reply = in_interface(state, fs, line)
        if reply is None and mode == "config":
            reply = in_config(state, line)
        if reply is None:
            reply = "\n% Unknown command, the error locates at '^'\n"
        out("\n" + reply)


if __name__ == "__main__":
    main()
