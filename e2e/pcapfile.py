"""pcapfile.py: the frames of a classic pcap file, shared by pcap2hex.py and pcap6.py."""
import struct


def frames(path):
    """(time in seconds, frame bytes) of every record, either byte order, micro- or nanosecond stamps."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    frac_per_sec = 1e9 if magic in (0xA1B23C4D, 0x4D3CB2A1) else 1e6
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        yield sec + frac / frac_per_sec, data[off + 16:off + 16 + incl]
        off += 16 + incl
