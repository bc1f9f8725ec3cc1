#!/usr/bin/env python3
"""Writes the small hostile-input fixtures in this folder (issue 14, items 5a-5d).

Every DICOM file is written byte by byte here (no pydicom), so each damage is exactly the one named;
the compressed ones get their pixel data from DCMTK's own encoders (dcmcrle, dcmcjpeg, dcmcjpls).
Big hostile inputs (100 MB of zeros after 'DICM', 7,000 nested sequences, a 4 GiB pixel
declaration inside a deflated data set) are built by the tests themselves in a temporary folder.

Run from anywhere: python3 Tests/Fixtures/hostile/make_hostile.py
Needs python3 and DCMTK's command-line tools (Debian: dcmtk); the tests never need either.
"""
import os
import struct
import subprocess
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "..", "images")

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
RLE = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
DEFLATED = "1.2.840.10008.1.2.1.99"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
UNDEFINED = 0xFFFFFFFF


def pad(value, vr):
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB", b"OW", b"UN") else b" "
    return value


def el(group, element, vr, value, length=None):
    """One explicit VR little endian element; `length` overrides the written length (for lies)."""
    vr = vr.encode()
    if isinstance(value, str):
        value = value.encode()
    value = pad(value, vr)
    n = len(value) if length is None else length
    if vr in LONG_VRS:
        return struct.pack("<HH2sHI", group, element, vr, 0, n) + value
    return struct.pack("<HH2sH", group, element, vr, n) + value


def us(group, element, v):
    return el(group, element, "US", struct.pack("<H", v))


def meta(ts):
    body = (el(0x0002, 0x0001, "OB", b"\0\1") + el(0x0002, 0x0002, "UI", SC_CLASS) +
            el(0x0002, 0x0003, "UI", "1.2.826.0.1.3680043.10.1485.1") + el(0x0002, 0x0010, "UI", ts))
    return b"\0" * 128 + b"DICM" + el(0x0002, 0x0000, "UL", struct.pack("<I", len(body))) + body


def header(rows=64, columns=64, bits=16, stored=None, extra=b"", photometric="MONOCHROME2"):
    """Top-level elements up to (but without) Pixel Data, in tag order; `extra` goes in group 0028."""
    stored = bits if stored is None else stored
    return (el(0x0008, 0x0016, "UI", SC_CLASS) + el(0x0008, 0x0018, "UI", "1.2.826.0.1.3680043.10.1485.2") +
            el(0x0008, 0x0060, "CS", "OT") + el(0x0010, 0x0010, "PN", "Hostile^Fixture") +
            el(0x0010, 0x0020, "LO", "HOSTILE-1") +
            us(0x0028, 0x0002, 1) + el(0x0028, 0x0004, "CS", photometric) + us(0x0028, 0x0010, rows) +
            us(0x0028, 0x0011, columns) + us(0x0028, 0x0100, bits) + us(0x0028, 0x0101, min(stored, 0xFFFF)) +
            us(0x0028, 0x0102, max(0, min(stored, 0xFFFF) - 1)) + us(0x0028, 0x0103, 0) + extra)


def gradient16(rows=64, columns=64, maximum=4095):
    return b"".join(struct.pack("<H", (x + y) * maximum // (rows + columns - 2))
                    for y in range(rows) for x in range(columns))


def gradient8(rows=64, columns=64):
    return bytes((x + y) * 255 // (rows + columns - 2) for y in range(rows) for x in range(columns))


def native(extra=b"", rows=64, columns=64, bits=16, stored=None, pixels=None):
    pixels = gradient16(rows, columns) if pixels is None else pixels
    return (meta(EXPLICIT_LE) + header(rows, columns, bits, stored, extra) +
            el(0x7FE0, 0x0010, "OW" if bits > 8 else "OB", pixels))


def encapsulated(ts, fragments, rows=64, columns=64, bits=8, extra=b""):
    items = struct.pack("<HHI", 0xFFFE, 0xE000, 0)  # empty Basic Offset Table
    for f in fragments:
        f = f + (b"\0" if len(f) % 2 else b"")
        items += struct.pack("<HHI", 0xFFFE, 0xE000, len(f)) + f
    items += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return (meta(ts) + header(rows, columns, bits, extra=extra) +
            struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, UNDEFINED) + items)


def fragments_of(path):
    """The fragments (after the offset table) of an encapsulated Pixel Data written by DCMTK."""
    data = open(path, "rb").read()
    start = data.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
    assert start >= 0, path
    i = start + 12
    out = []
    while True:
        group, element, length = struct.unpack_from("<HHI", data, i)
        i += 8
        if element == 0xE0DD:
            break
        out.append(data[i:i + length])
        i += length
    return out[1:]


def dcmtk(tool, args, source_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.dcm"), os.path.join(tmp, "out.dcm")
        open(src, "wb").write(source_bytes)
        subprocess.run([tool] + args + [src, dst], check=True)
        return fragments_of(dst)


def write(name, data):
    open(os.path.join(HERE, name), "wb").write(data)
    print(f"{name}: {len(data)} bytes")


def main():
    # A valid control file: every hostile DICOM below differs from it in one place.
    write("control_mono16.dcm", native(extra=el(0x0028, 0x1050, "DS", "2048") + el(0x0028, 0x1051, "DS", "4096")))

    # 5a: window values DCMTK accepts but Swift's Int() conversion traps on.
    for name, centre, width in [("nan", "NaN", "400"), ("inf", "40", "inf"), ("huge", "9.3e15", "400")]:
        write(f"window_{name}.dcm", native(extra=el(0x0028, 0x1050, "DS", centre) + el(0x0028, 0x1051, "DS", width)))

    # 5a: RLE header whose first segment offset (0x40000000) lies far beyond its fragment.
    header_bytes = struct.pack("<16I", 1, 0x40000000, *([0] * 14))
    write("rle_offset_huge.dcm", encapsulated(RLE, [header_bytes + b"\x7f" + b"\x01" * 128]))

    # 5d: an RLE segment that fills 100 of 64x64 = 4096 pixels (a literal run of 100 bytes).
    segment = b"\x63" + bytes(range(100))
    write("rle_short_segment.dcm", encapsulated(RLE, [struct.pack("<16I", 1, 64, *([0] * 14)) + segment]))

    # 5b: a deflated data set whose Pixel Data declares 0xFFFFFFF0 bytes (4 GiB) for 256x256 16-bit pixels;
    # only 64 KiB of zeros follow, so the file stays small.
    dataset = header(256, 256, 16) + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, 0xFFFFFFF0) + b"\0" * 65536
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    write("deflate_declares_4gib.dcm", meta(DEFLATED) + squeeze.compress(dataset) + squeeze.flush())

    # 5c: transfer syntaxes DCMTK 3.6.7 does not know, and a garbled UID.
    junk = [b"\xff\x4f\xff\x51" + b"\0" * 60]
    for name, uid in [("htj2k", "1.2.840.10008.1.2.4.201"), ("jpegxl", "1.2.840.10008.1.2.4.110"),
                      ("deflated_frame", "1.2.840.10008.1.2.8.1"), ("unknown", "1.2.3.4.5.6.7.8"),
                      ("garbage", "not-a-uid!")]:
        write(f"ts_{name}.dcm", encapsulated(uid, junk))

    # 5c: a truncated ACR-NEMA data set (implicit VR, no preamble, no meta header), cut inside Pixel Data.
    def implicit(group, element, value):
        value = pad(value if isinstance(value, bytes) else value.encode(), b"CS")
        return struct.pack("<HHI", group, element, len(value)) + value
    acr = (implicit(0x0008, 0x0060, "OT") + implicit(0x0010, 0x0010, "Hostile^Fixture") +
           implicit(0x0028, 0x0002, struct.pack("<H", 1)) + implicit(0x0028, 0x0004, "MONOCHROME2") +
           implicit(0x0028, 0x0010, struct.pack("<H", 64)) + implicit(0x0028, 0x0011, struct.pack("<H", 64)) +
           implicit(0x0028, 0x0100, struct.pack("<H", 16)) + implicit(0x0028, 0x0101, struct.pack("<H", 12)) +
           implicit(0x0028, 0x0102, struct.pack("<H", 11)) + implicit(0x0028, 0x0103, struct.pack("<H", 0)) +
           implicit(0x7FE0, 0x0010, gradient16()))
    write("acrnema_truncated.dcm", acr[: len(acr) - 5000])

    # JPEG-in-DICOM: a real 64x64 baseline JPEG from dcmcjpeg.
    jpeg64 = dcmtk("dcmcjpeg", ["+eb"], meta(EXPLICIT_LE) + header(64, 64, 8) + el(0x7FE0, 0x0010, "OB", gradient8()))
    assert len(jpeg64) == 1
    # 5c: its entropy-coded data overwritten: DCMTK then claims PhotometricInterpretation is missing.
    broken = bytearray(jpeg64[0])
    sos = broken.find(b"\xff\xda")
    for i in range(sos + 20, len(broken) - 2):
        broken[i] = 0xFF if i % 2 == 0 else 0xC8  # marker soup
    write("jpeg_broken_in_dicom.dcm", encapsulated(JPEG_BASELINE, [bytes(broken)]))
    # 5d: the same 64x64 JPEG inside a header that says 256x256.
    write("jpeg64_in_256_header.dcm", encapsulated(JPEG_BASELINE, jpeg64, rows=256, columns=256))

    # 5d: modality rescale that is not a number, infinite or absurd.
    for name, slope in [("nan", "NaN"), ("inf", "-inf"), ("huge", "1e300")]:
        write(f"rescale_{name}.dcm", native(extra=el(0x0028, 0x1052, "DS", "0") + el(0x0028, 0x1053, "DS", slope)))
    # 5d: an absurd modality LUT: 4096 entries, all the same value, so every pixel maps to one grey.
    lut = (struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED) +
           el(0x0028, 0x3002, "US", struct.pack("<HHH", 4096, 0, 16)) +
           el(0x0028, 0x3004, "LO", "ABSURD") + el(0x0028, 0x3006, "OW", struct.pack("<H", 7) * 4096) +
           struct.pack("<HHI", 0xFFFE, 0xE00D, 0))
    modality_lut = struct.pack("<HH2sHI", 0x0028, 0x3000, b"SQ", 0, UNDEFINED) + lut + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    write("lut_absurd.dcm", native(extra=modality_lut))

    # 5d: BitsAllocated that no DICOM image has.
    write("bits_allocated_7.dcm", native(bits=16, stored=7, pixels=gradient8()).replace(
        us(0x0028, 0x0100, 16), us(0x0028, 0x0100, 7)))
    write("bits_allocated_65535.dcm", native(bits=16, stored=12).replace(
        us(0x0028, 0x0100, 16), us(0x0028, 0x0100, 65535)))

    # 5c: a JPEG-LS stream in a file named .jpg (the codestream from dcmcjpls).
    jpegls = dcmtk("dcmcjpls", ["+el"], meta(EXPLICIT_LE) + header(64, 64, 8) + el(0x7FE0, 0x0010, "OB", gradient8()))
    write("jpegls_stream.jpg", jpegls[0])

    grey = open(os.path.join(IMAGES, "grey.jpg"), "rb").read()
    sof = grey.find(b"\xff\xc0")
    # 5d: grey.jpg (121x77) whose frame header claims 10000x10000.
    claimed = bytearray(grey)
    claimed[sof + 5:sof + 9] = struct.pack(">HH", 10000, 10000)
    write("claims_10000x10000.jpg", bytes(claimed))
    # 5d: grey.jpg's Huffman-coded data under an arithmetic-coding frame marker (SOF9).
    arith = bytearray(grey)
    arith[sof + 1] = 0xC9
    write("huffman_as_arithmetic.jpg", bytes(arith))

    # 5b: a progressive JPEG whose first scan is repeated 150 times (libjpeg decodes every one).
    prog = open(os.path.join(IMAGES, "rgb_progressive.jpg"), "rb").read()
    first = prog.find(b"\xff\xda")
    second = prog.find(b"\xff\xda", first + 2)
    while prog[second - 2] == 0xFF:  # a marker (DHT) between the scans belongs before the copy
        second -= 1
    write("progressive_150_scans.jpg", prog[:second] + prog[first:second] * 149 + prog[second:])

    # 5b: a 56-byte PNG whose tEXt chunk declares 2 GiB - 1.
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    png = b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", 0x7FFFFFFF) + b"tEXt" + b"Comment\0abc"
    write("text_2gib.png", png)


if __name__ == "__main__":
    main()
