#!/usr/bin/env python3
"""pcap2hex.py: list the DHCP packets in a pcap (Ethernet, IPv4, UDP) and write UDP payloads as hex.

    pcap2hex.py FILE.pcap                 one summary line per packet, numbered
    pcap2hex.py FILE.pcap N OUT.hex       write packet N's UDP payload as lowercase hex, 64 chars a line

Used to make proxy/testdata/*.hex from the captures of e2e/capture.sh (see proxy/testdata/CAPTURES.md).
"""
import struct
import sys

import pcapfile

MSG = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}


def packets(path):
    for _, frame in pcapfile.frames(path):
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue
        src, dst = ip[12:16], ip[16:20]
        udp = ip[ihl:]
        sport, dport, ulen = struct.unpack(">HHH", udp[:6])
        yield (".".join(map(str, src)), sport, ".".join(map(str, dst)), dport, udp[8:ulen])


def options(payload):
    opts = {}
    i = 240
    while i < len(payload):
        code = payload[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        n = payload[i + 1]
        opts.setdefault(code, payload[i + 2:i + 2 + n])
        i += 2 + n
    return opts


def summary(p):
    src, sport, dst, dport, pl = p
    o = options(pl)
    mt = MSG.get(o.get(53, b"\0")[0], "?")
    vc = o.get(60, b"").decode("ascii", "replace")
    arch = o.get(93, b"").hex()
    uc = o.get(77, b"").decode("ascii", "replace")
    op = "req" if pl[0] == 1 else "reply"
    return (f"{src}:{sport} > {dst}:{dport} {op} {mt} xid={pl[4:8].hex()} chaddr={pl[28:34].hex(':')} "
            f"ciaddr={'.'.join(map(str, pl[12:16]))} yiaddr={'.'.join(map(str, pl[16:20]))} "
            f"60={vc!r} 93={arch} 77={uc!r} opts={sorted(o)} len={len(pl)}")


def main():
    pk = list(packets(sys.argv[1]))
    if len(sys.argv) == 2:
        for n, p in enumerate(pk):
            print(n, summary(p))
        return
    pl = pk[int(sys.argv[2])][4]
    h = pl.hex()
    with open(sys.argv[3], "w") as f:
        for i in range(0, len(h), 64):
            f.write(h[i:i + 64] + "\n")


if __name__ == "__main__":
    main()
