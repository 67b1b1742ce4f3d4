#!/usr/bin/python3
"""rexec's AES-GCM (proto/gcm_alt.c, driven through tests/unit/gcm_cli.c) against OpenSSL's
(Debian's libssl, through python3-cryptography), as `packaging/zig build unit` runs it:

  /usr/bin/python3 tests/unit/gcm_openssl_diff.py GCM_CLI [--cases N] [--seed S]

Random AES-128 and AES-256 keys, IVs (12 bytes mostly, else 8..128), AD (0..2000 bytes) and
texts of 0..64 KiB (edge lengths around the block and the eight-block loop always, then
random), each encrypted by update() in odd chunk sizes (one call, 1..40 bytes, 1..3000 bytes,
with empty calls between): half the cases on the path this CPU takes (the wide VAES one where
it has VAES, VPCLMULQDQ and AVX2), a quarter on the 128-bit AES-NI path, a quarter on the
portable one.
Ciphertext and tag must be OpenSSL's; the in-place streamed decryption must give the text
back; auth_decrypt must accept the tag and, with one tag bit flipped, refuse and leave zeros.
Prints the seed, so a failure can be replayed.
"""
import argparse
import os
import random
import struct
import subprocess
import sys

from cryptography.hazmat.backends.openssl.backend import backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

EDGE_LENS = [0, 1, 15, 16, 17, 31, 32, 112, 127, 128, 129, 143, 144, 255, 256, 257, 1023,
             1024, 4095, 4096, 16383, 16384, 16385, 65535, 65536]


def openssl_seal(key, iv, ad, pt):
    enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(ad)
    ct = enc.update(pt) + enc.finalize()
    return ct, enc.tag


def chunks(rng, n):
    kind = rng.randrange(4)
    if kind == 0 or n == 0:
        return [n] if n else []
    out, left = [], n
    while left:
        if kind == 3 and rng.random() < 0.1:
            out.append(0)
            continue
        step = rng.randint(1, 40) if kind == 1 else rng.randint(1, 3000)
        step = min(step, left)
        out.append(step)
        left -= step
    return out


def make_case(rng, i):
    length = EDGE_LENS[i] if i < len(EDGE_LENS) else rng.choice([
        rng.randint(0, 65536), rng.randint(0, 300), max(0, 128 * rng.randint(1, 64) +
                                                        rng.randint(-17, 17))])
    key = rng.randbytes(rng.choice([16, 32]))
    iv = rng.randbytes(12 if rng.random() < 0.7 else rng.randint(8, 128))
    ad = rng.randbytes(rng.choice([0, 13, rng.randint(0, 300), rng.randint(0, 2000)]))
    pt = rng.randbytes(length)
    path = rng.choice(["best", "best", "aes-ni", "portable"])
    return key, iv, ad, pt, chunks(rng, length), rng.randint(0, len(ad)), path


def cpu_has_wide():
    """Whether this CPU has what gcm_alt.c's wide path needs (the kernel lists a flag only
    where the OS supports it)."""
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f
                      if line.startswith("flags")), [])
    return all(x in flags for x in ("aes", "pclmulqdq", "avx2", "vaes", "vpclmulqdq"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cli")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "little"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"gcm_openssl_diff: {backend.openssl_version_text()}, seed {args.seed},"
          f" {args.cases} cases", flush=True)
    cli = subprocess.Popen([args.cli], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    counts = {"portable": 0, "aes-ni": 0, "wide": 0, "bytes": 0}
    wide = cpu_has_wide()
    try:
        for i in range(args.cases):
            key, iv, ad, pt, split, ad_split, path = make_case(rng, i)
            if path == "best":
                path = "wide" if wide else "aes-ni"
            flags = {"portable": 1, "aes-ni": 2, "wide": 0}[path]
            msg = struct.pack("<BBBBIIII", flags, len(key), len(iv), 0, len(ad),
                              ad_split, len(pt), len(split))
            msg += struct.pack(f"<{len(split)}I", *split) + key + iv + ad + pt
            cli.stdin.write(msg)
            cli.stdin.flush()
            want_ct, want_tag = openssl_seal(key, iv, ad, pt)
            reply = cli.stdout.read(2 * len(pt) + 17)
            if len(reply) != 2 * len(pt) + 17:
                raise SystemExit(f"gcm_openssl_diff: case {i}: gcm_cli stopped"
                                 f" (exit {cli.wait()})")
            ct, tag = reply[:len(pt)], reply[len(pt):len(pt) + 16]
            back, status = reply[len(pt) + 16:-1], reply[-1]
            what = (f"case {i} (seed {args.seed}): AES-{len(key) * 8}, iv {len(iv)}, ad"
                    f" {len(ad)} split at {ad_split}, text {len(pt)} in chunks"
                    f" {split[:12]}{'...' if len(split) > 12 else ''},"
                    f" {path} path")
            if ct != want_ct:
                at = next(j for j in range(len(ct)) if ct[j] != want_ct[j])
                raise SystemExit(f"gcm_openssl_diff: {what}: ciphertext differs at byte {at}")
            if tag != want_tag:
                raise SystemExit(f"gcm_openssl_diff: {what}: tag {tag.hex()}, OpenSSL's"
                                 f" {want_tag.hex()}")
            if back != pt:
                raise SystemExit(f"gcm_openssl_diff: {what}: in-place decryption differs")
            want = 7 | (8 if path == "wide" else 0)
            if status != want:
                raise SystemExit(f"gcm_openssl_diff: {what}: status {status:04b} (want"
                                 f" {want:04b}: wide path, path taken, forged tag refused"
                                 " with zeroed output, auth_decrypt ok)")
            counts[path] += 1
            counts["bytes"] += len(pt)
    finally:
        cli.stdin.close()
        rc = cli.wait(timeout=60)
    if rc != 0:
        raise SystemExit(f"gcm_openssl_diff: gcm_cli exited {rc}")
    print(f"gcm_openssl_diff: {args.cases} cases match OpenSSL ({counts['wide']} wide,"
          f" {counts['aes-ni']} AES-NI, {counts['portable']} portable, {counts['bytes']} bytes"
          " of text)")


if __name__ == "__main__":
    sys.exit(main())
