"""``animeinterp weights list | download NAME... | verify PATH...``.

Wire into the main parser with ``add_weights_parser(subparsers)``; each sub-command sets
``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import WeightsError
from ..weights.cache import default_cache_dir, read_record, record_path
from ..weights.hashing import digest_file
from ..weights.manifest import load_manifest
from ..weights.resolve import resolve_weight


def add_weights_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``weights`` command (with ``list``, ``download``, ``verify``) to ``subparsers``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--manifest", type=Path, default=None, help="manifest file (default: the package's)")
    common.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache folder (default: $ANIMEINTERP_CACHE or ~/.cache/comfyui-animeinterp)",
    )
    p = subparsers.add_parser("weights", help="list, download and verify weight files")
    sub = p.add_subparsers(dest="weights_command", required=True)

    ls = sub.add_parser("list", parents=[common], help="show the manifest's weights and which are cached")
    ls.set_defaults(func=_list)

    dl = sub.add_parser(
        "download", parents=[common], help="download, verify and convert weights into the cache"
    )
    dl.add_argument("names", nargs="+", metavar="NAME", help="manifest names ('all' for every entry)")
    dl.add_argument("--quiet", action="store_true", help="no progress bars")
    dl.set_defaults(func=_download)

    vf = sub.add_parser(
        "verify", parents=[common], help="hash files; check them against their record and the manifest"
    )
    vf.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    vf.set_defaults(func=_verify)
    return p


def _list(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    cache = args.cache_dir or default_cache_dir()
    print(f"cache: {cache}")
    for entry in manifest:
        state = "cached" if (cache / entry.filename).is_file() else "-"
        size = _human_size(entry.size) if entry.size else "size ?"
        weak = "" if any(s.exact for s in entry.sources) else "  [no full hash published]"
        purpose = _first_sentence(entry.purpose)
        print(f"{entry.name:18s} {state:7s} {entry.filename:32s} {size:>10s}  {purpose}{weak}")
    return 0


def _download(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    names = [e.name for e in manifest] if args.names == ["all"] else args.names
    status = 0
    for name in names:
        try:
            path = resolve_weight(name, cache_dir=args.cache_dir, progress=not args.quiet, manifest=manifest)
        except WeightsError as e:
            print(f"{name}: FAILED\n{e}", file=sys.stderr)
            status = 1
        else:
            print(f"{name}: {path}")
    return status


def _verify(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    status = 0  # 1 as soon as one file cannot be confirmed
    for path in args.paths:
        if not path.is_file():
            print(f"{path}: no such file", file=sys.stderr)
            status = 1
            continue
        digest = digest_file(path)
        print(f"{path}\n  size {digest.size}  sha256 {digest.sha256}  git blob {digest.git_blob_sha1}")
        record = read_record(path)
        if record is not None:
            ok = record.sha256 == digest.sha256
            verdict = "OK" if ok else f"MISMATCH (expected {record.sha256})"
            print(f"  record {record_path(path).name}: {verdict} - '{record.name}' from {record.source}")
            status |= 0 if ok else 1
        elif record_path(path).exists():
            print(f"  record {record_path(path).name}: unreadable")
        match = manifest.identify(digest)
        converted = _converted_match(manifest, digest.sha256)
        if match is not None:
            entry, source = match
            print(f"  matches '{entry.name}' ({source.location})")
        elif converted is not None:
            print(f"  matches the published converted file of '{converted}'")
        elif record is None:
            print(f"{path}: CANNOT BE VERIFIED: no readable record and no published hash matches; "
                  "delete it and run `animeinterp weights download NAME` for a verified copy",
                  file=sys.stderr)
            status = 1
    return status


def _converted_match(manifest, sha256: str) -> str | None:
    """Name of the entry whose published converted file has this SHA-256, if any."""
    return next((e.name for e in manifest if e.converted_sha256 == sha256), None)


def _human_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0]
    return head if len(head) <= 70 else head[:67] + "..."
