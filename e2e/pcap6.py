#!/usr/bin/env python3
"""pcap6.py: the DHCPv6 packets of a pcap (Ethernet, IPv6, UDP 546/547/4011): list, check, write as hex.

    pcap6.py FILE.pcap                       one summary line per packet, numbered, with its time from the first
    pcap6.py FILE.pcap --check MAC           every packet sent by MAC (pxeproxy) from UDP 547 or 4011 must be an
                                             ADVERTISE, REPLY or RELAY-REPL with option 59 and without IA_NA (3),
                                             IA_TA (4), IA_PD (25) or Status Code (13), also inside relay
                                             envelopes; prints what it counted, exit status 1 on the first
                                             offence or when there is no such packet
    pcap6.py FILE.pcap --relay MAC           every RELAY-REPL sent by MAC (pxeproxy) answers a RELAY-FORW it received
                                             (the reverse addresses): the same hop count, link-address and
                                             peer-address, the Interface-ID (18) echoed byte for byte when the
                                             RELAY-FORW had one and absent when not (RFC 8415 19.3), the same
                                             transaction id inside; prints what it counted, exit status 1 on the
                                             first offence or when there is no RELAY-REPL
    pcap6.py FILE.pcap N OUT.hex [NOTE]      write packet N's UDP payload as lowercase hex, 32 chars a line, after
                                             "# NOTE" (proxy6/testdata format)

Used by e2e/run.sh (scenarios ipv6, kea6, dual) and to make proxy6/testdata/ovmf-*.hex (see CAPTURES.md there).
"""
import ipaddress
import struct
import sys

import pcapfile

TYPES = {1: "SOLICIT", 2: "ADVERTISE", 3: "REQUEST", 4: "CONFIRM", 5: "RENEW", 6: "REBIND", 7: "REPLY",
         8: "RELEASE", 9: "DECLINE", 10: "RECONFIGURE", 11: "INFORMATION-REQUEST", 12: "RELAY-FORW",
         13: "RELAY-REPL"}
PORTS = (546, 547, 4011)


def packets(path):
    for ts, frame in pcapfile.frames(path):
        if len(frame) < 14 + 40 + 8 or frame[12:14] != b"\x86\xdd" or frame[14 + 6] != 17:
            continue
        ip = frame[14:]
        udp = ip[40:]
        sport, dport, ulen = struct.unpack(">HHH", udp[:6])
        if sport not in PORTS and dport not in PORTS:
            continue
        src, dst = ipaddress.IPv6Address(ip[8:24]), ipaddress.IPv6Address(ip[24:40])
        yield frame[6:12].hex(":"), f"[{src}]:{sport}", f"[{dst}]:{dport}", udp[8:ulen], ts


def options(b):
    """(code, value) of an option list; stops at a truncated option."""
    out = []
    while len(b) >= 4:
        code, n = struct.unpack(">HH", b[:4])
        out.append((code, b[4:4 + n]))
        b = b[4 + n:]
    return out


def layers(msg):
    """The message and every message inside its relay envelopes, outermost first."""
    while msg:
        yield msg
        if msg[0] not in (12, 13) or len(msg) < 34:
            return
        msg = dict(options(msg[34:])).get(9, b"")


def summary(p, t0=None):
    mac, src, dst, pl, ts = p
    parts = []
    for m in layers(pl):
        opts = options(m[34:] if m[0] in (12, 13) else m[4:])
        codes = [c for c, _ in opts]
        d = dict(opts)
        desc = TYPES.get(m[0], str(m[0]))
        if m[0] not in (12, 13):
            desc += f" xid={m[1:4].hex()}"
        if 59 in d:
            desc += f" url={d[59].decode('ascii', 'replace')!r}"
        if 16 in d and len(d[16]) > 6:
            desc += f" vendor={d[16][6:].decode('ascii', 'replace')!r}"
        if 15 in d:
            desc += f" user-class={d[15][2:].decode('ascii', 'replace')!r}"
        if 1 in d:
            desc += f" client-id={d[1].hex()}"
        if 7 in d:
            desc += f" preference={d[7][0] if d[7] else '?'}"
        desc += f" opts={codes}"
        parts.append(desc)
    at = f"+{ts - t0:.3f}s " if t0 is not None else ""
    return f"{at}{mac} {src} > {dst} " + " / ".join(parts) + f" len={len(pl)}"


def check(pk, mac):
    counts = {}
    for p in pk:
        if p[0] != mac.lower() or not p[1].endswith((":547", ":4011")):
            continue
        for m in layers(p[3]):
            name = TYPES.get(m[0], str(m[0]))
            if m[0] in (12, 13):
                continue
            if m[0] not in (2, 7):
                print(f"pcap6: pxeproxy sent a {name}: {summary(p)}")
                return 1
            d = dict(options(m[4:]))
            bad = sorted(set(d) & {3, 4, 13, 25})
            if bad or 59 not in d:
                print(f"pcap6: pxeproxy {name} with options {bad} (option 59 {'present' if 59 in d else 'missing'}): "
                      f"{summary(p)}")
                return 1
            key = name + (" on 4011" if p[1].endswith(":4011") else "")
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        print("pcap6: no DHCPv6 reply from pxeproxy in the capture")
        return 1
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ", none with IA_NA/IA_TA/IA_PD/status")
    return 0


def relay(pk, mac):
    forws = {}  # (relay's address, our address, inner xid) -> the latest RELAY-FORW
    n_forw = n_repl = n_ifid = 0
    for p in pk:
        pl = p[3]
        if len(pl) < 38 or pl[0] not in (12, 13):
            continue
        src, dst = p[1].rsplit(":", 1)[0], p[2].rsplit(":", 1)[0]
        inner = dict(options(pl[34:])).get(9, b"")
        if pl[0] == 12 and p[0] != mac.lower():
            forws[(src, dst, inner[1:4])] = pl
            n_forw += 1
            continue
        if pl[0] != 13 or p[0] != mac.lower():
            continue
        n_repl += 1
        fw = forws.get((dst, src, inner[1:4]))
        if fw is None:
            print(f"pcap6: RELAY-REPL answers no RELAY-FORW seen: {summary(p)}")
            return 1
        if pl[1:34] != fw[1:34]:
            print(f"pcap6: RELAY-REPL hop count, link-address or peer-address differ from the RELAY-FORW's: {summary(p)}")
            return 1
        ifid_f, ifid_r = dict(options(fw[34:])).get(18), dict(options(pl[34:])).get(18)
        if ifid_f != ifid_r:
            print(f"pcap6: Interface-ID not echoed (RELAY-FORW {ifid_f!r}, RELAY-REPL {ifid_r!r}): {summary(p)}")
            return 1
        if ifid_r is not None:
            n_ifid += 1
            last = ifid_r
    if not n_repl:
        print("pcap6: no RELAY-REPL from pxeproxy in the capture")
        return 1
    echoed = f"Interface-ID {last.hex()} echoed in {n_ifid}" if n_ifid else "no Interface-ID in any RELAY-FORW"
    print(f"RELAY-FORW {n_forw}, RELAY-REPL {n_repl} matching theirs, {echoed}")
    return 0


def main():
    pk = list(packets(sys.argv[1]))
    if len(sys.argv) == 2:
        for n, p in enumerate(pk):
            print(n, summary(p, pk[0][4]))
        return 0
    if sys.argv[2] == "--check":
        return check(pk, sys.argv[3])
    if sys.argv[2] == "--relay":
        return relay(pk, sys.argv[3])
    pl = pk[int(sys.argv[2])][3]
    h = pl.hex()
    with open(sys.argv[3], "w") as f:
        if len(sys.argv) > 4:
            for line in sys.argv[4].splitlines():
                f.write(f"# {line}\n")
        for i in range(0, len(h), 32):
            f.write(h[i:i + 32] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
