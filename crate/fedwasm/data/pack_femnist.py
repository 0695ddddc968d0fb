#!/usr/bin/env python3
"""Build femnist_digits_10.bin (or a bigger pack) from the shared LEAF FEMNIST data.

Usage: python3 pack_femnist.py [--writers N] [LEAF_DIR] [OUT]
  LEAF_DIR defaults to ../../../shared/data/femnist-leaf (relative to this file),
  OUT to femnist_digits_N.bin beside this file; N (--writers) defaults to 10,
  the pack embedded in the crate. The demo's pack (www/data/) is
  `--writers 100`.

Selects the first N writers, in sorted id order over ALL train files, that
have at least one digit (label 0-9) in train, and packs their digit examples
from train and test. The format is documented in README.md and in
crate/src/data/embedded.rs. Standard library only.
"""
import argparse
import glob
import json
import os
import struct
import zlib

DEFAULT_WRITERS = 10
PIXELS = 784
CLASSES = 10
MAGIC = b"FWFEMDIG"
VERSION = 1

HERE = os.path.dirname(os.path.abspath(__file__))


def load_split(split_dir):
    """writer id -> (pixel rows, labels) of its digits, over all files."""
    users = {}
    for path in sorted(glob.glob(os.path.join(split_dir, "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        for u in doc["users"]:
            if u in users:
                raise SystemExit(f"{path}: duplicate writer {u}")
            data = doc["user_data"][u]
            rows, labels = [], []
            for x, y in zip(data["x"], data["y"]):
                if y < CLASSES:
                    rows.append(x)
                    labels.append(y)
            users[u] = (rows, labels)
    return users


def to_bytes(row, where):
    if len(row) != PIXELS:
        raise SystemExit(f"{where}: row has {len(row)} values")
    out = bytearray()
    for v in row:
        k = round(v * 255)
        if not 0 <= k <= 255 or k / 255 != v:
            raise SystemExit(f"{where}: value {v!r} is not k/255; u8 coding would be lossy")
        out.append(k)
    return out


def rle(pixels):
    out = bytearray()
    i, n = 0, len(pixels)
    while i < n:
        if pixels[i] == 255:
            j = i
            while j < n and pixels[j] == 255 and j - i < 255:
                j += 1
            out += bytes([255, j - i])
            i = j
        else:
            out.append(pixels[i])
            i += 1
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("leaf", nargs="?", default=os.path.join(HERE, "../../../shared/data/femnist-leaf"))
    parser.add_argument("out", nargs="?", default=None)
    parser.add_argument("--writers", type=int, default=DEFAULT_WRITERS, help="writers to pack (default 10)")
    args = parser.parse_args()
    if args.writers < 1:
        raise SystemExit(f"--writers must be at least 1, not {args.writers}")
    out_path = args.out or os.path.join(HERE, f"femnist_digits_{args.writers}.bin")
    train = load_split(os.path.join(args.leaf, "train"))
    test = load_split(os.path.join(args.leaf, "test"))
    candidates = [u for u in sorted(train) if train[u][1]]
    if len(candidates) < args.writers:
        raise SystemExit(f"--writers {args.writers}: only {len(candidates)} writers have train digits")
    writers = candidates[: args.writers]
    body = bytearray(MAGIC)
    body += struct.pack("<IIII", VERSION, PIXELS, CLASSES, len(writers))
    for u in writers:
        tr_rows, tr_labels = train[u]
        te_rows, te_labels = test.get(u, ([], []))
        ident = u.encode("utf-8")
        body += struct.pack("<B", len(ident)) + ident
        body += struct.pack("<II", len(tr_labels), len(te_labels))
        body += bytes(tr_labels + te_labels)
        pixels = bytearray()
        for i, row in enumerate(tr_rows + te_rows):
            pixels += to_bytes(row, f"writer {u}, example {i}")
        packed = rle(pixels)
        body += struct.pack("<I", len(packed)) + packed
        print(f"{u}: {len(tr_labels)} train, {len(te_labels)} test digits")
    body += struct.pack("<I", zlib.crc32(bytes(body)) & 0xFFFFFFFF)
    with open(out_path, "wb") as f:
        f.write(body)
    print(f"wrote {out_path}: {len(body)} bytes, crc32 {zlib.crc32(bytes(body[:-4])):#010x}")


if __name__ == "__main__":
    main()
