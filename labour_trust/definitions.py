"""The Dagster code location: feeds, trust datasets, published tables, sensors, resources."""

import dagster as dg

from labour_trust.feeds.departments import FEEDS
from labour_trust.feeds.factory import build_feed_assets
from labour_trust.resources import build_resources, trust_home

defs = dg.Definitions(
    assets=build_feed_assets(FEEDS),
    resources=build_resources(trust_home()),
)
