"""A hex-tile layout of the 361 LADs: a region-anchored tile map, not a geographic one.

No boundary file ships with the trust, so LADs are drawn as equal hexes (a common UK
convention for LAD maps). Each ITL1 region has a hand-set anchor roughly where it lies
(Scotland at the top, Northern Ireland to the west, London in the south-east with the
South East around it); its LADs are packed, in code order, into a compact cluster grown
from the anchor over free tiles. A LAD's tile says which region it is in and roughly where
that region is, never where in the region the LAD lies.

Tiles are pointy-top hexes in axial coordinates ``(q, r)``; ``centre`` gives the drawing
position (unit circumradius).
"""

from __future__ import annotations

import math
from functools import cache

from labour_trust.reference.geography import lads

Tile = tuple[int, int]
SQRT3 = math.sqrt(3)
# The six neighbours of an axial tile.
NEIGHBOURS: tuple[Tile, ...] = ((1, 0), (1, -1), (0, -1), (-1, 0), (-1, 1), (0, 1))
# (x, y) anchors in drawing units, in packing order: London before the South East, so the
# South East grows around it; the big regions of England before the nations at the edges.
REGION_ANCHORS: dict[str, tuple[float, float]] = {
    "TLI": (19.0, -2.0),  # London
    "TLJ": (18.0, -5.0),  # South East
    "TLH": (25.0, 6.0),  # East
    "TLK": (5.5, -6.0),  # South West
    "TLG": (9.0, 6.5),  # West Midlands
    "TLF": (16.5, 9.5),  # East Midlands
    "TLL": (1.0, 6.0),  # Wales
    "TLD": (7.5, 17.5),  # North West
    "TLE": (15.0, 18.0),  # Yorkshire and The Humber
    "TLC": (12.5, 24.0),  # North East
    "TLM": (8.5, 29.0),  # Scotland
    "TLN": (-3.0, 24.0),  # Northern Ireland
}


def centre(tile: Tile) -> tuple[float, float]:
    """Drawing position of a pointy-top hex of circumradius 1."""
    q, r = tile
    return SQRT3 * (q + r / 2), 1.5 * r


def nearest_tile(x: float, y: float) -> Tile:
    """The tile whose centre is nearest (x, y)."""
    r0 = round(y / 1.5)
    q0 = round(x / SQRT3 - r0 / 2)
    candidates = [(q0 + dq, r0 + dr) for dq in (-1, 0, 1) for dr in (-1, 0, 1)]
    return min(candidates, key=lambda t: (_distance(t, (x, y)), t))


def _distance(tile: Tile, point: tuple[float, float]) -> float:
    x, y = centre(tile)
    return math.hypot(x - point[0], y - point[1])


def grow_cluster(anchor: tuple[float, float], size: int, taken: set[Tile]) -> list[Tile]:
    """`size` free tiles grown outward from the anchor, each the free neighbour of the
    cluster nearest the anchor (ties by tile), so a region stays in one piece."""
    start = _nearest_free(anchor, taken)
    cluster = [start]
    frontier = _free_neighbours(start, taken, cluster)
    while len(cluster) < size:
        if not frontier:  # walled in by earlier regions: continue at the nearest free tile
            frontier = {_nearest_free(anchor, taken | set(cluster))}
        tile = min(frontier, key=lambda t: (_distance(t, anchor), t))
        frontier.discard(tile)
        cluster.append(tile)
        frontier |= _free_neighbours(tile, taken, cluster)
    return cluster


def _nearest_free(anchor: tuple[float, float], taken: set[Tile]) -> Tile:
    """A free tile nearest the anchor (an earlier region may cover the anchor itself): the
    nearest in the smallest square of tiles around it that has one."""
    q0, r0 = nearest_tile(*anchor)
    radius = 0
    while True:
        free = [
            (q0 + dq, r0 + dr)
            for dq in range(-radius, radius + 1)
            for dr in range(-radius, radius + 1)
            if (q0 + dq, r0 + dr) not in taken
        ]
        if free:
            return min(free, key=lambda t: (_distance(t, anchor), t))
        radius += 1


def _free_neighbours(tile: Tile, taken: set[Tile], cluster: list[Tile]) -> set[Tile]:
    around = {(tile[0] + dq, tile[1] + dr) for dq, dr in NEIGHBOURS}
    return {t for t in around if t not in taken and t not in cluster}


@cache
def lad_tiles() -> dict[str, Tile]:
    """LAD code → tile, every LAD of the reference lookup exactly once."""
    by_region: dict[str, list[str]] = {}
    for lad in lads():
        by_region.setdefault(lad.itl1_code, []).append(lad.code)
    unknown = set(by_region) - set(REGION_ANCHORS)
    if unknown:
        raise ValueError(f"no hex-map anchor for region(s) {sorted(unknown)}")
    taken: set[Tile] = set()
    out: dict[str, Tile] = {}
    for region, anchor in REGION_ANCHORS.items():
        codes = sorted(by_region.get(region, []))
        cluster = grow_cluster(anchor, len(codes), taken)
        taken |= set(cluster)
        out.update(zip(codes, cluster, strict=True))
    return out


def region_of_tile() -> dict[Tile, str]:
    """Tile → ITL1 code, for drawing region borders."""
    region = {lad.code: lad.itl1_code for lad in lads()}
    return {tile: region[code] for code, tile in lad_tiles().items()}


__all__ = ["NEIGHBOURS", "REGION_ANCHORS", "Tile", "centre", "lad_tiles", "region_of_tile"]
