"""The Dagster objects of the trust, one module per concern; `labour_trust.definitions`
assembles them. The domain libraries they use (feeds, shares, trust, disclosure,
governance, synthetic) live outside `defs/` and need no Dagster."""
