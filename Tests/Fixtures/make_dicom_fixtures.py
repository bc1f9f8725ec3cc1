#!/usr/bin/env python3
"""Makes the expected renderings in Tests/Fixtures/dicom/expected/ for DICOMDecodingTests.

Every decodable fixture is rendered by DCMTK's own command-line tools (dcmj2pnm, or dcml2pnm for JPEG-LS),
8-bit raw PGM, first frame, with the SAME VOI choice the decoder makes:

    Window Center/Width in the file   -> +Wi 1           (first window)
    else VOI LUT Sequence             -> +Wl 1           (first VOI LUT)
    else colour                       -> +G              (ITU-R 601 luma, no window)
    else BitsStored <= 8              -> (no window)
    else                              -> +Ww C W         automatic window, C/W computed HERE, independently
                                                         of the Swift/C++ code: 0.5th ('lower') and 99.5th
                                                         ('higher') NumPy percentiles of the modality-LUT
                                                         output (pydicom apply_modality_lut), C = (lo+hi)/2+0.5,
                                                         W = hi-lo+1.

For the automatic-window files the script also writes
    NAME.window.txt  "C W" as computed above (the decoder must report the same values), and
    NAME.numpy.pgm   a rendering made with NumPy only (DICOM linear VOI formula, MONOCHROME1 /
                     Presentation LUT Shape INVERSE inverted), compared within 1 grey level.
Compressed files are first decompressed with dcmdjpeg/dcmdjpls/dcmdrle so that pydicom can read them.

Run with the fixtures venv (numpy, pydicom):
    /root/.cache/cxr-fixtures-venv/bin/python Tests/Fixtures/make_dicom_fixtures.py
Tools used: DCMTK 3.6.7 (Debian dcmtk 3.6.7-9~deb12u4).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "dicom")
EXPECTED = os.path.join(FIXTURES, "expected")

# Files the decoder must refuse; no rendering is made for them.
REFUSED = {
    "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless: unsupported transfer syntax
    "JPEG2000.dcm",  # JPEG 2000: unsupported transfer syntax
    "reportsi.dcm",  # Basic Text SR: no pixel data
    "MR_truncated.dcm",  # truncated pixel data: corrupt
    "no_meta.dcm",  # damaged bare data set: corrupt
}

JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
RLE = {"1.2.840.10008.1.2.5"}
NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


def run(args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def read(path):
    ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        # ACR-NEMA style file without meta header: DCMTK detects implicit VR little endian.
        ds.file_meta = getattr(ds, "file_meta", pydicom.dataset.FileMetaDataset())
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    return ds


def choose(ds):
    """The VOI choice, mirroring DICOMDecoder: returns (kind, tool options)."""
    if "WindowCenter" in ds and "WindowWidth" in ds:
        return "file", ["+Wi", "1"]
    if "VOILUTSequence" in ds:
        return "voilut", ["+Wl", "1"]
    if ds.get("SamplesPerPixel", 1) > 1 or ds.get("PhotometricInterpretation", "").startswith(("RGB", "YBR", "PALETTE")):
        return "colour", ["+G"]
    if ds.BitsStored <= 8:
        return "none", []
    return "automatic", None


def tool_for(ts):
    return "dcml2pnm" if ts in JPEG_LS else "dcmj2pnm"


def uncompressed_copy(path, ts, tmp):
    if ts in NATIVE:
        return path
    out = os.path.join(tmp, os.path.basename(path))
    tool = "dcmdjpls" if ts in JPEG_LS else ("dcmdrle" if ts in RLE else "dcmdjpeg")
    run([tool, path, out])
    return out


def automatic_window(ds):
    frame = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        frame = frame[0]
    values = apply_modality_lut(frame, ds).astype(np.float64).ravel()
    lo = float(np.percentile(values, 0.5, method="lower"))
    hi = float(np.percentile(values, 99.5, method="higher"))
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    center = (lo + hi) / 2 + 0.5
    width = hi - lo + 1
    # DICOM PS3.3 C.11.2.1.2.1 linear function, output 0..255.
    y = ((values - (center - 0.5)) / (width - 1) + 0.5)
    y = np.clip(y, 0, 1) * 255
    inverse = ds.get("PhotometricInterpretation", "") == "MONOCHROME1" or ds.get("PresentationLUTShape", "") == "INVERSE"
    if inverse:
        y = 255 - y
    img = np.rint(y).astype(np.uint8).reshape(frame.shape)
    return center, width, img


def write_pgm(path, img):
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (img.shape[1], img.shape[0]))
        f.write(img.tobytes())


def main():
    os.makedirs(EXPECTED, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(os.listdir(FIXTURES)):
            if not name.endswith(".dcm") or name in REFUSED:
                continue
            path = os.path.join(FIXTURES, name)
            stem = name[:-4]
            ds = read(path)
            ts = str(ds.file_meta.TransferSyntaxUID)
            kind, options = choose(ds)
            if kind == "automatic":
                plain = read(uncompressed_copy(path, ts, tmp))
                center, width, img = automatic_window(plain)
                options = ["+Ww", repr(center), repr(width)]
                with open(os.path.join(EXPECTED, stem + ".window.txt"), "w") as f:
                    f.write("%r %r\n" % (center, width))
                write_pgm(os.path.join(EXPECTED, stem + ".numpy.pgm"), img)
            out = os.path.join(EXPECTED, stem + ".pgm")
            run([tool_for(ts), "--quiet", "+F", "1", *options, "+op", path, out])
            print(f"{name}: {kind} {' '.join(options)} -> expected/{stem}.pgm", file=sys.stderr)


if __name__ == "__main__":
    main()
