"""Generate the card of a BIDS dataset on OpenNeuro from a git clone of its OpenNeuroDatasets mirror.

Usage (from the repository root)::

    git clone https://github.com/OpenNeuroDatasets/ds004362 /tmp/ds004362
    (cd /tmp/ds004362 && git fetch origin git-annex:git-annex)
    .venv/bin/python datasets/_make_openneuro_card.py /tmp/ds004362

Nothing is downloaded. Small files are stored in git: their size and sha256 are those of the git blob
and their URL is the raw file pinned to the snapshot's commit on GitHub. Large files are git-annex
symlinks whose key (``SHA256E-s<size>--<sha256>.<ext>``) gives size and sha256; their URL is the
OpenNeuro S3 object pinned to the version id that git-annex recorded for the snapshot
(``git-annex`` branch, ``<hashdir>/<key>.log.rmet``). The metadata (title, licence, citations, which
files) lives in this script; the committed card is its output. Edit here and re-run; never hand-edit
hashes.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
S3 = "https://s3.amazonaws.com/openneuro.org"
_KEY = re.compile(r"(SHA256E-s(\d+)--([0-9a-f]{64})[^/]*)$")

DS004362 = {
    "accession": "ds004362",
    "snapshot": "1.0.0",
    "commit": "af0c461f23e8a7aa782475e3c22d160bc39eb170",  # tag 1.0.0 of OpenNeuroDatasets/ds004362
    "include": [r"^(dataset_description\.json|participants\.(tsv|json)|README|CHANGES|task-motion_events\.json)$",
                r"^sub-001/eeg/"],
    "card": {
        "name": "eegmmidb_bids",
        "title": "EEG Motor Movement/Imagery Dataset in BIDS (OpenNeuro ds004362 v1.0.0), subject 001, runs 1-14",
        "modality": "eeg",
        "kinds": ["recording"],
        "folder": "eegmmidb_bids",
        "description": (
            "The PhysioNet EEGMMIDB recordings (BCI2000, 64-channel EEG, 160 Hz) as a BIDS dataset on OpenNeuro: "
            "subject sub-001, task 'motion', runs 1-14 as EEGLAB .set files with channels.tsv, electrodes.tsv "
            "(10-10 positions), coordsystem.json and events.tsv (value TASK<k>T0/T1/T2; runs 4/8/12 imagined "
            "left/right fist, 6/10/14 imagined fists/feet). Read with datasets.load('eegmmidb_bids', subject='001', "
            "run=4), which is neurodecode.datasets.from_bids on the verified files. The files are not in the shared "
            "test data: they are downloaded from OpenNeuro's S3 bucket (pinned version ids) and GitHub mirror "
            "(pinned commit), about 6 MB per run."),
        "licence_short": "CC0-1.0",
        "licence": "CC0 (public domain dedication), as stated in the dataset's dataset_description.json.",
        "citations": [
            {"text": "Schalk G, McFarland DJ, Hinterberger T, Birbaumer N, Wolpaw JR (2004). BCI2000: a "
                     "general-purpose brain-computer interface (BCI) system. IEEE Trans Biomed Eng "
                     "51(6):1034-1043.", "doi": "10.1109/TBME.2004.827072"},
            {"text": "EEG Motor Movement/Imagery Dataset, OpenNeuro ds004362 version 1.0.0.",
             "doi": "10.18112/openneuro.ds004362.v1.0.0"},
        ],
        "selection": {
            "subject": {"values": ["001"], "help": "BIDS subject label"},
            "task": {"values": ["motion"], "help": "BIDS task label"},
            "run": {"values": list(range(1, 15)),
                    "help": "run index (4/8/12 imagined left/right fist, 6/10/14 imagined fists/feet)"},
        },
        "notes": [
            "datasets.load on this card returns exactly what neurodecode.datasets.from_bids returns on the "
            "folder (plus attrs['dataset']); only the files of the selected runs are verified or downloaded.",
            "Offline (NEURODECODE_OFFLINE / HF_HUB_OFFLINE) the files must already be in "
            "$NEURODECODE_DATA/eegmmidb_bids/; datasets.load names the missing files and their URLs.",
        ],
        "bids": {"root": "."},
    },
}


def _git(repo: Path, *args: str, binary: bool = False):
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return out.stdout if binary else out.stdout.decode()


def _version_id(repo: Path, key: str, path: str, accession: str) -> str:
    h = hashlib.md5(key.encode()).hexdigest()
    log = _git(repo, "show", f"git-annex:{h[:3]}/{h[3:6]}/{key}.log.rmet")
    found = []
    for line in log.splitlines():
        m = re.match(r"^(\d+\.\d+)s \S+:V \+([^#]+)#(.+)$", line.strip())
        if m and m.group(3) == f"{accession}/{path}":
            found.append((float(m.group(1)), m.group(2)))
    if not found:
        raise SystemExit(f"no S3 version id recorded for {path} ({key})")
    return max(found)[1]


def make(repo: Path, spec: dict) -> dict:
    commit = spec["commit"]
    rows = []
    for line in _git(repo, "ls-tree", "-r", commit).splitlines():
        meta, path = line.split("\t", 1)
        mode, _, obj = meta.split()
        if not any(re.search(p, path) for p in spec["include"]):
            continue
        if mode == "120000":  # git-annex symlink
            target = _git(repo, "cat-file", "blob", obj).strip()
            m = _KEY.search(target)
            if m is None:
                raise SystemExit(f"{path}: symlink {target!r} is not a SHA256E annex key")
            key, size, sha = m.group(1), int(m.group(2)), m.group(3)
            url = f"{S3}/{spec['accession']}/{path}?versionId={_version_id(repo, key, path, spec['accession'])}"
        else:
            data = _git(repo, "cat-file", "blob", obj, binary=True)
            size, sha = len(data), hashlib.sha256(data).hexdigest()
            url = f"https://raw.githubusercontent.com/OpenNeuroDatasets/{spec['accession']}/{commit}/{path}"
        rows.append({"path": path, "size": size, "sha256": sha, "url": url, "required": True})
    card = dict(spec["card"])
    card["sources"] = [
        {"repository": f"OpenNeuroDatasets/{spec['accession']}", "commit": commit, "path": ".",
         "licence": "CC0-1.0"},
        {"repository": f"s3.amazonaws.com/openneuro.org/{spec['accession']}", "commit": f"v{spec['snapshot']}",
         "path": ".", "licence": "CC0-1.0"},
    ]
    order = ["name", "title", "modality", "kinds", "folder", "description", "licence_short", "licence", "citations",
             "sources", "selection", "notes", "bids"]
    out = {k: card[k] for k in order if k in card}
    out["files"] = sorted(rows, key=lambda r: r["path"])
    return out


def main(argv: list[str]) -> None:
    repo = Path(argv[1])
    card = make(repo, DS004362)
    header = ("# Dataset card generated by datasets/_make_openneuro_card.py from a git clone of the OpenNeuro "
              "mirror;\n# do not edit by hand (change the script and re-run it). Sizes in bytes; sha256 of the "
              "exact bytes.\n")
    target = HERE / f"{card['name']}.yaml"
    target.write_text(header + yaml.safe_dump(card, sort_keys=False, width=120, allow_unicode=True))
    print(f"wrote {target} ({len(card['files'])} files, {sum(f['size'] for f in card['files'])} bytes)")


if __name__ == "__main__":
    main(sys.argv)
