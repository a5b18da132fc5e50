"""The Dagster code location: feeds, trust datasets, published tables, sensors, resources."""

from pathlib import Path

import dagster as dg

from labour_trust.feeds.departments import FEEDS
from labour_trust.feeds.factory import build_feed_assets, build_feed_checks, build_feed_sensors
from labour_trust.publishing.factory import build_published_assets
from labour_trust.resources import build_resources, trust_home
from labour_trust.trust.datasets import TRUST_DATASETS
from labour_trust.trust.factory import build_trust_assets


def build_definitions(home: Path) -> dg.Definitions:
    resources = build_resources(home)
    return dg.Definitions(
        assets=[
            *build_feed_assets(FEEDS),
            *build_trust_assets(TRUST_DATASETS),
            *build_published_assets(resources["publications"]),
        ],
        asset_checks=build_feed_checks(FEEDS),
        sensors=[
            *build_feed_sensors(FEEDS, resources["shares"]),
            # Look-ahead datasets (m-3, m-6 of a changed month) and freshness checks follow
            # by declarative automation.
            dg.AutomationConditionSensorDefinition(
                "trust_automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
            ),
        ],
        resources=resources,
    )


defs = build_definitions(trust_home())
