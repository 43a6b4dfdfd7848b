//! The report's map: every footprint over the land (Natural Earth's 1:110m coastline, embedded:
//! `assets/land_110m.txt`) and a graticule, in an equirectangular view of their extent, with a
//! small map of the whole Earth that shows where that extent is. Numbered markers name the
//! footprints; markers that would overlap are moved apart, with a line back to their footprint.

use std::fmt::Write as _;

use wyvern_unpack::Item;
use wyvern_unpack::document::on_earth;

use super::escape;

/// The land, a ring a line: `lon,lat` pairs in hundredths of a degree (see
/// `assets/land_110m.py`).
const LAND: &str = include_str!("../../assets/land_110m.txt");
const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
/// The whole Earth's map: this wide (and half as high).
const OVERVIEW: f64 = 240.0;
/// The most vertices of one deliverable's footprint drawn on the map.
const POINTS: usize = 256;
/// The smallest extent shown, in degrees (so that a small footprint has land around it).
const MIN_SPAN: f64 = 1.0;
/// Markers closer than this (pixels) are moved apart.
const MARKER_GAP: f64 = 18.0;

/// A footprint's outer rings, as longitude, latitude.
pub(super) type Rings = Vec<Vec<[f64; 2]>>;

/// The footprint's outer rings (polygons and multipolygons, at most [`POINTS`] vertices in all,
/// on Earth), else its bbox.
pub(super) fn rings(item: &Item) -> Rings {
    let found: Rings = item
        .document
        .geometry
        .as_ref()
        .map(|footprint| footprint.outer_rings(POINTS))
        .unwrap_or_default()
        .into_iter()
        .map(|ring| ring.into_iter().filter(|&p| on_earth(p)).collect::<Vec<_>>())
        .filter(|ring| ring.len() >= 3)
        .collect();
    if !found.is_empty() {
        return found;
    }
    match item.bbox.as_deref() {
        Some(&[w, s, e, n]) if on_earth([w, s]) && on_earth([e, n]) => vec![vec![[w, s], [e, s], [e, n], [w, n]]],
        _ => Vec::new(),
    }
}

/// A footprint to draw: its number on the page, the anchor it links to, its rings.
pub(super) struct Footprint {
    pub number: usize,
    pub id: String,
    pub rings: Rings,
}

/// West, south, east, north, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Extent([f64; 4]);

impl Extent {
    fn of<'a>(points: impl Iterator<Item = &'a [f64; 2]>) -> Option<Self> {
        points.fold(None, |extent, &[x, y]| {
            let [w, s, e, n] = extent.map_or([x, y, x, y], |Extent(b)| b);
            Some(Extent([w.min(x), s.min(y), e.max(x), n.max(y)]))
        })
    }

    /// Padded by a tenth, at least [`MIN_SPAN`] across, within the Earth.
    fn padded(self) -> Self {
        let [w, s, e, n] = self.0;
        let span = ((e - w).max(n - s) * 1.2).max(MIN_SPAN);
        let (x, y) = ((w + e) / 2.0, (s + n) / 2.0);
        let half = span / 2.0;
        Extent([(x - half).max(-180.0), (y - half).max(-90.0), (x + half).min(180.0), (y + half).min(90.0)])
    }

    fn meets(self, other: Extent) -> bool {
        let ([w, s, e, n], [ow, os, oe, on]) = (self.0, other.0);
        w <= oe && ow <= e && s <= on && os <= n
    }
}

/// An equirectangular projection of an extent onto a `width` x `height` box at most.
struct Projection {
    west: f64,
    north: f64,
    squeeze: f64,
    scale: f64,
    width: f64,
    height: f64,
}

impl Projection {
    fn new(Extent([w, s, e, n]): Extent, width: f64, height: f64) -> Self {
        let squeeze = ((s + n) / 2.0).to_radians().cos().max(0.05);
        let scale = (width / ((e - w) * squeeze)).min(height / (n - s));
        Self { west: w, north: n, squeeze, scale, width: (e - w) * squeeze * scale, height: (n - s) * scale }
    }

    fn point(&self, [x, y]: [f64; 2]) -> (f64, f64) {
        ((x - self.west) * self.squeeze * self.scale, (self.north - y) * self.scale)
    }

    /// An SVG path of closed rings.
    fn path<'a>(&self, rings: impl Iterator<Item = &'a [[f64; 2]]>) -> String {
        let mut d = String::new();
        for ring in rings {
            for (i, &point) in ring.iter().enumerate() {
                let (x, y) = self.point(point);
                let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
        d
    }
}

/// The land's rings, each with its extent.
fn land() -> impl Iterator<Item = (Extent, Vec<[f64; 2]>)> {
    LAND.lines().filter_map(|line| {
        let ring: Vec<[f64; 2]> = line
            .split(' ')
            .filter_map(|pair| {
                let (x, y) = pair.split_once(',')?;
                Some([x.parse::<f64>().ok()? / 100.0, y.parse::<f64>().ok()? / 100.0])
            })
            .collect();
        Some((Extent::of(ring.iter())?, ring))
    })
}

/// A longitude as people write it: `62.4350° W`.
fn longitude(x: f64, decimals: usize) -> String {
    degrees(x, decimals, ["W", "E"])
}

/// A latitude as people write it: `17.8450° S`.
fn latitude(y: f64, decimals: usize) -> String {
    degrees(y, decimals, ["S", "N"])
}

/// An angle with its side (`sides`: the negative one, the positive one) instead of a sign.
fn degrees(value: f64, decimals: usize, [negative, positive]: [&str; 2]) -> String {
    let side = if value < 0.0 {
        negative
    } else if value > 0.0 {
        positive
    } else {
        ""
    };
    format!("{:.decimals$}° {side}", value.abs()).trim_end().to_owned()
}

/// The graticule's step for a span: three to eight lines across.
fn graticule_step(span: f64) -> f64 {
    const STEPS: [f64; 13] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0];
    STEPS.into_iter().find(|step| span / step <= 8.0).unwrap_or(30.0)
}

/// Where each footprint's marker goes: at its centroid, unless another marker is there already;
/// then on the nearest free spot of a widening circle around it, within the `width` x `height`
/// map.
fn markers(anchors: &[(f64, f64)], width: f64, height: f64) -> Vec<(f64, f64)> {
    let mut placed: Vec<(f64, f64)> = Vec::with_capacity(anchors.len());
    for &(x, y) in anchors {
        let on_map = |(px, py): (f64, f64)| (0.0..=width).contains(&px) && (0.0..=height).contains(&py);
        let free = |(px, py): (f64, f64)| {
            on_map((px, py)) && placed.iter().all(|&(qx, qy)| (px - qx).hypot(py - qy) >= MARKER_GAP)
        };
        let spot = (0..)
            .take(40)
            .flat_map(|ring| {
                let radius = f64::from(ring) * MARKER_GAP;
                let around = if ring == 0 { 1 } else { 8 * ring };
                (0..around).map(move |k| {
                    let angle = std::f64::consts::TAU * f64::from(k) / f64::from(around) - std::f64::consts::FRAC_PI_2;
                    (x + radius * angle.cos(), y + radius * angle.sin())
                })
            })
            .find(|&spot| free(spot))
            .unwrap_or((x, y));
        placed.push(spot);
    }
    placed
}

/// The map section: the footprints' map and the whole Earth's.
pub(super) fn section(footprints: &[Footprint]) -> String {
    let Some(extent) = Extent::of(footprints.iter().flat_map(|f| f.rings.iter().flatten())) else {
        return "<section class=\"map\"><h2>Footprints</h2><p>No deliverable has a footprint.</p></section>\n"
            .to_owned();
    };
    let shown = extent.padded();
    let view = Projection::new(shown, WIDTH, HEIGHT);
    let (width, height) = (view.width, view.height);
    let mut svg = format!(
        "<section class=\"map\"><h2>Footprints</h2>\n<div class=\"maps\"><svg xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {width:.1} {height:.1}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" \
         aria-label=\"footprints of {}\">\n<rect width=\"100%\" height=\"100%\" fill=\"#dcE8f2\"/>\n",
        wyvern_core::counted(footprints.len() as u64, "deliverable", "deliverables")
    );
    let near: Vec<Vec<[f64; 2]>> = land().filter(|(ring, _)| ring.meets(shown)).map(|(_, ring)| ring).collect();
    let _ = writeln!(
        svg,
        "<path class=\"land\" d=\"{}\" fill=\"#f3efe2\" stroke=\"#a59f8c\" stroke-width=\"0.8\" fill-rule=\"evenodd\"/>",
        view.path(near.iter().map(Vec::as_slice))
    );
    svg.push_str(&graticule(&view, shown));
    for footprint in footprints {
        let hue = (footprint.number * 67) % 360;
        let _ = writeln!(
            svg,
            "<a href=\"#d-{id}\"><title>{n}. {id}</title><path d=\"{d}\" fill=\"hsl({hue},70%,50%)\" \
             fill-opacity=\"0.3\" stroke=\"hsl({hue},70%,35%)\" stroke-width=\"1.5\" fill-rule=\"evenodd\"/></a>",
            id = escape(&footprint.id),
            n = footprint.number,
            d = view.path(footprint.rings.iter().map(Vec::as_slice)),
        );
    }
    let anchors: Vec<(f64, f64)> = footprints
        .iter()
        .map(|footprint| {
            let ring = &footprint.rings[0];
            let n = ring.len() as f64;
            view.point([ring.iter().map(|p| p[0]).sum::<f64>() / n, ring.iter().map(|p| p[1]).sum::<f64>() / n])
        })
        .collect();
    for ((footprint, &(ax, ay)), (x, y)) in footprints.iter().zip(&anchors).zip(markers(&anchors, width, height)) {
        if (x - ax).hypot(y - ay) > 1.0 {
            let _ = write!(svg, "<line x1=\"{ax:.1}\" y1=\"{ay:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\" stroke=\"#1d2430\"/>");
        }
        let _ = writeln!(
            svg,
            "<a href=\"#d-{id}\"><circle class=\"marker\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"8\" fill=\"#fff\" \
             stroke=\"#1d2430\"/><text x=\"{x:.1}\" y=\"{y:.1}\" dy=\"4\" font-size=\"11\" \
             text-anchor=\"middle\">{n}</text></a>",
            id = escape(&footprint.id),
            n = footprint.number
        );
    }
    svg.push_str("</svg>\n");
    svg.push_str(&overview(shown));
    let Extent([w, s, e, n]) = extent;
    let _ = write!(
        svg,
        "</div>\n<p>{} to {}, {} to {}</p></section>\n",
        longitude(w, 4),
        longitude(e, 4),
        latitude(s, 4),
        latitude(n, 4)
    );
    svg
}

/// Lines of equal longitude and latitude across a view, labelled at its edges.
fn graticule(view: &Projection, Extent([w, s, e, n]): Extent) -> String {
    let step = graticule_step((e - w).max(n - s));
    // As many decimals as the step has (0.25 needs two).
    let decimals = (0..3).find(|&d| (step * 10f64.powi(d)).fract().abs() < 1e-9).unwrap_or(2) as usize;
    let mut lines = String::from(
        "<g class=\"graticule\" stroke=\"#7d8ea3\" stroke-width=\"0.5\" stroke-dasharray=\"3 3\" font-size=\"10\" fill=\"#4a5a6d\">",
    );
    let multiples =
        |from: f64, to: f64| ((from / step).ceil() as i64..=(to / step).floor() as i64).map(move |k| k as f64 * step);
    let mut line = |(x1, y1): (f64, f64), (x2, y2): (f64, f64), (tx, ty): (f64, f64), label: String| {
        let _ = write!(
            lines,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\"/><text x=\"{tx:.1}\" y=\"{ty:.1}\" \
             stroke=\"none\">{label}</text>"
        );
    };
    for lon in multiples(w, e) {
        let (x, _) = view.point([lon, n]);
        line((x, 0.0), (x, view.height), (x + 2.0, view.height - 4.0), longitude(lon, decimals));
    }
    for lat in multiples(s, n) {
        let (_, y) = view.point([w, lat]);
        line((0.0, y), (view.width, y), (2.0, y - 2.0), latitude(lat, decimals));
    }
    lines.push_str("</g>\n");
    lines
}

/// The whole Earth, small, with the extent of the main map marked.
fn overview(shown: Extent) -> String {
    let earth = Projection {
        west: -180.0,
        north: 90.0,
        squeeze: 1.0,
        scale: OVERVIEW / 360.0,
        width: OVERVIEW,
        height: OVERVIEW / 2.0,
    };
    let rings: Vec<Vec<[f64; 2]>> = land().map(|(_, ring)| ring).collect();
    let Extent([w, s, e, n]) = shown;
    let ((x0, y0), (x1, y1)) = (earth.point([w, n]), earth.point([e, s]));
    // At least a few pixels, so that a small extent still shows.
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (half_w, half_h) = (((x1 - x0) / 2.0).max(3.0), ((y1 - y0) / 2.0).max(3.0));
    format!(
        "<svg class=\"overview\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {ow:.0} {oh:.0}\" width=\"{ow:.0}\" \
         height=\"{oh:.0}\" role=\"img\" aria-label=\"where on Earth\"><rect width=\"100%\" height=\"100%\" \
         fill=\"#dce8f2\"/><path d=\"{d}\" fill=\"#f3efe2\" stroke=\"#a59f8c\" stroke-width=\"0.4\" \
         fill-rule=\"evenodd\"/><rect class=\"extent\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
         fill=\"none\" stroke=\"#b3261e\" stroke-width=\"1.5\"/></svg>\n",
        cx - half_w,
        cy - half_h,
        2.0 * half_w,
        2.0 * half_h,
        ow = earth.width,
        oh = earth.height,
        d = earth.path(rings.iter().map(Vec::as_slice)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_say_their_hemisphere() {
        assert_eq!(longitude(-62.435, 4), "62.4350° W");
        assert_eq!(latitude(-17.845, 4), "17.8450° S");
        assert_eq!(longitude(10.5, 1), "10.5° E");
        assert_eq!(latitude(0.0, 0), "0°");
    }

    #[test]
    fn the_land_is_the_earth_s() {
        let rings: Vec<_> = land().collect();
        assert!(rings.len() > 100, "{}", rings.len());
        let all = Extent::of(rings.iter().flat_map(|(_, ring)| ring)).expect("land");
        assert!(all.0[0] <= -179.0 && all.0[2] >= 179.0 && all.0[1] < -80.0 && all.0[3] > 80.0, "{all:?}");
        // Trinidad's neighbour, Venezuela's coast, is land near 62.5° W, 10.5° N.
        let venezuela = Extent([-63.0, 10.0, -62.0, 11.0]);
        assert!(rings.iter().any(|(extent, _)| extent.meets(venezuela)));
    }

    #[test]
    fn markers_that_would_overlap_are_moved_apart() {
        let placed = markers(&[(100.0, 100.0), (101.0, 100.0), (100.0, 102.0), (300.0, 300.0)], 800.0, 480.0);
        assert_eq!(placed[0], (100.0, 100.0));
        assert_eq!(placed[3], (300.0, 300.0), "a marker with room stays on its footprint");
        for (i, a) in placed.iter().enumerate() {
            for b in &placed[i + 1..] {
                assert!((a.0 - b.0).hypot(a.1 - b.1) >= MARKER_GAP - 1e-9, "{placed:?}");
            }
        }
    }

    #[test]
    fn markers_stay_on_the_map() {
        let corner = vec![(1.0, 1.0); 30];
        for (x, y) in markers(&corner, 400.0, 300.0) {
            assert!((0.0..=400.0).contains(&x) && (0.0..=300.0).contains(&y), "({x}, {y}) is off the map");
        }
    }

    #[test]
    fn the_graticule_has_a_few_lines_across() {
        assert_eq!(graticule_step(1.0), 0.2);
        assert_eq!(graticule_step(0.05), 0.01);
        assert_eq!(graticule_step(40.0), 5.0);
        assert_eq!(graticule_step(360.0), 30.0);
    }
}
