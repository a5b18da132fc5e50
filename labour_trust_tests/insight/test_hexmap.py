"""The LAD tile map: every LAD once, no shared tiles, each region in one piece."""

from __future__ import annotations

from labour_trust.insight.hexmap import NEIGHBOURS, REGION_ANCHORS, lad_tiles
from labour_trust.reference.geography import lads


def test_every_lad_has_its_own_tile():
    tiles = lad_tiles()
    assert sorted(tiles) == sorted(lad.code for lad in lads())
    assert len(set(tiles.values())) == len(tiles) == 361


def test_each_region_is_one_connected_cluster():
    tiles = lad_tiles()
    for region in REGION_ANCHORS:
        own = {tiles[lad.code] for lad in lads() if lad.itl1_code == region}
        start = next(iter(own))
        seen, todo = {start}, [start]
        while todo:
            q, r = todo.pop()
            for dq, dr in NEIGHBOURS:
                tile = (q + dq, r + dr)
                if tile in own and tile not in seen:
                    seen.add(tile)
                    todo.append(tile)
        assert seen == own, region
