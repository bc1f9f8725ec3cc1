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
JPEG 2000 files (which Debian's DCMTK cannot decode) are decompressed by an independent decoder first and
rendered from that copy: GDCM's `gdcmconv --raw` for JPEG 2000, OpenJPH's `ojph_expand` for High-Throughput
JPEG 2000 (GDCM 3.0 cannot read it). CXReview decodes both with OpenJPEG.

It also MAKES the High-Throughput JPEG 2000 fixtures (make_htj2k), from pixels already in the fixtures,
compressed losslessly by OpenJPH's `ojph_compress` (Debian openjph-tools 0.9.0):
    CR-MONO1-10-chest_htj2k.dcm  the 440x440 10-bit MONOCHROME1 chest of CR-MONO1-10-chest.dcm, transfer
                                 syntax 1.2.840.10008.1.2.4.201; its header says BitsStored 12 and signed
                                 (PixelRepresentation 1) while the codestream is 10-bit unsigned: the decoder
                                 must trust the codestream and say so.
    SC_rgb_htj2k_rct.dcm         the colour pixels of SC_rgb_jpeg_dcmtk.dcm (decompressed by dcmdjpeg),
                                 reversible colour transform in the codestream, PhotometricInterpretation
                                 YBR_RCT, syntax .4.201: the colour transform must be undone once, not twice.

Run with the fixtures venv (numpy, pydicom), with dcmtk, libgdcm-tools and openjph-tools installed:
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
    "reportsi.dcm",  # Basic Text SR: no pixel data
    "MR_truncated.dcm",  # truncated pixel data: corrupt
    "no_meta.dcm",  # damaged bare data set: corrupt
}

JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
RLE = {"1.2.840.10008.1.2.5"}
JPEG2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
HTJ2K = {"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"}
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


def read_pnm(path):
    """A binary PGM (P5) or PPM (P6) as written by ojph_expand: (array, maxval)."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    magic, w, h, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    channels = 3 if magic == b"P6" else 1
    dtype = np.dtype(">u2") if maxval > 255 else np.uint8
    a = np.frombuffer(data, dtype=dtype, count=w * h * channels, offset=pos).reshape(h, w, channels)
    return (a[:, :, 0] if channels == 1 else a).astype(np.uint16 if maxval > 255 else np.uint8), maxval


def write_pnm(path, a, maxval):
    magic = b"P6" if a.ndim == 3 else b"P5"
    with open(path, "wb") as f:
        f.write(b"%s\n%d %d\n%d\n" % (magic, a.shape[1], a.shape[0], maxval))
        f.write(a.astype(">u2" if maxval > 255 else np.uint8).tobytes())


def htj2k_twin(path, out, tmp):
    """An uncompressed copy of an HTJ2K file, its first frame decoded by OpenJPH's ojph_expand: the pixels
    and their precision as the codestream says (BitsStored, sign and photometric follow the codestream)."""
    ds = pydicom.dcmread(path)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))
    j2c = os.path.join(tmp, "frame.j2c")
    with open(j2c, "wb") as f:
        f.write(frame)
    pnm = os.path.join(tmp, "frame.ppm" if ds.SamplesPerPixel == 3 else "frame.pgm")
    run(["ojph_expand", "-i", j2c, "-o", pnm])
    pixels, maxval = read_pnm(pnm)
    bits = int(maxval).bit_length()
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    ds.BitsAllocated = 8 if bits <= 8 else 16
    if pixels.ndim == 3:
        ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    ds.PixelData = pixels.tobytes() if pixels.dtype == np.uint8 else pixels.astype("<u2").tobytes()
    ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(out, enforce_file_format=True)


def make_htj2k(tmp):
    """Writes the High-Throughput JPEG 2000 fixtures (see the docstring) with ojph_compress."""
    def encapsulate(source, pixels, maxval, name, header):
        pnm = os.path.join(tmp, name + (".ppm" if pixels.ndim == 3 else ".pgm"))
        write_pnm(pnm, pixels, maxval)
        j2c = os.path.join(tmp, name + ".j2c")
        args = ["ojph_compress", "-i", pnm, "-o", j2c, "-reversible", "true"]
        if pixels.ndim == 3:
            args += ["-colour_trans", "true"]
        run(args)
        # The codestream must give the pixels back exactly (lossless), read by OpenJPH itself.
        back = os.path.join(tmp, name + ".back" + os.path.splitext(pnm)[1])
        run(["ojph_expand", "-i", j2c, "-o", back])
        assert np.array_equal(read_pnm(back)[0], pixels), name
        with open(j2c, "rb") as f:
            codestream = f.read()
        ds = source
        ds.file_meta = getattr(ds, "file_meta", pydicom.dataset.FileMetaDataset())
        ds.file_meta.TransferSyntaxUID = pydicom.uid.UID("1.2.840.10008.1.2.4.201")
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for key, value in header.items():
            setattr(ds, key, value)
        ds.PixelData = pydicom.encaps.encapsulate([codestream])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        if "NumberOfFrames" in ds:
            del ds.NumberOfFrames
        ds.save_as(os.path.join(FIXTURES, name + ".dcm"), enforce_file_format=True)
        print(f"made {name}.dcm ({len(codestream)} bytes of HTJ2K)", file=sys.stderr)

    chest = read(os.path.join(FIXTURES, "CR-MONO1-10-chest.dcm"))
    encapsulate(chest, chest.pixel_array.astype(np.uint16), 1023, "CR-MONO1-10-chest_htj2k",
                {"BitsStored": 12, "HighBit": 11, "PixelRepresentation": 1})
    plain = os.path.join(tmp, "SC_rgb_jpeg_dcmtk.raw.dcm")
    run(["dcmdjpeg", os.path.join(FIXTURES, "SC_rgb_jpeg_dcmtk.dcm"), plain])
    colour = pydicom.dcmread(plain)
    rgb = colour.pixel_array  # dcmdjpeg's output is RGB, interleaved
    assert colour.PhotometricInterpretation == "RGB", colour.PhotometricInterpretation
    encapsulate(colour, rgb.astype(np.uint8), 255, "SC_rgb_htj2k_rct",
                {"PhotometricInterpretation": "YBR_RCT", "PlanarConfiguration": 0})


def uncompressed_copy(path, ts, tmp):
    if ts in NATIVE:
        return path
    out = os.path.join(tmp, os.path.basename(path))
    if ts in JPEG2000:
        run(["gdcmconv", "--raw", path, out])
        return out
    if ts in HTJ2K:
        htj2k_twin(path, out, tmp)
        return out
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
        make_htj2k(tmp)
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
            # DCMTK cannot decode JPEG 2000: its tools render the independent decoder's uncompressed copy.
            source = uncompressed_copy(path, ts, tmp) if ts in JPEG2000 | HTJ2K else path
            run([tool_for(ts), "--quiet", "+F", "1", *options, "+op", source, out])
            print(f"{name}: {kind} {' '.join(options)} -> expected/{stem}.pgm", file=sys.stderr)


if __name__ == "__main__":
    main()
