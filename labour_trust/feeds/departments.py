"""The four department shares. Adding a department is adding a FeedSpec here."""

from __future__ import annotations

import pyarrow as pa

from labour_trust.feeds import vocabulary as v
from labour_trust.feeds.spec import FeedSpec


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(n, t, nullable=nullable) for n, t, nullable in fields])


# Columns every share has, described once.
COMMON_COLUMNS = {
    "person_token": "Pseudonymised person identifier: keyed hash of the NINO under the "
    "trust's linkage key (never the NINO itself); links people across shares.",
    "key_version": "Which linkage key made the tokens; one key version per month across shares.",
    "month": "Reference month (YYYY-MM); the partition key.",
    "lad_code": "Local authority district of residence (ONS LAD 2023 code).",
}

TOKEN = ("person_token", pa.string(), False)
KEY_VERSION = ("key_version", pa.string(), False)
MONTH = ("month", pa.string(), False)
LAD = ("lad_code", pa.string(), False)

UC_CLAIMANTS = FeedSpec(
    department="dwp",
    table="uc_claimants",
    description=(
        "DWP Universal Credit claimants on the count date of each month: one row per person, "
        "with residence LAD, age band, sex, disability and conditionality regime."
    ),
    schema=_schema(
        TOKEN,
        KEY_VERSION,
        MONTH,
        LAD,
        ("age_band", pa.string(), False),
        ("sex", pa.string(), False),
        ("disability", pa.bool_(), False),
        ("conditionality_regime", pa.string(), False),
        ("duration_band", pa.string(), False),
    ),
    key_columns=("person_token",),
    owners=("team:dwp-data",),
    rows_per_month=6_000_000,
    token_columns=("person_token",),
    allowed_values={
        "age_band": v.AGE_BANDS,
        "sex": v.SEXES,
        "conditionality_regime": v.CONDITIONALITY_REGIMES,
        "duration_band": v.DURATION_BANDS,
    },
    publication_day=15,
    column_descriptions={
        **COMMON_COLUMNS,
        "age_band": "Age band on the count date.",
        "sex": "Sex as recorded by DWP.",
        "disability": "Whether the claimant has a recorded health condition or disability.",
        "conditionality_regime": "Universal Credit conditionality regime (e.g. searching).",
        "duration_band": "Time on Universal Credit so far, banded.",
    },
)

PAYE_RTI = FeedSpec(
    department="hmrc",
    table="paye_rti",
    description=(
        "HMRC PAYE Real Time Information: one row per employment per month, with the "
        "employee's residence LAD, the employer's SIC section, gross monthly pay and start date."
    ),
    schema=_schema(
        TOKEN,
        KEY_VERSION,
        ("employer_token", pa.string(), False),
        MONTH,
        LAD,
        ("sic_section", pa.string(), False),
        ("gross_pay_month", pa.float64(), False),
        ("start_date", pa.date32(), False),
    ),
    key_columns=("person_token", "employer_token"),
    owners=("team:hmrc-rti",),
    rows_per_month=30_000_000,
    token_columns=("person_token", "employer_token"),
    non_negative_columns=("gross_pay_month",),
    allowed_values={"sic_section": v.SIC_SECTIONS},
    publication_day=20,
    volume_tolerance=0.3,
    upper_bounds={"gross_pay_month": 1_000_000.0},  # £ a month: £12 M a year is no payslip
    magnitude_columns=("gross_pay_month",),
    column_descriptions={
        **COMMON_COLUMNS,
        "employer_token": "Pseudonymised employer (PAYE scheme) identifier.",
        "sic_section": "Employer's industry: SIC 2007 section letter.",
        "gross_pay_month": "Gross pay in the month, pounds (not pence).",
        "start_date": "Start date of the employment.",
    },
)

FE_LEARNERS = FeedSpec(
    department="dfe",
    table="fe_learners",
    description=(
        "DfE further education learner events (starts, achievements, withdrawals) in the month, "
        "by sector subject area, level and programme type."
    ),
    schema=_schema(
        TOKEN,
        KEY_VERSION,
        MONTH,
        LAD,
        ("ssa_tier1", pa.string(), False),
        ("level", pa.string(), False),
        ("programme", pa.string(), False),
        ("outcome", pa.string(), False),
    ),
    key_columns=("person_token", "ssa_tier1", "level", "programme", "outcome"),
    owners=("team:dfe-fe-data",),
    rows_per_month=200_000,
    token_columns=("person_token",),
    allowed_values={
        "ssa_tier1": v.SSA_TIER1,
        "level": v.FE_LEVELS,
        "programme": v.FE_PROGRAMMES,
        "outcome": v.FE_OUTCOMES,
    },
    publication_day=25,
    volume_tolerance=0.6,
    column_descriptions={
        **COMMON_COLUMNS,
        "ssa_tier1": "Sector subject area (tier 1) of the course.",
        "level": "Qualification level of the course.",
        "programme": "Programme type (e.g. adult skills, apprenticeship).",
        "outcome": "Learner event in the month: start, achievement or withdrawal.",
    },
)

BUSINESS_POPULATION = FeedSpec(
    department="beis",
    table="business_population",
    description=(
        "BEIS (DBT) business population: one row per active enterprise per month, with LAD, "
        "SIC section, size band, employment and annual turnover (£ thousand)."
    ),
    schema=_schema(
        ("enterprise_token", pa.string(), False),
        KEY_VERSION,
        MONTH,
        LAD,
        ("sic_section", pa.string(), False),
        ("size_band", pa.string(), False),
        ("employment", pa.int64(), False),
        ("turnover", pa.int64(), False),
    ),
    key_columns=("enterprise_token",),
    owners=("team:dbt-business-stats",),
    rows_per_month=2_700_000,
    token_columns=("enterprise_token",),
    non_negative_columns=("employment", "turnover"),
    allowed_values={"sic_section": v.SIC_SECTIONS, "size_band": v.SIZE_BANDS},
    publication_day=10,
    volume_tolerance=0.2,
    # The largest UK employers have under 1.5 M staff and turn over under £1 trillion.
    upper_bounds={"employment": 2_000_000, "turnover": 1_000_000_000},  # turnover in £k
    magnitude_columns=("employment", "turnover"),
    column_descriptions={
        **{k: v for k, v in COMMON_COLUMNS.items() if k != "person_token"},
        "lad_code": "Local authority district of the enterprise (ONS LAD 2023 code).",
        "enterprise_token": "Pseudonymised enterprise identifier.",
        "sic_section": "Industry: SIC 2007 section letter.",
        "size_band": "Employment size band of the enterprise.",
        "employment": "People employed by the enterprise (head count).",
        "turnover": "Annual turnover, £ thousand.",
    },
)

FEEDS: tuple[FeedSpec, ...] = (UC_CLAIMANTS, PAYE_RTI, FE_LEARNERS, BUSINESS_POPULATION)
FEEDS_BY_NAME: dict[str, FeedSpec] = {f.name: f for f in FEEDS}
