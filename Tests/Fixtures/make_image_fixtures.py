#!/usr/bin/env python3
"""Makes the PNG/JPEG decoding and preprocessing fixtures in Tests/Fixtures/images/.

Reference pipeline (the PyTorch training recipe on a PIL image):
    img = Image.open(path).convert('L').resize((s, s), Image.BILINEAR)
    x = ToTensor(img)            # float32, / 255
    x = x.expand(3, s, s)         # grey replicated to 3 channels
    x = Normalize(mean, std)(x)   # float32 (x - mean) / std
torchvision is not installed here; ToTensor/Normalize are done with torch in float32 exactly as
torchvision does them (`img.float().div(255)`, `tensor.sub_(mean).div_(std)`).

Run with the fixtures venv (Pillow 13, numpy, torch):
    /root/.cache/cxr-fixtures-venv/bin/python Tests/Fixtures/make_image_fixtures.py

Outputs (all small):
  *.png / *.jpg / *.jpeg       inputs (synthetic ones made here, real ones copied, see SOURCES.md)
  <input>.L.pgm                Pillow's Image.open(input).convert('L') (binary PGM, P5);
                               for 16-bit grey the documented rule v >> 8 instead (Pillow clips)
  <input>.L.png                same as .L.pgm for the 640x640 real images, as 8-bit grey PNG
                               (saves space; the tests check 8-bit grey PNG decoding against PGM first)
  <input>.L224.pgm             Pillow BILINEAR resize of the grey image to 224x224
  resize_<W>x<H>_to_<w>x<h>.pgm  Pillow BILINEAR resize of the synthetic pattern (pattern() below,
                               also written in the Swift tests) from WxH to wxh (identity size:
                               Pillow returns a copy, tested without a file)
  tensor_2x3x112x112.f32 + .json  reference tensor for 2 images (little-endian float32, NCHW)
  bomb_*.png / bomb_*.jpg      headers claiming huge images (decompression bombs)
"""
import json
import os
import shutil
import struct
import zlib

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "images")
DATA = "/work/shared/data/covid19-3way"
REAL = {  # fixture name: source path
    "covid_rgb.jpeg": "test/covid/0102.jpeg",
    "covid_grey.jpg": "test/covid/COVID-00037.jpg",
    "normal_rgb.jpeg": "test/normal/0106.jpeg",
}
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def path(name):
    return os.path.join(OUT, name)


def write_pgm(name, a):
    a = np.asarray(a, dtype=np.uint8)
    with open(path(name), "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (a.shape[1], a.shape[0]))
        f.write(a.tobytes())


# ---------------------------------------------------------------------------------------------
# Synthetic content

def pattern(w, h):
    """Deterministic test pattern: blocks of hash noise, smooth ramps and hard 0/255 edges.
    The Swift tests compute the same function (32-bit wrapping arithmetic)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.uint64)
    m = np.uint64(0xFFFFFFFF)
    hsh = ((x * np.uint64(2654435761)) & m) ^ ((y * np.uint64(40503) + np.uint64(12345)) & m)
    hsh = ((hsh ^ (hsh >> np.uint64(13))) * np.uint64(1274126177)) & m
    noise = hsh >> np.uint64(24)
    smooth = (x * np.uint64(3) + y * np.uint64(5)) % np.uint64(256)
    edge = np.where(((x // np.uint64(9)) + (y // np.uint64(7))) % np.uint64(2) == 0, 0, 255).astype(np.uint64)
    sel = ((x // np.uint64(17)) + (y // np.uint64(23))) % np.uint64(3)
    v = np.where(sel == 0, noise, np.where(sel == 1, smooth, edge))
    return v.astype(np.uint8)


def colour_pattern(w, h, seed):
    rng = np.random.default_rng(seed)
    g = pattern(w, h).astype(np.int32)
    rgb = np.stack([g, (g * 7 + 31) % 256, 255 - g], axis=2)
    rgb = (rgb + rng.integers(-20, 21, rgb.shape)).clip(0, 255)
    return rgb.astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# A minimal PNG writer for what Pillow cannot write (16-bit RGB, 16-bit grey+alpha, 2-bit grey,
# Adam7 interlace, bombs).

def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_rows(a, bit_depth):
    """a: HxWxC uint8/uint16 samples -> list of raw row bytes (no filter byte)."""
    h = a.shape[0]
    if bit_depth == 16:
        return [a[r].astype(">u2").tobytes() for r in range(h)]
    if bit_depth == 8:
        return [a[r].astype(np.uint8).tobytes() for r in range(h)]
    rows = []
    per = 8 // bit_depth
    for r in range(h):
        s = a[r].reshape(-1).astype(np.uint8)
        pad = (-len(s)) % per
        s = np.concatenate([s, np.zeros(pad, np.uint8)]).reshape(-1, per)
        b = np.zeros(len(s), np.uint8)
        for i in range(per):
            b = b | (s[:, i] << np.uint8(8 - bit_depth * (i + 1)))
        rows.append(b.tobytes())
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(name, a, bit_depth, color_type, interlace=False, extra=b""):
    if a.ndim == 2:
        a = a[:, :, None]
    h, w = a.shape[:2]
    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = a[y0::dy, x0::dx]
            if sub.size:
                raw += b"".join(b"\0" + r for r in pack_rows(sub, bit_depth))
    else:
        raw = b"".join(b"\0" + r for r in pack_rows(a, bit_depth))
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path(name), "wb") as f:
        f.write(data)


def write_bomb_png(name, w, h):
    """All-zero 1-bit grey image: tiny on disk, w*h pixels when decoded."""
    row = b"\0" * (1 + (w + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    with open(path(name), "wb") as f:
        f.write(data)


def write_bomb_jpeg(name, source, w, h):
    """A small real JPEG whose frame header (SOF0) claims w x h."""
    data = bytearray(open(path(source), "rb").read())
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, h, w)
    with open(path(name), "wb") as f:
        f.write(bytes(data))


# ---------------------------------------------------------------------------------------------

def pillow_grey(name):
    im = Image.open(path(name))
    im.load()
    return im.mode, im.convert("L")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f != "SOURCES.md":
            os.remove(path(f))

    # Real chest X-rays.
    for name, src in REAL.items():
        shutil.copyfile(os.path.join(DATA, src), path(name))

    # Synthetic PNGs (Pillow writer where it can).
    g = pattern(97, 61)
    Image.fromarray(g, "L").save(path("grey8.png"))
    rgb = colour_pattern(83, 57, 1)
    Image.fromarray(rgb, "RGB").save(path("rgb8.png"))
    Image.fromarray(np.dstack([pattern(40, 30)] * 3), "RGB").save(path("rgb8_equal.png"))
    alpha = pattern(57, 83).T[:57, :83]
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path("rgba8.png"))
    Image.fromarray(np.dstack([g, 255 - g]), "LA").save(path("grey_alpha8.png"))
    Image.fromarray(g, "L").save(path("grey8_trns.png"), transparency=0)
    # Palette, 8-bit with tRNS, and 4-bit.
    rng = np.random.default_rng(7)
    pal = rng.integers(0, 256, 256 * 3).astype(np.uint8).tolist()
    p = Image.fromarray(pattern(75, 49), "P")
    p.putpalette(pal)
    p.save(path("palette8_trns.png"), transparency=5)
    p4 = Image.fromarray((pattern(75, 49) % 16).astype(np.uint8), "P")
    p4.putpalette(pal[: 16 * 3])
    p4.save(path("palette4.png"), bits=4)
    Image.fromarray(pattern(67, 45) > 127).convert("1").save(path("grey1.png"))
    # Manual writer: 2-bit grey, 16-bit grey (full range), 16-bit RGB, 16-bit grey+alpha, interlaced.
    write_png("grey2.png", pattern(66, 43) >> 6, 2, 0)
    rng16 = np.random.default_rng(16)
    g16 = (pattern(97, 61).astype(np.uint32) * 257 + rng16.integers(0, 257, (61, 97))).clip(0, 65535).astype(np.uint16)
    write_png("grey16.png", g16, 16, 0)
    rgb16 = (colour_pattern(41, 29, 2).astype(np.uint32) * 257 + rng16.integers(0, 257, (29, 41, 3))).clip(0, 65535).astype(np.uint16)
    write_png("rgb16.png", rgb16, 16, 2)
    write_png("grey_alpha16.png", np.dstack([g16, g16[::-1]])[:29, :41], 16, 4)
    write_png("rgb8_interlaced.png", colour_pattern(71, 53, 3), 8, 2, interlace=True)
    write_png("grey8_interlaced.png", pattern(71, 53), 8, 0, interlace=True,
              extra=chunk(b"gAMA", struct.pack(">I", 100000)))  # gAMA is ignored, as by Pillow

    # Synthetic JPEGs (Pillow's encoder; decoding is what is tested).
    Image.fromarray(pattern(121, 77), "L").save(path("grey.jpg"), quality=90)
    crgb = Image.fromarray(colour_pattern(121, 77, 4), "RGB")
    crgb.save(path("rgb420.jpg"), quality=90, subsampling=2)
    crgb.save(path("rgb422.jpg"), quality=90, subsampling=1)
    crgb.save(path("rgb444.jpg"), quality=90, subsampling=0)
    crgb.save(path("rgb_progressive.jpg"), quality=85, progressive=True)
    crgb.resize((24, 16)).convert("CMYK").save(path("cmyk.jpg"), quality=90)

    # Decompression bombs.
    write_bomb_png("bomb_17000x4000.png", 17000, 4000)         # over the side limit
    write_bomb_png("bomb_16000x10000.png", 16000, 10000)       # sides fine, 160 Mpx over the pixel limit
    write_bomb_jpeg("bomb_60000x60000.jpg", "grey.jpg", 60000, 60000)
    write_bomb_jpeg("bomb_12000x12000.jpg", "grey.jpg", 12000, 12000)

    # Expected decoded grey.
    report = {}
    decode_names = ["grey8.png", "rgb8.png", "rgb8_equal.png", "rgba8.png", "grey_alpha8.png", "grey8_trns.png",
                    "palette8_trns.png", "palette4.png", "grey1.png", "grey2.png", "grey16.png",
                    "rgb16.png", "grey_alpha16.png", "rgb8_interlaced.png", "grey8_interlaced.png",
                    "grey.jpg", "rgb420.jpg", "rgb422.jpg", "rgb444.jpg", "rgb_progressive.jpg"]
    for name in decode_names + list(REAL):
        mode, grey = pillow_grey(name)
        a = np.asarray(grey)
        if name == "grey16.png":
            assert mode in ("I;16", "I"), mode
            clipped = a
            a = (np.asarray(Image.open(path(name))).astype(np.uint32) >> 8).astype(np.uint8)
            report[name] = "Pillow mode %s; Pillow convert('L') clips: %d of %d pixels differ from v>>8" % (
                mode, int((clipped != a).sum()), a.size)
        else:
            report[name] = "Pillow mode " + mode
        if name in REAL:
            Image.fromarray(a, "L").save(path(name + ".L.png"), optimize=True)
            if name == "covid_rgb.jpeg":  # one real image for the exact 224 resize (size budget)
                resized = Image.fromarray(a, "L").resize((224, 224), Image.BILINEAR)
                write_pgm(name + ".L224.pgm", np.asarray(resized))
        else:
            write_pgm(name + ".L.pgm", a)

    # Resize of the synthetic pattern.
    for (w, h, ow, oh) in [(640, 640, 224, 224), (1024, 1024, 224, 224), (1955, 1841, 224, 224),
                           (157, 300, 224, 224), (100, 80, 224, 224), (224, 500, 224, 150),
                           (500, 224, 150, 224), (300, 200, 111, 67), (1, 1, 5, 3),
                           (7, 3000, 50, 100),
                           # Pass order (Pillow 13: vertical first when the height shrinks by more
                           # than twice as many pixels as the width): at, just past, and clearly past
                           # the boundary.
                           (100, 100, 80, 60), (100, 100, 80, 59), (22, 94, 11, 58)]:
        im = Image.fromarray(pattern(w, h), "L")
        write_pgm("resize_%dx%d_to_%dx%d.pgm" % (w, h, ow, oh), np.asarray(im.resize((ow, oh), Image.BILINEAR)))

    # Reference tensor for two real images (size 112 keeps the file at 300 KB; 224 is covered by
    # the exact .L224.pgm resize fixtures and the same normalisation).
    size = 112
    xs = []
    xs64 = []
    for name in ["covid_rgb.jpeg", "covid_grey.jpg"]:
        img = Image.open(path(name)).convert("L").resize((size, size), Image.BILINEAR)
        t = torch.from_numpy(np.asarray(img).copy()).float().div(255)  # ToTensor
        t = t.unsqueeze(0).expand(3, size, size).clone()
        mean = torch.as_tensor(MEAN, dtype=torch.float32)[:, None, None]
        std = torch.as_tensor(STD, dtype=torch.float32)[:, None, None]
        t.sub_(mean).div_(std)  # Normalize
        xs.append(t)
        x64 = np.repeat((np.asarray(img) / 255.0)[None], 3, 0)
        x64 = ((x64 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]).astype(np.float32)
        xs64.append(x64)
    ref = torch.stack(xs).numpy().astype("<f4")
    ref.tofile(path("tensor_2x3x112x112.f32"))
    with open(path("tensor_2x3x112x112.json"), "w") as f:
        json.dump({"shape": list(ref.shape), "dtype": "float32", "byteorder": "little",
                   "images": ["covid_rgb.jpeg", "covid_grey.jpg"], "inputSize": size,
                   "mean": MEAN, "std": STD}, f, indent=1)
        f.write("\n")
    report["tensor"] = "torch float32 vs numpy float64-then-float32: max abs diff %.3g" % float(
        np.abs(ref - np.stack(xs64)).max())

    for k, v in report.items():
        print(k, ":", v)
    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print("total fixture bytes:", total)


if __name__ == "__main__":
    main()
