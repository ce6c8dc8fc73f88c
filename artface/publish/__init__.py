"""Publisher: a finished build -> a Hub dataset repo laid out as ``push_to_hub`` lays it out.

``publish()`` checks the license policy, reads (or makes) the config's build, stages its files
(``staging``), reads the destination (``folder.FolderRepo`` or ``hub.HubRepo``) at its revision,
writes the card from what is there plus this config, shows or checks the change (``plan``) and puts
it in one atomic step: a folder swap, or one Hub commit on the revision's head (re-read and retried
when another publish got there first).
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..builders import builder_class, load_builder
from ..errors import ArtfaceError
from ..licenses import MODES, OLD_MODES, check_publish, publish_mode
from ..swap import remove_orphans
from .folder import FolderRepo
from .hub import HUB_PREFIX, HubRepo, commit_with_retry
from .plan import Change, check_replace, plan, shrinks
from .staging import META_NAME, PublishEmpty, nice_shard_count, stage_config, write_card, write_shards

__all__ = ["HUB_PREFIX", "META_NAME", "MODES", "PublishEmpty", "PublishResult", "nice_shard_count", "publish", "write_shards"]
STAGING_PREFIX = "artface-publish-"


@dataclass
class PublishResult:
    destination: str
    config: str
    files: list[str]
    commit: str | None = None  # Hub commit id, None for folders
    changed: bool = True
    rows: dict[str, int] = field(default_factory=dict)
    url: str | None = None  # the commit or pull request on the Hub, the folder otherwise
    readme: str = ""
    dry_run: bool = False
    change: Change | None = None  # what this publish changes (or, dry run, would change) at the destination
    needs_replace: str | None = None  # dry run: why a real publish would need --replace


def publish(name: str, config: str | None = None, mode: str = "urls", to: str | None = None, private: bool = False,
            max_shard_size: int | str = "500MB", make_private: bool = False, dry_run: bool = False,
            create_pr: bool = False, revision: str | None = None, commit_message: str | None = None,
            num_proc: int | None = None, replace: bool = False, **options) -> PublishResult:
    """Publish a dataset config as URL-only or pixel shards with a license-aware card.

    ``to``: a folder (default ``./artface-hub/<name>``) or ``hf://datasets/<org>/<name>``. Refused
    (``PublishRefused``) when the license policy does not allow ``mode`` (publicly, or with ``private``),
    and when it would replace a config by a sample or by fewer rows without ``replace``.
    ``dry_run``: stage and compare with the destination; write and upload nothing.
    """
    if mode in OLD_MODES:
        warnings.warn(f"publish mode {mode!r} is now {OLD_MODES[mode]!r}; the old word is read until the next release",
                      DeprecationWarning, stacklevel=2)
    try:
        mode = publish_mode(mode)
    except ValueError as exc:
        raise ArtfaceError(str(exc)) from None
    dest = to or f"artface-hub/{name}"
    check_publish(builder_class(name).POLICY, mode, private)  # before any work
    probe = load_builder(name, config, **options)  # options checked before any network or disk work
    probe.members_with_pixels(mode, private)  # a union member that blocks the mode says so now
    policy = probe.repo_policy()  # a union's: its members' terms
    repo_id = dest[len(HUB_PREFIX):].strip("/") if dest.startswith(HUB_PREFIX) else None
    hub_only = [flag for flag, on in (("--create-pr", create_pr), ("--revision", revision), ("--make-private", make_private),
                                      ("--commit-message", commit_message)) if on]
    if hub_only and not repo_id:
        raise ArtfaceError(f"{', '.join(hub_only)} only apply to a Hub destination (--to hf://datasets/ORG/NAME), "
                           f"not to the folder {dest}")
    target: HubRepo | FolderRepo = HubRepo(repo_id, revision, create_pr) if repo_id else FolderRepo(dest)
    if isinstance(target, HubRepo) and not dry_run:  # token, destination, visibility, gating before any build
        target.prepare(private, policy.gated, make_private)
    card_repo = repo_id or f"<your-org>/{Path(dest).name}"
    remove_orphans(Path(tempfile.gettempdir()), STAGING_PREFIX)  # staging of publishes that were killed
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        staged = stage_config(name, config, mode, private, max_shard_size, Path(tmp), num_proc=num_proc,
                              gated=bool(repo_id) and policy.gated, **options)
        message = commit_message or f"artface publish {name}/{staged.hub_config} ({mode})"

        def attempt() -> PublishResult:
            state = target.state()
            readme = write_card(staged, state.meta, card_repo)
            change = plan(staged, state, target.same)
            res = PublishResult(str(target), staged.hub_config, staged.files(), rows=staged.entry["splits"], readme=readme,
                                change=change, dry_run=dry_run)
            if dry_run:
                res.changed, res.needs_replace = change.any, shrinks(change)
                return res
            check_replace(change, str(target), replace)
            if isinstance(target, HubRepo):
                res.commit, res.changed, res.url = target.put(staged.folder, staged.hub_config, message, state.head)
            else:
                res.changed, res.url = target.put(staged.folder, staged.hub_config), target.path.as_uri()
            return res

        if isinstance(target, FolderRepo) and not dry_run:
            with target.locked():
                return attempt()
        return commit_with_retry(attempt) if isinstance(target, HubRepo) else attempt()
