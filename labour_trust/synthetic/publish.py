"""Publishing months the way a department does: Delta overwrites of one month partition.

Each publication is one atomic Delta commit that replaces only the ``month`` partition
it names (``mode="overwrite"`` with a ``predicate``), so the commit's add/remove actions
touch that month alone and readers pinned to older versions are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake

from labour_trust.feeds.departments import FEEDS
from labour_trust.feeds.linkage import LinkageKey
from labour_trust.feeds.spec import FeedSpec
from labour_trust.months import month_index
from labour_trust.shares.storage import share_uri, storage_options_for
from labour_trust.synthetic.feeds import generate_month
from labour_trust.synthetic.programme import (
    DEFAULT_PROGRAMME,
    EFFECT_KEY,
    UPTAKE_KEY,
    SkillsProgramme,
)

# Tokens are random hex: zstd halves them where snappy cannot.
WRITER_PROPERTIES = WriterProperties(compression="ZSTD", compression_level=1)

# Commit metadata keys that let a later correction regenerate a month at the volume the
# share was seeded at (a correction at another scale would fail the volume rule).
SCALE_KEY = "labour_trust.scale"
SEED_KEY = "labour_trust.seed"


def publish_month(
    spec: FeedSpec,
    month: str,
    uri: str,
    *,
    scale: float,
    seed: int,
    key: LinkageKey,
    revision: int = 0,
    storage_options: dict[str, str] | None = None,
    skills: SkillsProgramme = DEFAULT_PROGRAMME,
) -> int:
    """Generate one month of ``spec`` and commit it to the share at ``uri``; returns the
    new Delta version. Re-publishing a month replaces that month only.

    ``skills``: the claimant skills programme simulated (uptake and planted effect); both
    are recorded in the commit metadata, so an evaluation can be checked against them."""
    month_index(month)  # validates the label before it goes into a predicate
    options = storage_options if storage_options is not None else storage_options_for(uri)
    batches = generate_month(
        spec, month, scale=scale, seed=seed, key=key, revision=revision, skills=skills
    )
    exists = DeltaTable.is_deltatable(uri, storage_options=options)
    write_deltalake(
        uri,
        pa.RecordBatchReader.from_batches(spec.schema, batches),
        mode="overwrite",
        predicate=f"month = '{month}'",
        partition_by=["month"],
        storage_options=options,
        writer_properties=WRITER_PROPERTIES,
        commit_properties=CommitProperties(
            custom_metadata={
                "labour_trust.publisher": spec.department,
                "labour_trust.month": month,
                "labour_trust.revision": str(revision),
                "labour_trust.key_version": key.version,
                SCALE_KEY: repr(float(scale)),
                SEED_KEY: str(seed),
                **skills.metadata(),
            }
        ),
        # Table name and description go in the first commit only, so that later commits
        # carry no metadata action and read as pure data changes.
        **({} if exists else {"name": spec.name, "description": spec.description}),
    )
    return DeltaTable(uri, storage_options=options).version()


def published_settings(
    uri: str, storage_options: dict[str, str] | None = None
) -> tuple[float | None, int | None]:
    """The (scale, seed) recorded by the share's latest commit that carries them, or None
    for each one that no commit records (a share published before they were recorded)."""
    options = storage_options if storage_options is not None else storage_options_for(uri)
    scale: float | None = None
    seed: int | None = None
    # history() is newest first; commit metadata appears as top-level keys of each entry.
    for commit in DeltaTable(uri, storage_options=options).history():
        if scale is None and commit.get(SCALE_KEY) is not None:
            scale = float(commit[SCALE_KEY])
        if seed is None and commit.get(SEED_KEY) is not None:
            seed = int(commit[SEED_KEY])
        if scale is not None and seed is not None:
            break
    return scale, seed


def seed_shares(
    root: str,
    months: Iterable[str],
    *,
    scale: float,
    seed: int,
    key: LinkageKey,
    feeds: Iterable[FeedSpec] = FEEDS,
    storage_options: dict[str, str] | None = None,
    skills: SkillsProgramme = DEFAULT_PROGRAMME,
) -> dict[str, int]:
    """Publish revision 0 of every month of every feed under ``root``; returns each share's
    latest version."""
    months = list(months)
    versions: dict[str, int] = {}
    for spec in feeds:
        uri = share_uri(root, spec.department, spec.table)
        for month in months:
            versions[spec.name] = publish_month(
                spec,
                month,
                uri,
                scale=scale,
                seed=seed,
                key=key,
                storage_options=storage_options,
                skills=skills,
            )
    return versions


def republish_month(
    root: str,
    spec: FeedSpec,
    month: str,
    *,
    scale: float,
    seed: int,
    key: LinkageKey,
    revision: int,
    storage_options: dict[str, str] | None = None,
    skills: SkillsProgramme | None = None,
) -> int:
    """A department's correction of one month: revision ≥ 1 changes a few percent of rows.
    Returns the new Delta version. ``skills`` defaults to the programme the share's
    commits record (else the default), so a correction changes only what it corrects."""
    if revision < 1:
        raise ValueError(f"A correction has revision >= 1, not {revision}")
    uri = share_uri(root, spec.department, spec.table)
    if skills is None:
        skills = published_programme(uri, storage_options)
    return publish_month(
        spec,
        month,
        uri,
        scale=scale,
        seed=seed,
        key=key,
        revision=revision,
        storage_options=storage_options,
        skills=skills,
    )


def published_programme(uri: str, storage_options: dict[str, str] | None = None) -> SkillsProgramme:
    """The skills programme the share's latest commit recording one was simulated with
    (the default for shares published before it was recorded)."""
    options = storage_options if storage_options is not None else storage_options_for(uri)
    for commit in DeltaTable(uri, storage_options=options).history():
        if commit.get(EFFECT_KEY) is not None:
            return SkillsProgramme(
                effect=float(commit[EFFECT_KEY]),
                uptake=float(commit.get(UPTAKE_KEY, DEFAULT_PROGRAMME.uptake)),
            )
    return DEFAULT_PROGRAMME
