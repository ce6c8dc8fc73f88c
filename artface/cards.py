"""Dataset cards: README.md YAML (configs, dataset_info, license, gating) and a body rendered
from the dataset folder's ``card.md`` template and the build records of each published config.
"""
from __future__ import annotations

import string
from pathlib import Path

import datasets
import yaml
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from .licenses import HUB_LICENSE_IDS, LicensePolicy
from .schema import FIELD_DOCS

def size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if n < limit:
            return name
    return "1M<n<10M"


def _feature_type(f) -> str:
    if isinstance(f, datasets.ClassLabel):
        return f"ClassLabel({', '.join(f'{i}: {n}' for i, n in enumerate(f.names))})"
    if isinstance(f, datasets.Image):
        return "Image"
    if isinstance(f, datasets.Value):
        return f.dtype
    if isinstance(f, datasets.List):
        return f"list[{_feature_type(f.feature)}]" + (f"[{f.length}]" if f.length not in (None, -1) else "")
    return type(f).__name__


def fields_table(features: datasets.Features, docs: dict[str, str]) -> str:
    rows = ["| field | type | meaning |", "|---|---|---|"]
    for name, f in features.items():
        rows.append(f"| `{name}` | {_feature_type(f)} | {docs.get(name, FIELD_DOCS.get(name, ''))} |")
    return "\n".join(rows)


def card_data(policy: LicensePolicy, pretty_name: str, entries: dict[str, dict], default: str, tags: list[str],
              task_categories: list[str]) -> DatasetCardData:
    """YAML metadata as the Hub reads it, with `configs` and `dataset_info` as push_to_hub writes them."""
    total = sum(n for e in entries.values() for n in e["splits"].values())
    data = DatasetCardData(
        license=policy.hub_license,
        pretty_name=pretty_name,
        task_categories=task_categories,
        size_categories=[size_category(total)],
        tags=tags,
    )
    if policy.hub_license == "other":
        data.license_name, data.license_link = policy.license_name, policy.license_link
    if policy.gated:
        data.extra_gated_prompt = policy.gated_prompt
        data.extra_gated_fields = {"Name": "text", "Affiliation": "text", "I agree to use this dataset for non-commercial use ONLY": "checkbox"}
    configs = {}
    infos = {}
    for name, e in entries.items():
        cfg = {"data_files": [{"split": s, "path": f"{e['data_dir']}/{s}-*"} for s in e["splits"]]}
        if name == default:
            cfg["default"] = True
        configs[name] = cfg
        info = DatasetInfo(features=datasets.Features.from_dict(e["features"]))
        info.splits = datasets.SplitDict({s: datasets.SplitInfo(s, num_bytes=e["split_bytes"].get(s, 0), num_examples=n)
                                          for s, n in e["splits"].items()})
        info.download_size = e.get("download_size", 0)
        info.dataset_size = sum(e["split_bytes"].values())
        infos[name] = info
    DatasetInfosDict(infos).to_dataset_card_data(data)
    MetadataConfigs(configs).to_dataset_card_data(data)
    return data


def build_table(entries: dict[str, dict]) -> str:
    rows = ["| config | mode | rows | failed | built with |", "|---|---|---|---|---|"]
    for name, e in entries.items():
        b = e["build"]
        how = f"artface {b['artface_version']}, {b['built_at']}"
        if b.get("detector"):
            how += f"; points: {b['detector']}" + (f" (model sha256 `{b['detector_sha256']}`)" if b.get("detector_sha256") else "")
        if b.get("recipe"):
            how += f"; recipe `{b['recipe']}` at {b['size']} px, {b['warp']} warp"
        if b.get("sample_of"):
            how += f"; a sample of {b['sample_of']} records (max_records)"
        rows.append(f"| `{name}` | {e['mode']} | {sum(e['splits'].values())} | {b['failed']} | {how} |")
    return "\n".join(rows)


def failures_text(entries: dict[str, dict]) -> str:
    lines = []
    for name, e in entries.items():
        b = e["build"]
        if b["failed"]:
            reasons = ", ".join(f"{k}: {v}" for k, v in b["failed_by_reason"].items())
            lines.append(f"- `{name}`: {b['failed']} of {b['total']} records could not be built ({reasons}); they are not in the shards.")
        else:
            lines.append(f"- `{name}`: all {b['total']} records built.")
    return "\n".join(lines)


def render_card(folder: Path, policy: LicensePolicy, meta: DatasetCardData, entries: dict[str, dict], citation: str,
                preview: str | None, field_docs: dict[str, str]) -> str:
    """README.md text: YAML front matter + the dataset folder's card.md with generated sections."""
    template = string.Template((folder / "card.md").read_text())
    features = datasets.Features.from_dict(next(iter(entries.values()))["features"])
    license_line = f"`{policy.hub_license}`" + (f" ([{policy.license_name}]({policy.license_link}))" if policy.hub_license == "other" else "")
    body = template.safe_substitute(
        fields_table=fields_table(features, field_docs),
        build_table=build_table(entries),
        failures=failures_text(entries),
        license=license_line,
        license_reason=f"{policy.reason} (source: {policy.source})",
        publish_modes=", ".join(policy.public_modes) or "none (local builds only)",
        attribution=policy.attribution,
        citation=citation.strip(),
        preview=f"![preview: faces with their landmarks]({preview})" if preview else "",
    )
    return f"---\n{meta.to_yaml()}\n---\n\n{body.strip()}\n"


def check_card(text: str) -> list[str]:
    """Our own check of what the Hub validates (its /api/validate-yaml needs the network)."""
    problems = []
    try:
        card = DatasetCard(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the answer
        return [f"README.md YAML does not parse: {exc}"]
    meta = card.data.to_dict()
    lic = meta.get("license")
    for item in [lic] if isinstance(lic, str) else (lic or [None]):
        if item not in HUB_LICENSE_IDS:
            problems.append(f"license {item!r} is not a Hub license id")
    if lic == "other" and not (meta.get("license_name") and meta.get("license_link")):
        problems.append("license 'other' needs license_name and license_link")
    if not meta.get("configs"):
        problems.append("no `configs` in the YAML")
    try:
        yaml.safe_load(text.split("---", 2)[1])
    except yaml.YAMLError as exc:
        problems.append(f"YAML error: {exc}")
    return problems
