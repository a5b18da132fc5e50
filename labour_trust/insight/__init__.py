"""Pictures of the month's insight (hex-tile map, regions, sectors), drawn from published
(disclosure-controlled) tables only: `published/insight_report` and `bench --report`."""
