"""Dataset cards that say exactly what the repo holds: README.md YAML (configs, dataset_info,
license, language, tasks, sizes, gating only where it is set) and a body rendered from the
dataset folder's ``card.md`` with sections generated from each published config's entry
(pixels or URL-only, columns, rows per split, sample or whole, source, models, failures).
"""
from __future__ import annotations

import html
import string
from pathlib import Path

import datasets
import yaml
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from .hub_facts import TASK_CATEGORIES
from .kinds import kind as kind_of
from .licenses import HUB_LICENSE_IDS, LicensePolicy
from .schema import FIELD_DOCS, QUALITY

GATE_FIELDS = {"Name": "text", "Affiliation": "text", "I agree to use this dataset for non-commercial use ONLY": "checkbox"}


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
    if isinstance(f, dict):
        return "{" + ", ".join(f"{k}: {_feature_type(v)}" for k, v in f.items()) + "}"
    return type(f).__name__


def rows_of(entry: dict) -> int:
    return sum(entry["splits"].values())


def fields_table(entries: dict[str, dict], docs: dict[str, str]) -> str:
    """Every column of every published config, with the configs that have it."""
    rows = ["| field | type | configs | meaning |", "|---|---|---|---|"]
    seen: dict[str, tuple[str, list[str]]] = {}
    for name, e in entries.items():
        for col, f in datasets.Features.from_dict(e["features"]).items():
            seen.setdefault(col, (_feature_type(f), []))[1].append(f"`{name}`")
    for col, (ftype, cfgs) in seen.items():
        rows.append(f"| `{col}` | {ftype} | {', '.join(cfgs)} | {docs.get(col, FIELD_DOCS.get(col, ''))} |")
    return "\n".join(rows)


def sample_words(b: dict) -> str:
    """Whole, or which sample (from the build's provenance: a union is a sample when any member is)."""
    if b.get("sample_of"):
        return f"a sample of {b['sample_of']:,} records (max_records={b.get('max_records')})"
    if b.get("sample"):  # max_records that cut nothing leaves the config whole
        return f"a sample (max_records={b.get('max_records')} per split)"
    return "whole"


def holds(e: dict) -> str:
    b = e["build"]
    if e["mode"] == "pixels":
        what = f"{b['size']} px aligned faces ({b['image_format']})" if kind_of(e["kind"]).aligns else "the source images as published"
        if e.get("members_table"):
            return f"**pixels** for the members that allow them (see Members; the others URL-only): {what}"
        return f"**pixels**: {what}"
    return "**URL-only**: no image data; `image_url` links each image upstream"


def contents_text(entries: dict[str, dict], policy: LicensePolicy) -> str:
    """What this repository holds, config by config (never a claim that one config contradicts)."""
    lines = []
    for name, e in entries.items():
        sample = f", {sample_words(e['build'])}" if sample_words(e["build"]) != "whole" else ""
        lines.append(f"- `{name}`: {holds(e)}; {rows_of(e):,} rows{sample}.")
    if not any(e["mode"] == "pixels" for e in entries.values()):
        lines.append("")
        lines.append(f"**No image data is included.** {policy.reason[0].upper()}{policy.reason[1:]}.")
    return "\n".join(lines)


def configs_table(entries: dict[str, dict], default: str) -> str:
    rows = ["| config | what | holds | rows per split | whole or sample | source |", "|---|---|---|---|---|---|"]
    for name, e in entries.items():
        b = e["build"]
        splits = ", ".join(f"{s}: {n:,}" for s, n in e["splits"].items())
        whole = sample_words(b)
        src = b.get("source") or "local"
        src = md_cell("the upstream files as downloaded by the publisher" if src == "local" else src)
        src += "".join(f"; {md_cell(k)}: {md_cell(v)}" for k, v in (b.get("source_facts") or {}).items())
        what = e.get("description", "") + (" Published URL-only: pixels removed." if e["mode"] == "urls" and kind_of(e["kind"]).pixels else "")
        rows.append(f"| `{name}`{' (default)' if name == default else ''} | {md_cell(what)} | {holds(e)} | {splits} | {whole} "
                    f"| {src} |")
    return "\n".join(rows)


def md_cell(text: object) -> str:
    """Text from outside artface (a source URL, metadata) as inert Markdown table-cell text: no HTML
    tag can open, no pipe can end the cell."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def how_to_load(repo_id: str, entries: dict[str, dict], default: str, dataset: str, pixel_config: str = "aligned") -> str:
    parts = ["```python", "from datasets import load_dataset", ""]
    for name, e in entries.items():
        split = next(iter(e["splits"]))
        parts.append(f'ds = load_dataset("{repo_id}", "{name}", split="{split}")' + ("  # the default config" if name == default else ""))
    parts.append(f'stream = load_dataset("{repo_id}", "{default}", split="{next(iter(entries[default]["splits"]))}", streaming=True)')
    parts.append("```")
    url_only = [n for n, e in entries.items() if e["mode"] == "urls"]
    if url_only:
        parts += ["", f"URL-only configs ({', '.join(f'`{n}`' for n in url_only)}) hold no pixels. The Hub page shows the "
                  "`image_url` column as thumbnails. To fetch the images yourself, respecting the hosts' terms:", "",
                  "```python", "import io, urllib.request", "from PIL import Image", "",
                  "def with_image(row):  # the standard library only: datasets installs no HTTP client of its own",
                  "    try:",
                  '        with urllib.request.urlopen(row["image_url"], timeout=30) as r:',
                  '            row["image"] = Image.open(io.BytesIO(r.read()))',
                  "    except OSError:",
                  '        row["image"] = None', "    return row", "",
                  f'ds = load_dataset("{repo_id}", "{url_only[0]}", split="{next(iter(entries[url_only[0]]["splits"]))}").map(with_image)',
                  "```", "",
                  f"or build them locally with retries, a failure report and the FFHQ alignment: `pip install artface` then "
                  f"{build_commands(dataset, {n: entries[n] for n in url_only}, pixel_config)} (`img2dataset` works on the parquet shards too: "
                  "`--input_format parquet --url_col image_url`)."]
    return "\n".join(parts)


def build_commands(dataset: str, url_only: dict[str, dict], pixel_config: str) -> str:
    """The `artface build` command that makes each URL-only config's pixels: the config it was
    published from when that one has pixels (``aligned-urls`` <- ``aligned``), else the dataset's pixel config."""
    configs = dict.fromkeys(e.get("builder_config", pixel_config) if kind_of(e["kind"]).pixels else pixel_config
                            for e in url_only.values())
    return " or ".join(f"`artface build {dataset} --config {c}`" for c in configs)


def build_table(entries: dict[str, dict]) -> str:
    rows = ["| config | built with | points | failed |", "|---|---|---|---|"]
    for name, e in entries.items():
        b = e["build"]
        how = f"artface {b['artface_version']}, {b['built_at']}"
        if b.get("recipe"):
            how += f"; recipe `{b['recipe']}` at {b['size']} px, {b['warp']} warp"
        points = b.get("detector") or ("upstream landmarks" if kind_of(e["kind"]).fetches
                                       else "upstream landmarks, where upstream has them")
        if b.get("detector_models"):
            points += "; " + ", ".join(f"`{k}` sha256 `{v}`" for k, v in b["detector_models"].items())
        rows.append(f"| `{name}` | {how} | {points} | {b['failed']} of {b['total']} |")
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
        if b.get("skipped"):
            what = ", ".join(f"{k}: {v}" for k, v in b["skipped"].items())
            lines.append(f"  Listed upstream but not usable, so not records ({what}).")
        if e.get("dropped_columns"):
            cols = ", ".join(f"`{c}`" for c in e["dropped_columns"])
            lines.append(f"  Not published in `{name}`, being empty in every row: {cols}.")
        lines += label_lines(name, b.get("by_label") or {})
        lines += [""] if lines[-1].startswith("|") else []  # a table ends before the next config's line
    return "\n".join(lines)


def label_lines(name: str, by_label: dict[str, dict[str, dict[str, int]]]) -> list[str]:
    """Per label value: records written (aligned from points), kept as crop, failed: what a build's
    losses do to the label distribution, shown only where it lost or cropped something."""
    if not any(n.get("failed") or n.get("kept as crop") for vals in by_label.values() for n in vals.values()):
        return []
    out = ["", f"What `{name}` kept, per label (written from points / kept as crop / failed):", "",
           "| label | value | written | kept as crop | failed |", "|---|---|---|---|---|"]
    for col, vals in by_label.items():
        for value, n in vals.items():
            out.append(f"| `{col}` | {md_cell(value)} | {n.get('written', 0):,} | {n.get('kept as crop', 0):,} "
                       f"| {n.get('failed', 0):,} |")
    return out


def quality_table(entries: dict[str, dict]) -> str:
    rows = [(n, e["quality"]) for n, e in entries.items() if e.get("quality")]
    if not rows:
        return "No config holds detected faces or points to measure."
    cols = [c for c in QUALITY if any(c in q for _, q in rows)]
    out = ["Percentiles 5 / 50 / 95 of the quality columns, to choose filtering thresholds (see Fields):", "",
           "| config | " + " | ".join(f"`{c}`" for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for name, q in rows:
        out.append(f"| `{name}` | " + " | ".join(" / ".join(f"{v:g}" for v in q[c]) if c in q else "-" for c in cols) + " |")
    for name, e in entries.items():  # pixel configs: the histograms and label counts as pictures
        for rel in e.get("charts") or []:
            what = "quality histograms" if rel.endswith("-quality.png") else "label counts (written / failed / kept as crop)"
            out += ["", f"![{what}, config {name}]({rel})"]
    return "\n".join(out)


USES = """Intended uses: research on generative models, face alignment and detection on artworks, art-historical
analysis of depicted faces, and benchmarking across artistic styles.

Out of scope: identifying or re-identifying real people, biometric recognition or verification, inferring
sensitive attributes of real people, and any use the license or the attribution terms below do not allow."""


def card_data(policy: LicensePolicy, meta: dict, entries: dict[str, dict], default: str, gated: bool) -> DatasetCardData:
    """YAML metadata as the Hub reads it, with `configs` and `dataset_info` as push_to_hub writes them.

    ``meta``: pretty_name, language, task_categories, source_datasets, annotations_creators, tags."""
    unknown = [t for t in meta["task_categories"] if t not in TASK_CATEGORIES]
    if unknown:
        raise ValueError(f"{policy.dataset}: task categories {unknown} are not Hub task ids")
    data = DatasetCardData(
        license=policy.hub_license,
        pretty_name=meta["pretty_name"],
        language=list(meta["language"]),
        task_categories=list(meta["task_categories"]),
        size_categories=[size_category(max(rows_of(e) for e in entries.values()))],
        source_datasets=list(meta["source_datasets"]),
        annotations_creators=list(meta["annotations_creators"]),
        tags=list(meta["tags"]),
    )
    if policy.hub_license == "other":
        data.license_name, data.license_link = policy.license_name, policy.license_link
    if gated:  # only where the publisher really switches gating on (a Hub repo)
        data.extra_gated_prompt = policy.gated_prompt
        data.extra_gated_fields = GATE_FIELDS
    configs, infos = {}, {}
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


def render_card(folder: Path, policy: LicensePolicy, data: DatasetCardData, entries: dict[str, dict], default: str,
                citation: str, field_docs: dict[str, str], repo_id: str, dataset: str, papers: dict[str, str],
                gated: bool, pixel_config: str = "aligned", private_only: bool = False) -> str:
    """README.md text: YAML front matter + the dataset folder's card.md with generated sections."""
    template = string.Template((folder / "card.md").read_text())
    shown_name = default if entries[default].get("preview") else next((n for n, e in entries.items() if e.get("preview")), default)
    shown = entries[shown_name]
    preview, preview_points = shown.get("preview"), shown.get("preview_points", True)
    license_line = f"`{policy.hub_license}`" + (f" ([{policy.license_name}]({policy.license_link}))" if policy.hub_license == "other" else "")
    access = ("Access is gated: you agree to the terms above (non-commercial use) before downloading."
              if gated else ("Non-commercial use only." if policy.non_commercial else ""))
    if policy.non_commercial and policy.gated_prompt:
        access += f" {policy.gated_prompt}"
    if private_only:
        access = (access + " " if access else "") + ("**This repository must stay private**: its license allows this "
                                                     "data only in a private repository.")
    body = template.safe_substitute(
        contents=contents_text(entries, policy),
        configs_table=configs_table(entries, default),
        how_to_load=how_to_load(repo_id, entries, default, dataset, pixel_config),
        fields_table=fields_table(entries, field_docs),
        build_table=build_table(entries),
        failures=failures_text(entries),
        quality=quality_table(entries),
        members="\n\n".join(f"`{n}`:\n\n{e['members_table']}" for n, e in entries.items() if e.get("members_table")),
        uses=USES,
        license=license_line,
        license_reason=f"{policy.reason[:1].upper()}{policy.reason[1:]} (source: {policy.source})",
        publish_modes=", ".join(policy.public_modes) or "none (local builds only)",
        access=access,
        attribution=policy.attribution,
        papers="\n".join(f"- [{title}](https://arxiv.org/abs/{arxiv})" for arxiv, title in papers.items()) or "-",
        citation=citation.strip(),
        preview=(f"![{'faces with their landmarks' if preview_points else 'faces (no landmarks to draw)'}, config "
                 f"`{shown_name}`]({preview})" if preview else ""),
    )
    return f"---\n{data.to_yaml()}\n---\n\n{body.strip()}\n"


def check_card(text: str) -> list[str]:
    """Our own check of what the Hub validates (its /api/validate-yaml needs the network), against
    the Hub's license and task ids (``artface.hub_facts``)."""
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
    tasks = meta.get("task_categories") or []
    for t in [tasks] if isinstance(tasks, str) else tasks:
        if t not in TASK_CATEGORIES:
            problems.append(f"task category {t!r} is not a Hub task id")
    if not meta.get("configs"):
        problems.append("no `configs` in the YAML")
    try:
        yaml.safe_load(text.split("---", 2)[1])
    except yaml.YAMLError as exc:
        problems.append(f"YAML error: {exc}")
    return problems
