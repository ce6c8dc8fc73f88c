"""License policy: which publishing modes each dataset allows, why, and where that comes from.

Each dataset folder declares its ``POLICY``; ``artface.builders.policy_table()`` gathers them
into the one table the publisher and the cards read (this module imports no builder). ``check_publish`` is the single place a publish is
allowed or refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .errors import ArtfaceError
from .hub_facts import LICENSE_IDS as HUB_LICENSE_IDS

# The publish modes. One word each: ``urls`` rows link each image upstream (no image data; a pixel
# config published so is the Hub config ``<config>-urls``), ``pixels`` rows carry the image bytes.
URLS, PIXELS = "urls", "pixels"
MODES = (URLS, PIXELS)
OLD_MODES = {"processed": PIXELS}  # artface 0.x spelling: read (CLI, API, stored artface.json) for one release


def publish_mode(mode: str) -> str:
    """``mode`` in today's words (an old spelling is read as its new name); ValueError for anything else."""
    mode = OLD_MODES.get(mode, mode)
    if mode not in MODES:
        raise ValueError(f"publish mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


@dataclass(frozen=True)
class LicensePolicy:
    dataset: str
    hub_license: str  # Hub identifier for the card
    public_modes: tuple[str, ...]  # subset of MODES; () = no public publishing
    reason: str
    source: str  # where the terms come from (URL or document)
    attribution: str
    license_name: str | None = None  # for hub_license == "other"
    license_link: str | None = None
    gated: bool = False  # non-commercial data: publish gated with a prompt
    gated_prompt: str = ""
    private_modes: tuple[str, ...] = MODES  # allowed with --private
    cautions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def non_commercial(self) -> bool:
        """Terms that restrict commercial use (an NC license, or gated non-commercial data)."""
        return self.gated or "-nc" in self.hub_license

    def __post_init__(self) -> None:
        for name in ("public_modes", "private_modes"):  # a folder written with the old word still loads
            object.__setattr__(self, name, tuple(publish_mode(m) for m in getattr(self, name)))
        if self.hub_license not in HUB_LICENSE_IDS:
            raise ValueError(f"{self.dataset}: {self.hub_license!r} is not a Hub license id")
        if self.hub_license == "other" and not (self.license_name and self.license_link):
            raise ValueError(f"{self.dataset}: license 'other' needs license_name and license_link")


class PublishRefused(ArtfaceError, PermissionError):
    """The license policy (or the destination's visibility) does not allow this publish."""

    exit_code = 2


def union_policy(base: LicensePolicy, members: dict[str, LicensePolicy]) -> LicensePolicy:
    """The terms of a repo that holds rows of several datasets: the strictest member's. Any member
    whose terms restrict commercial use or need gating makes the repo gated, with that member's
    notice, so its rows carry the same terms in the union as in its own repo."""
    strict = {m: p for m, p in members.items() if p.non_commercial}
    if not strict:
        return base
    notices = " ".join(f"Rows of {m} ({p.hub_license}): {p.gated_prompt or 'non-commercial use only.'}"
                       for m, p in strict.items())
    return replace(base, gated=True, gated_prompt=f"This corpus includes rows under non-commercial terms. {notices}",
                   reason=f"{base.reason}; members with non-commercial terms ({', '.join(strict)}) make the repo gated")


def check_publish(policy: LicensePolicy, mode: str, private: bool) -> None:
    """Raise PublishRefused (saying why and what is allowed) unless the publish is allowed."""
    mode = publish_mode(mode)
    if mode in policy.public_modes:
        return
    if private and mode in policy.private_modes:
        return
    allowed = [f"public {m}" for m in policy.public_modes] + [f"private {m} (--private)" for m in policy.private_modes if m not in policy.public_modes]
    raise PublishRefused(
        f"{policy.dataset}: publishing {'privately ' if private else 'publicly '}in mode {mode!r} is refused. "
        f"Reason: {policy.reason} (source: {policy.source}). Allowed: {', '.join(allowed) or 'nothing: build it locally only'}."
    )
