"""Independent safetensors reader/writer for Tessera's tests (python3 standard library only: json, struct, hashlib).

  read  <file>  -> JSON on stdout: {"metadata": {...}, "tensors": {name: {"dtype", "shape", "hex", "values"}},
                   "checksum_ok": bool|null}. Follows the format as huggingface/safetensors defines it: u64 LE header
                   length, a UTF-8 JSON header, then tensors tiling the data section exactly. Exits 1 with a message
                   on any violation.
  write <file>  -> writes a fixed file the way the reference library lays it out (tensors ordered by dtype
                   alignment, then name; header space-padded to 8 bytes), with no checksum.
"""
import hashlib, json, struct, sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
FMT = {"F32": "f", "F16": "e", "I32": "i", "U32": "I", "I8": "b", "U8": "B"}


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def values(dtype, raw):
    if dtype == "BF16":
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for (h,) in struct.iter_unpack("<H", raw)]
    return [v for (v,) in struct.iter_unpack("<" + FMT[dtype], raw)]


def read(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        fail("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        fail("header runs past the end")
    header_bytes = data[8 : 8 + n]
    header = json.loads(header_bytes.decode("utf-8"))
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("metadata must map strings to strings")
    body = data[8 + n :]
    out, spans = {}, []
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if end - begin != count * SIZES[dtype]:
            fail(f"{name}: {end - begin} bytes for shape {shape} of {dtype}")
        spans.append((begin, end))
        raw = body[begin:end]
        out[name] = {"dtype": dtype, "shape": shape, "hex": raw.hex(), "values": values(dtype, raw) if dtype in FMT or dtype == "BF16" else None}
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            fail("tensors leave a gap or overlap")
        pos = e
    if pos != len(body):
        fail("data section is not fully covered by tensors")
    checksum_ok = None
    if "tessera_sha256" in meta:
        hexsum = meta["tessera_sha256"]
        needle = b'"tessera_sha256":"' + hexsum.encode() + b'"'
        at = header_bytes.find(needle)
        if at < 0:
            fail("checksum field not found in the raw header")
        start = 8 + at + len(needle) - 1 - 64
        zeroed = data[:start] + b"0" * 64 + data[start + 64 :]
        checksum_ok = hashlib.sha256(zeroed).hexdigest() == hexsum
    print(json.dumps({"metadata": meta, "tensors": out, "checksum_ok": checksum_ok}))


def write(path):
    tensors = {
        "b.weight": ("F32", [2, 2], struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)),
        "a.bias": ("F16", [3], struct.pack("<3e", 1.0, -0.5, 65504.0)),
        "z.ids": ("I32", [2], struct.pack("<2i", -7, 123456789)),
        "m.mask": ("U8", [5], bytes([0, 1, 2, 254, 255])),
    }
    order = sorted(tensors, key=lambda k: (-SIZES[tensors[k][0]], k))
    header, off = {"__metadata__": {"format": "pt", "source": "python"}}, 0
    for name in order:
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(tensors[k][2] for k in order))


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
