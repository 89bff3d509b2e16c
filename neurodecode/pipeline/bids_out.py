"""``outputs: {bids_derivatives: true}``: a pipeline run's results as a BIDS-derivatives dataset.

A thin adapter over :func:`neurodecode.report.bids.write_derivatives`: the saved steps
(``outputs.save``), the steps' tables and the run's metrics go to ``<out>/bids/``, with the
pipeline's name and the sha256 of its resolved config in ``dataset_description.json``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

__all__ = ["BIDS_FOLDER", "config_hash", "write_run_derivatives"]

#: the folder of the run's output folder that holds the derivatives dataset
BIDS_FOLDER = "bids"


def config_hash(cfg: Any) -> str:
    """sha256 of the resolved config as canonical JSON (the same for a YAML file and its dict)."""
    from .cache import canonical_json

    return hashlib.sha256(canonical_json(cfg.model_dump(mode="json")).encode("utf-8")).hexdigest()


def _source_datasets(cfg: Any) -> list[dict[str, Any]]:
    from .config import resolve_path

    specs = [cfg.data] if getattr(cfg, "data", None) is not None else list(getattr(cfg, "sources", {}).values())
    out: list[dict[str, Any]] = []
    for spec in specs:
        root = getattr(spec, "bids", None)
        if root is not None:
            out.append({"URL": resolve_path(root, cfg.base_dir).as_uri()})
        elif getattr(spec, "dataset", None) is not None:
            from .. import datasets

            card = datasets.info(spec.dataset)
            entry: dict[str, Any] = {"URL": card.sources[0].repository if card.sources else card.name}
            if card.sources:
                src = card.sources[0]
                entry["URL"] = f"https://github.com/{src.repository}/tree/{src.commit}/{src.path}".rstrip("/")
                entry["Version"] = src.commit
            doi = next((c.doi for c in card.citations if c.doi), None)
            if doi:
                entry["DOI"] = f"doi:{doi}"
            out.append(entry)
    return out


def write_run_derivatives(out: Path, cfg: Any, runner: Any, metrics: dict[str, float]) -> Path:
    """Write ``<out>/bids``: saved steps, step tables (``desc-<step><table>_stats.tsv``), metrics.

    Returns the folder written.
    """
    import pandas as pd

    from ..report.bids import write_derivatives

    results: dict[str, Any] = {}
    for sid in cfg.outputs.save:
        results[sid] = runner.get(sid)
    if cfg.outputs.tables:
        for record in runner.records:
            for name, table in runner.tables_of(record.id).items():
                if isinstance(table, pd.DataFrame) and len(table.columns):
                    results[f"{record.id}_{name}"] = table
    if metrics:
        results["metrics"] = pd.DataFrame({"name": list(metrics), "value": list(metrics.values())})
    target = out / BIDS_FOLDER
    if not results:
        results["metrics"] = pd.DataFrame({"name": [], "value": []})
    write_derivatives(target, results, pipeline_name=cfg.name, pipeline_hash=config_hash(cfg),
                      source_datasets=_source_datasets(cfg) or None)
    return target
