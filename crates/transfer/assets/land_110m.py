"""Writes land_110m.txt, the coastline `wyvern report` draws, from world-atlas's land-110m.json.

world-atlas 2.0.2 (npm, ISC) redistributes Natural Earth 4.1.0's 1:110m land (public domain) as
TopoJSON. Each output line is one ring of a land polygon: `lon,lat` pairs in hundredths of a
degree, separated by spaces (holes included; the report fills with the even-odd rule).

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 land_110m.py package/land-110m.json > land_110m.txt
"""

import json
import sys


def main(path: str) -> None:
    topology = json.load(open(path))
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes):
        points = []
        for index in indexes:
            arc = arcs[index] if index >= 0 else arcs[~index][::-1]
            points.extend(arc[1:] if points else arc)
        return points

    for geometry in topology["objects"]["land"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for indexes in polygon:
                out, last = [], None
                for lon, lat in ring(indexes):
                    point = (round(lon * 100), round(lat * 100))
                    if point != last:
                        out.append(f"{point[0]},{point[1]}")
                    last = point
                if len(out) >= 4:
                    print(" ".join(out))


main(sys.argv[1])
