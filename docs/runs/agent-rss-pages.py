#!/usr/bin/env python3
"""Which code of a running ferrobeat-agent is resident: its binary's pages, by owner.

    python3 docs/runs/agent-rss-pages.py PID [BINARY]

Reads /proc/PID/maps and /proc/PID/pagemap (root: the present bit of every page of the binary's
mappings) and the binary's symbol table (`nm -S --defined-only`; BINARY defaults to
/proc/PID/exe, unstripped), and prints the resident kB of each ELF section and, within .text,
of each owner: the crate of a Rust symbol (first path segment of the demangled name) or, for C,
the library the symbol's prefix names (rd_kafka -> librdkafka, ZSTD/HUF/FSE -> zstd, LZ4/XXH ->
lz4, OSSL/EVP/... -> openssl). A page counts for every owner with a symbol on it, so the owners'
sum exceeds the total when owners share pages: that sharing is the cost of scattered code.
"""
import bisect
import collections
import re
import struct
import subprocess
import sys

PAGE = 4096


def resident_pages(pid, path):
    """Resident page addresses (file offsets) of the mappings of `path` in `pid`."""
    pages = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            fields = line.split()
            if len(fields) < 6 or fields[5] != path:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            offset = int(fields[2], 16)
            pagemap.seek(start // PAGE * 8)
            data = pagemap.read((end - start) // PAGE * 8)
            for i in range(len(data) // 8):
                (entry,) = struct.unpack_from("<Q", data, i * 8)
                if entry >> 63 & 1:
                    pages.add(offset + i * PAGE)
    return pages


def sections(binary):
    """(name, file offset, size, address) of every allocated section."""
    out = []
    text = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+\S+\s+(\S*A\S*)", text):
        name, addr, off, size = m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)
        if "A" in m.group(5) and size:
            out.append((name, off, size, addr))
    return out


C_OWNERS = [
    (r"^(rd_|RD_|rdk|cnd_|mtx_|thrd_|tss_|crc32c|regcomp|tinycthread|cJSON|nn_)", "librdkafka"),
    (r"^(ZSTD|HUF|FSE|HIST|ZSTDMT|POOL|XXH64|ZSTD_)", "zstd"),
    (r"^(LZ4|XXH)", "lz4"),
    (r"^(OSSL|ossl|EVP|SSL|ssl|X509|x509|ASN1|asn1|BN_|bn_|RSA|rsa|EC_|ec_|CRYPTO|OPENSSL|ERR_|"
     r"BIO|bio|PEM|PKCS|OBJ_|DH|DSA|HMAC|SHA|MD5|AES|aes|EVP|sha|md5|ecp_|ENGINE|RAND|rand|"
     r"X25519|ED25519|ED448|X448|CMS|OCSP|UI_|DSO|CONF|NCONF|COMP|BUF_|HKDF|KDF|kdf|ossl_|"
     r"CMAC|DES|des|chacha|ChaCha|poly1305|Poly1305|gcm|GCM|curve|camellia|aria|sm[234]|SM[234])",
     "openssl"),
]


def owner(name):
    if name.startswith("_ZN") or name.startswith("_R"):
        demangled = subprocess_demangle(name)
        first = re.split(r"::|<| ", demangled.lstrip("<&*"), maxsplit=1)[0]
        return first or "rust?"
    for pattern, lib in C_OWNERS:
        if re.match(pattern, name):
            return lib
    return "other C"


_DEMANGLED = {}


def subprocess_demangle(name):
    return _DEMANGLED.get(name, name)


def main():
    pid = int(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else f"/proc/{pid}/exe"
    exe = subprocess.run(["readlink", "-f", f"/proc/{pid}/exe"], capture_output=True,
                         text=True).stdout.strip()
    pages = resident_pages(pid, exe)
    secs = sections(binary)
    print(f"{exe}: {len(pages) * 4} kB resident")
    for name, off, size, _ in secs:
        first, last = off // PAGE * PAGE, (off + size - 1) // PAGE * PAGE
        n = sum(1 for p in range(first, last + PAGE, PAGE) if p in pages)
        print(f"  {name:22} {size // 1024:6} kB  resident {n * 4:6} kB")
    text = next(s for s in secs if s[0] == ".text")
    nm = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True,
                        text=True).stdout
    syms = []
    for line in nm.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    names = sorted({s[2] for s in syms if s[2].startswith("_ZN") or s[2].startswith("_R")})
    demangled = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True,
                               text=True).stdout.splitlines()
    _DEMANGLED.update(zip(names, demangled))
    delta = text[1] - text[3]  # file offset - address
    per_owner = collections.defaultdict(set)
    size_owner = collections.Counter()
    for addr, size, name in syms:
        o = owner(name)
        size_owner[o] += size
        start, end = addr + delta, addr + delta + max(size, 1)
        for p in range(start // PAGE * PAGE, end, PAGE):
            if p in pages:
                per_owner[o].add(p)
    print("  .text by owner (resident kB / symbol kB):")
    for o, ps in sorted(per_owner.items(), key=lambda kv: -len(kv[1]))[:25]:
        print(f"    {o:28} {len(ps) * 4:6} / {size_owner[o] // 1024}")


if __name__ == "__main__":
    main()
