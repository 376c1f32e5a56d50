"""Rows of small integers packed into bytes, most significant bits first, as PNG, BMP
and TIFF store pixels of fewer than 8 bits (shared by the image test fixtures)."""
import numpy as np


def pack_bits(a, bits):
    """(h, w) values -> list of rows packed at 1, 2, 4, 8 or 12 bits a value, MSB first,
    each row padded with zero bits to a whole byte."""
    a = np.asarray(a)
    if bits == 8:
        return [bytes(r.astype(np.uint8)) for r in a]
    if bits == 12:  # two values in three bytes
        out = []
        for r in a.astype(np.uint16):
            r = np.concatenate([r, np.zeros(len(r) % 2, np.uint16)]).reshape(-1, 2)
            b = np.stack([r[:, 0] >> 4, (r[:, 0] & 15) << 4 | r[:, 1] >> 8, r[:, 1] & 255], 1)
            out.append(b.astype(np.uint8).tobytes()[:(a.shape[1] * 12 + 7) // 8])
        return out
    per = 8 // bits
    shifts = np.arange(per - 1, -1, -1) * bits
    out = []
    for r in a:
        r = r.astype(np.uint8)
        r = np.concatenate([r, np.zeros((-len(r)) % per, np.uint8)]).reshape(-1, per)
        out.append((r << shifts).sum(axis=1).astype(np.uint8).tobytes())
    return out


_REVERSED = bytes(int(format(x, "08b")[::-1], 2) for x in range(256))


def reverse_bits(b):
    """Each byte's bits in reverse order (TIFF FillOrder 2)."""
    return bytes(b).translate(_REVERSED)
