"""Pictures of the month's insight (hex-tile map, regions, sectors), drawn from published
(disclosure-controlled) tables only: drawn by `defs/insight.py`
(`published/insight_report`) and `bench --report`."""
