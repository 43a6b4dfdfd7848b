//! Footprints: GeoJSON geometries thinned out as they are read, with the extent of every
//! vertex kept exactly.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::*;

/// A footprint as read: its kind, what was kept of its coordinates, and the extent of every
/// vertex read.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    /// `Point`, `MultiPoint`, `LineString`, `MultiLineString`, `Polygon` or `MultiPolygon`.
    pub kind: &'static str,
    /// The coordinates kept, nested as the kind says.
    pub coordinates: Coordinates,
    /// West, south, east, north of every vertex read (kept or not).
    pub extent: [f64; 4],
    /// How many vertices were read.
    pub vertices: u64,
}

/// Coordinates nested as GeoJSON nests them, longitude and latitude only.
#[derive(Debug, Clone, PartialEq)]
pub enum Coordinates {
    /// A position.
    Position([f64; 2]),
    /// A line, a ring or points.
    Line(Vec<[f64; 2]>),
    /// Lines, rings, polygons...
    Parts(Vec<Coordinates>),
}

impl Coordinates {
    /// The depth of nesting: 0 for a position, 1 for a line, 2 for rings...
    fn depth(&self) -> Option<usize> {
        match self {
            Self::Position(_) => Some(0),
            Self::Line(_) => Some(1),
            Self::Parts(parts) => {
                let mut depths = parts.iter().map(Self::depth);
                let first = depths.next().unwrap_or(Some(1))?;
                depths.all(|d| d == Some(first)).then_some(first + 1)
            }
        }
    }

    /// As GeoJSON.
    pub fn to_value(&self) -> Value {
        let position = |p: &[f64; 2]| Value::from(vec![p[0], p[1]]);
        match self {
            Self::Position(p) => position(p),
            Self::Line(line) => Value::Array(line.iter().map(position).collect()),
            Self::Parts(parts) => Value::Array(parts.iter().map(Self::to_value).collect()),
        }
    }

    /// Every line (ring) kept, outer rings of polygons and holes alike.
    pub fn lines(&self) -> Vec<&[[f64; 2]]> {
        match self {
            Self::Position(p) => vec![std::slice::from_ref(p)],
            Self::Line(line) => vec![line],
            Self::Parts(parts) => parts.iter().flat_map(Self::lines).collect(),
        }
    }
}

impl Footprint {
    /// As a GeoJSON geometry.
    pub fn to_value(&self) -> Value {
        serde_json::json!({ "type": self.kind, "coordinates": self.coordinates.to_value() })
    }

    /// The outer rings of its polygons (for a map), each thinned to at most `points` vertices
    /// in all.
    pub fn outer_rings(&self, points: usize) -> Vec<Vec<[f64; 2]>> {
        let rings: Vec<&[[f64; 2]]> = match (&self.coordinates, self.kind) {
            (Coordinates::Parts(rings), "Polygon") => rings.iter().take(1).flat_map(Coordinates::lines).collect(),
            (Coordinates::Parts(polygons), "MultiPolygon") => polygons
                .iter()
                .filter_map(|polygon| match polygon {
                    Coordinates::Parts(rings) => rings.first().map(Coordinates::lines),
                    _ => None,
                })
                .flatten()
                .collect(),
            _ => Vec::new(),
        };
        let each = (points / rings.len().max(1)).max(4);
        rings.into_iter().filter(|ring| ring.len() >= 3).map(|ring| thin(ring, each)).collect()
    }
}

/// At most `most` of `line`'s vertices, evenly spaced, the first and the last kept.
fn thin(line: &[[f64; 2]], most: usize) -> Vec<[f64; 2]> {
    if line.len() <= most {
        return line.to_vec();
    }
    let step = line.len().div_ceil(most.saturating_sub(1).max(1));
    let mut out: Vec<[f64; 2]> = line.iter().step_by(step).copied().collect();
    if let Some(&last) = line.last()
        && out.last() != Some(&last)
    {
        out.push(last);
    }
    out
}

/// A GeoJSON geometry, thinned out as it is read.
pub(super) struct GeometrySeed;

seed!(GeometrySeed => Option<Footprint>, "a GeoJSON geometry");

impl<'de> Visitor<'de> for GeometrySeed {
    type Value = Option<Footprint>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!(None; bool, numbers, str, unit, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let shape = Shape::new();
        let (mut kind, mut coordinates) = (None, None);
        while let Some(key) = map.next_key_seed(Text(MAX_TEXT, None))? {
            match key.as_deref() {
                Some("type") => kind = map.next_value_seed(Text(MAX_TEXT, None))?,
                Some("coordinates") => {
                    coordinates = match map.next_value_seed(ElementSeed(&shape))? {
                        Element::Array(Read::Kept(coordinates)) => Some(coordinates),
                        _ => None,
                    };
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let (kind, depth) = match kind.as_deref() {
            Some("Point") => ("Point", 0),
            Some("MultiPoint") => ("MultiPoint", 1),
            Some("LineString") => ("LineString", 1),
            Some("MultiLineString") => ("MultiLineString", 2),
            Some("Polygon") => ("Polygon", 2),
            Some("MultiPolygon") => ("MultiPolygon", 3),
            _ => return Ok(None),
        };
        let vertices = shape.vertices.get();
        Ok(coordinates.filter(|c| c.depth() == Some(depth) && vertices > 0).map(|coordinates| Footprint {
            kind,
            coordinates,
            extent: shape.extent.get(),
            vertices,
        }))
    }
}

/// What reading a geometry's coordinates has seen so far: the extent of the vertices on Earth,
/// their number, and the lines kept.
pub(super) struct Shape {
    extent: Cell<[f64; 4]>,
    vertices: Cell<u64>,
    lines: Cell<usize>,
}

impl Shape {
    pub(super) fn new() -> Self {
        let inf = f64::INFINITY;
        Self { extent: Cell::new([inf, inf, -inf, -inf]), vertices: Cell::new(0), lines: Cell::new(0) }
    }

    /// A position was read.
    fn saw(&self, p: [f64; 2]) {
        if on_earth(p) {
            let [w, s, e, n] = self.extent.get();
            self.extent.set([w.min(p[0]), s.min(p[1]), e.max(p[0]), n.max(p[1])]);
            self.vertices.set(self.vertices.get() + 1);
        }
    }
}

/// An array of coordinates, as read.
pub(super) enum Read {
    /// Kept (thinned out).
    Kept(Coordinates),
    /// Read for the extent, not kept (past [`FOOTPRINT_LINES`]): its depth.
    Skipped(usize),
    /// An empty array: of any depth, never kept.
    Empty,
    /// Not coordinates.
    Invalid,
}

impl Read {
    /// Its depth; `Some(None)` for an empty array (any depth), `None` when invalid.
    fn depth(&self) -> Option<Option<usize>> {
        match self {
            Self::Kept(coordinates) => coordinates.depth().map(Some),
            Self::Skipped(depth) => Some(Some(*depth)),
            Self::Empty => Some(None),
            Self::Invalid => None,
        }
    }
}

/// An element of a coordinates array.
pub(super) enum Element {
    Number(f64),
    Array(Read),
    Other,
}

pub(super) struct ElementSeed<'a>(pub(super) &'a Shape);

seed!(ElementSeed<'_> => Element, "coordinates");

impl<'de> Visitor<'de> for ElementSeed<'_> {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!(Element::Other; bool, str, unit, map);

    fn visit_i64<E>(self, v: i64) -> Result<Element, E> {
        Ok(Element::Number(v as f64))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Element, E> {
        Ok(Element::Number(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Element, E> {
        Ok(Element::Number(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
        read_array(self.0, seq).map(Element::Array)
    }
}

/// Reads an array of coordinates: a position, a line of positions (thinned out), or parts.
fn read_array<'de, A: SeqAccess<'de>>(shape: &Shape, mut seq: A) -> Result<Read, A::Error> {
    let mut next = || seq.next_element_seed(ElementSeed(shape));
    match next()? {
        None => Ok(Read::Empty),
        Some(Element::Number(x)) => {
            let y = match next()? {
                Some(Element::Number(y)) => Some(y),
                _ => None,
            };
            // Elevation, if any, is read and not kept.
            let mut numbers = y.is_some();
            while let Some(more) = next()? {
                numbers &= matches!(more, Element::Number(_));
            }
            Ok(match y {
                Some(y) if numbers => {
                    shape.saw([x, y]);
                    Read::Kept(Coordinates::Position([x, y]))
                }
                _ => Read::Invalid,
            })
        }
        Some(Element::Array(Read::Kept(Coordinates::Position(first)))) => {
            let keep = shape.lines.get() < FOOTPRINT_LINES;
            let (mut line, mut valid) = (Thinning::default(), true);
            let mut element = Some(Element::Array(Read::Kept(Coordinates::Position(first))));
            while let Some(read) = element {
                match read {
                    Element::Array(Read::Kept(Coordinates::Position(p))) if keep && on_earth(p) => line.push(p),
                    Element::Array(Read::Kept(Coordinates::Position(_))) => {}
                    _ => valid = false,
                }
                element = next()?;
            }
            if !valid {
                return Ok(Read::Invalid);
            }
            if !keep {
                return Ok(Read::Skipped(1));
            }
            shape.lines.set(shape.lines.get() + 1);
            Ok(Read::Kept(Coordinates::Line(line.finish())))
        }
        Some(Element::Array(first)) => {
            // The children's depth: the first that is not empty says it.
            let (mut depth, mut valid) = (None, true);
            let mut parts = Vec::new();
            let mut element = Some(Element::Array(first));
            while let Some(read) = element {
                match (read, depth) {
                    (Element::Array(read), _) if read.depth() == Some(None) => {}
                    (Element::Array(read), known) => match read.depth().flatten() {
                        Some(d) if known.is_none_or(|known| known == d) => {
                            depth = Some(d);
                            if let Read::Kept(coordinates) = read {
                                parts.push(coordinates);
                            }
                        }
                        _ => valid = false,
                    },
                    _ => valid = false,
                }
                element = next()?;
            }
            // Kept only around something kept: parts are bounded by the lines kept.
            Ok(match depth {
                _ if !valid => Read::Invalid,
                None => Read::Empty,
                Some(_) if !parts.is_empty() => Read::Kept(Coordinates::Parts(parts)),
                Some(depth) => Read::Skipped(depth + 1),
            })
        }
        Some(Element::Other) => {
            while next()?.is_some() {}
            Ok(Read::Invalid)
        }
    }
}

/// A line thinned out as it is read: every `stride`-th position kept, the stride doubling (and
/// every other position kept dropped) whenever twice [`LINE_VERTICES`] are kept; the last
/// position is kept too, so that rings stay closed.
#[derive(Default)]
struct Thinning {
    kept: Vec<[f64; 2]>,
    stride: usize,
    seen: usize,
    last: Option<[f64; 2]>,
}

impl Thinning {
    fn push(&mut self, p: [f64; 2]) {
        let stride = self.stride.max(1);
        if self.seen.is_multiple_of(stride) {
            self.kept.push(p);
            if self.kept.len() >= 2 * LINE_VERTICES {
                self.kept = self.kept.iter().step_by(2).copied().collect();
                self.stride = stride * 2;
            }
        }
        self.seen += 1;
        self.last = Some(p);
    }

    fn finish(mut self) -> Vec<[f64; 2]> {
        if let Some(last) = self.last
            && !(self.seen - 1).is_multiple_of(self.stride.max(1))
        {
            self.kept.push(last);
        }
        self.kept
    }
}
