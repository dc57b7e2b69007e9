#!/usr/bin/env python3
"""Makes the first member of struct NAME in an ELF's .BTF section refer to the struct itself.

Usage: selfref.py OBJECT NAME. Used by the malformed-input corpus (case elf/self-containing-struct):
a struct that contains itself once made rig's BTF reader use 6.8 GB and overflow its stack.
"""
import struct
import sys

path, want = sys.argv[1], sys.argv[2].encode()
data = bytearray(open(path, "rb").read())
shoff, = struct.unpack_from("<Q", data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
names_off = sections[shstrndx][4]


def sname(off):
    end = data.index(b"\0", names_off + off)
    return bytes(data[names_off + off:end])


btf = next(s for s in sections if sname(s[0]) == b".BTF")
base = btf[4]
_magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", data, base)
types = base + hdr_len + type_off
strings = base + hdr_len + str_off


def string(off):
    end = data.index(b"\0", strings + off)
    return bytes(data[strings + off:end])


# Extra bytes after the 12-byte header, per kind (vlen = number of entries).
EXTRA = {1: lambda v: 4, 2: lambda v: 0, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v,
         6: lambda v: 8 * v, 7: lambda v: 0, 8: lambda v: 0, 9: lambda v: 0, 10: lambda v: 0,
         11: lambda v: 0, 12: lambda v: 0, 13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v,
         16: lambda v: 0, 17: lambda v: 4, 18: lambda v: 0, 19: lambda v: 16 * v}
pos, tid = types, 1
while pos < types + type_len:
    name_off, info, _size = struct.unpack_from("<III", data, pos)
    kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
    if kind == 4 and string(name_off) == want and vlen > 0:
        struct.pack_into("<I", data, pos + 12 + 4, tid)  # members[0].type = this struct
        open(path, "wb").write(data)
        sys.exit(0)
    pos += 12 + EXTRA[kind](vlen)
    tid += 1
sys.exit(f"struct {want.decode()} not found")
