"""A Hub dataset repo as a publish destination, through huggingface_hub's own commit machinery.

The repo is read at the target revision (its head commit, ``artface.json`` and file listing), the
card is written from that state, and ``create_commit`` commits the staged files in one commit with
``parent_commit`` set to that head, deleting the config's own files that the publish no longer has
(matched by huggingface_hub's ``filter_repo_objects``, as ``upload_folder(delete_patterns=...)``
does; ``upload_folder`` itself may split a large folder into several commits when hf_xet is
installed, and a publish is one commit). A publish that raced another one gets 412/409 and is
re-read and re-committed, as ``push_to_hub`` does. Unchanged files are skipped by huggingface_hub
(preupload oids), and "no change" is read from the commit result (the head did not move).
"""
from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from urllib.parse import quote

from huggingface_hub.utils.sha import git_hash

from artface_align.models import sha256_file

from ..errors import ArtfaceError
from ..licenses import PublishRefused
from .plan import RepoState
from .staging import META_NAME, config_files

log = logging.getLogger(__name__)
HUB_PREFIX = "hf://datasets/"
CONFLICTS = (409, 412)  # another commit is in progress / the parent commit is no longer the head


class CommitConflict(Exception):
    """The revision moved since it was read: read it again and re-commit."""


class HubRepo:
    def __init__(self, repo_id: str, revision: str | None = None, create_pr: bool = False) -> None:
        from huggingface_hub import HfApi

        if create_pr and revision not in (None, "main"):
            raise ArtfaceError(f"--create-pr opens a pull request against main; it cannot be combined with "
                               f"--revision {revision} (commit to the branch, or open the pull request on main)")
        self.api = HfApi()  # endpoint and token from the environment / login; never printed
        self.repo_id, self.revision, self.create_pr = repo_id, revision or "main", create_pr
        self._remote: dict[str, object] = {}

    def __str__(self) -> str:
        return f"{HUB_PREFIX}{self.repo_id}" + (f"@{self.revision}" if self.revision != "main" else "")

    def prepare(self, private: bool, gated: bool, make_private: bool = False) -> None:
        """Visibility and gating, checked or set before any data is built or committed (and again on
        a "no change" re-publish): a new repo is created private/gated first; ``private`` onto an
        existing public repo is refused unless ``make_private`` turns it private first."""
        api = self.api
        if not api.repo_exists(self.repo_id, repo_type="dataset"):
            api.create_repo(self.repo_id, repo_type="dataset", private=private)
        info = api.dataset_info(self.repo_id)
        if private and not info.private:
            if not make_private:
                raise PublishRefused(f"{self.repo_id} exists and is public: a --private publish would make its data public. "
                                     f"Pass --make-private to turn the repo private first, or publish to another repo.")
            api.update_repo_settings(self.repo_id, private=True, repo_type="dataset")
        if gated and not info.gated:
            api.update_repo_settings(self.repo_id, gated="auto", repo_type="dataset")

    def _read_revision(self) -> str | None:
        """The branch a publish builds on: the target branch, or main for a branch not made yet (it
        will be made from main) and for a pull request (opened against main)."""
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        for rev in ([] if self.create_pr else [self.revision]) + ["main"]:
            try:
                return self.api.repo_info(self.repo_id, repo_type="dataset", revision=rev).sha
            except RevisionNotFoundError:
                continue
            except RepositoryNotFoundError:
                return None
        return None

    def state(self) -> RepoState:
        """The repo at the revision this publish builds on: head commit, ``artface.json``, files."""
        head = self._read_revision()
        if head is None:
            return RepoState(None, {}, {})
        items = [i for i in self.api.list_repo_tree(self.repo_id, repo_type="dataset", recursive=True, revision=head)
                 if hasattr(i, "blob_id")]
        self._remote = {i.path: i for i in items}
        meta: dict = {}
        if META_NAME in self._remote:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(self.repo_id, META_NAME, repo_type="dataset", revision=head)
            try:
                meta = json.loads(Path(path).read_text())
            except ValueError as exc:
                log.warning("ignoring unreadable %s in %s@%s: %s", META_NAME, self.repo_id, head[:8], exc)
        return RepoState(head, meta, {p: i.size for p, i in self._remote.items()})

    def same(self, rel: str, local: Path) -> bool:
        """The content check huggingface_hub's preupload makes: sha256 for LFS files, git's blob id otherwise."""
        r = self._remote.get(rel)
        if r is None or r.size != local.stat().st_size:
            return False
        return r.lfs.sha256 == sha256_file(local) if r.lfs else r.blob_id == git_hash(local.read_bytes())

    def put(self, staged: Path, hub_config: str, message: str, parent: str | None) -> tuple[str, bool, str | None]:
        """One commit on top of ``parent`` (raises ``CommitConflict`` when the revision moved);
        returns (commit id, changed, URL of the commit or pull request)."""
        from huggingface_hub.errors import HfHubHTTPError

        if self.revision != "main" and not self.create_pr:
            self.api.create_branch(self.repo_id, branch=self.revision, repo_type="dataset", exist_ok=True,
                                   revision=parent)
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from huggingface_hub.utils import filter_repo_objects

        local = {p.relative_to(staged).as_posix(): p for p in staged.rglob("*") if p.is_file()}
        ops: list = [CommitOperationDelete(path_in_repo=rel)
                     for rel in filter_repo_objects(sorted(self._remote), allow_patterns=config_files(hub_config))
                     if rel not in local]
        ops += [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)) for rel, path in sorted(local.items())]
        try:
            info = self.api.create_commit(self.repo_id, operations=ops, commit_message=message, repo_type="dataset",
                                          revision=None if self.create_pr else self.revision, create_pr=self.create_pr,
                                          parent_commit=parent)
        except HfHubHTTPError as exc:
            if getattr(exc.response, "status_code", None) in CONFLICTS:
                raise CommitConflict(str(exc).splitlines()[0]) from None
            raise
        changed = bool(info.pr_url) or info.oid != parent
        return info.oid, changed, (info.pr_url or info.commit_url) if changed else None


def commit_with_retry(attempt, tries: int = 10):
    """Call ``attempt()`` until it does not raise ``CommitConflict`` (each try re-reads the revision),
    sleeping as ``datasets.push_to_hub`` does between tries."""
    for n in range(1, tries + 1):
        try:
            return attempt()
        except CommitConflict as exc:
            if n == tries:
                raise ArtfaceError(f"the Hub revision kept moving while publishing ({n} tries): {exc}") from None
            log.info("commit conflict (%s); reading the revision again (%d/%d)", exc, n, tries)
            time.sleep(min(n - 1, 5) * (1 + random.random()))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")


def revision_path(repo_id: str, revision: str | None) -> str:
    """``HfFileSystem`` path of a repo at a revision (a branch name with ``/`` is quoted)."""
    return f"datasets/{repo_id}" + (f"@{quote(revision, safe='')}" if revision else "")
