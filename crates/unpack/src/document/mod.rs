//! A JSON member of a zip (a STAC item or catalog) read into what the checks and the catalog
//! use, within bounds that do not depend on what the member claims.
//!
//! A STAC item is small, but nothing stops a zip from holding one of 15 MiB of footprint
//! vertices (it deflates to a hundred KiB): read whole into a `serde_json::Value`, that costs
//! hundreds of MiB. Here the member is read once, with `serde` visitors, into a [`Document`]:
//!
//! - the footprint's vertices are thinned out as they are read (evenly, at most
//!   [`LINE_VERTICES`] kept of a ring or line, [`FOOTPRINT_LINES`] lines kept of a geometry),
//!   while the extent of every vertex read is kept exactly;
//! - properties and assets are kept as JSON values only while a budget of nodes and bytes lasts
//!   (a value that would run past it is dropped whole, and named in [`Document::dropped`]);
//! - assets, links, extensions and text are bounded in number and length.
//!
//! Memory is then the member's bytes (up to [`crate::JSON_LIMIT`], read once) plus a bounded
//! document, whatever the member holds.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// At most this many vertices (times two, plus the last) are kept of one ring or line.
pub const LINE_VERTICES: usize = 256;
/// At most this many rings or lines are kept of one footprint.
pub const FOOTPRINT_LINES: usize = 16;
/// JSON values kept of an item's properties, and again of its assets and bands (each has a
/// budget of its own, so that one cannot exhaust the other's): nodes, and bytes of text.
const VALUE_NODES: usize = 200_000;
const VALUE_BYTES: usize = 4 << 20;
/// Assets kept of one item.
pub const MAX_ASSETS: usize = 256;
/// Item links kept of one catalog.
const MAX_LINKS: usize = 4096;
/// Extensions kept of one item.
const MAX_EXTENSIONS: usize = 64;
/// The longest text kept of a type, an id, an href or an extension.
const MAX_TEXT: usize = 4096;
/// What was dropped is named this many times, then counted.
const MAX_DROPPED: usize = 16;

/// A JSON member, as far as the checks and the catalog are concerned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// `type` (`Feature`, `Catalog`, `Collection`...).
    pub kind: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `stac_version`.
    pub stac_version: Option<String>,
    /// `stac_extensions`.
    pub stac_extensions: Vec<String>,
    /// `collection`.
    pub collection: Option<String>,
    /// `bbox`, when it is 4 or 6 finite numbers.
    pub bbox: Option<Vec<f64>>,
    /// `geometry`, thinned out.
    pub geometry: Option<Footprint>,
    /// `properties`, within the budget.
    pub properties: Map<String, Value>,
    /// `assets` (whether there was such a key, and the assets kept), within the budget.
    pub assets: Option<Vec<(String, Map<String, Value>)>>,
    /// A top-level `bands` array (STAC 1.1 allows bands there too).
    pub bands: Option<Value>,
    /// The `href`s of the `rel: "item"` links (for a catalog).
    pub item_links: Vec<String>,
    /// What was not kept: `properties.<key>`, `assets.<key>`, `assets` (past
    /// [`MAX_ASSETS`]), `geometry` (thinned out, or not a geometry this reader keeps).
    pub dropped: Vec<String>,
}

/// What the JSON values kept of a zip's documents may still cost, shared by every JSON member
/// of one zip (so that many members cannot each spend a budget): one for properties, one for
/// assets and bands.
#[derive(Debug)]
pub struct Budgets([Budget; 2]);

impl Default for Budgets {
    fn default() -> Self {
        Self([Budget::new(), Budget::new()])
    }
}

impl Document {
    /// Reads `json` (a whole JSON text) within the bounds of this module, with budgets of its own.
    pub fn read(json: &[u8]) -> Result<Self, serde_json::Error> {
        Self::read_within(json, &Budgets::default())
    }

    /// Reads `json` within the bounds of this module, spending `budgets` (those of its zip).
    pub fn read_within(json: &[u8], budgets: &Budgets) -> Result<Self, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let mut document = deserializer.deserialize_any(DocumentVisitor(&budgets.0))?;
        deserializer.end()?;
        if document.dropped.len() > MAX_DROPPED {
            let more = document.dropped.len() - MAX_DROPPED;
            document.dropped.truncate(MAX_DROPPED);
            document.dropped.push(format!("(and {more} more)"));
        }
        Ok(document)
    }

    /// Whether it is a STAC item (a GeoJSON Feature with assets).
    pub fn is_item(&self) -> bool {
        self.kind.as_deref() == Some("Feature") && self.assets.is_some()
    }

    /// Whether it is a STAC catalog or collection.
    pub fn is_catalog(&self) -> bool {
        matches!(self.kind.as_deref(), Some("Catalog" | "Collection"))
    }
}

/// `text` cut to at most `most` bytes (at a character's boundary), marked `…` when cut.
pub fn cut(text: &str, most: usize) -> String {
    if text.len() <= most {
        return text.to_owned();
    }
    let mut end = most;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Whether a position is on Earth: finite, longitude within ±180 and latitude within ±90.
pub fn on_earth([x, y]: [f64; 2]) -> bool {
    x.is_finite() && y.is_finite() && (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y)
}

/// Visitor methods for the JSON types a visitor does not expect: each gives `$default`, arrays
/// and objects read through without keeping anything. (A STAC document with a `null` where an
/// object belongs is still read, as the lenient readers users have read it.)
macro_rules! anything_else_is {
    ($default:expr; $($method:ident),*) => {
        $(anything_else_is!(@$method $default);)*
    };
    (@bool $default:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (@numbers $default:expr) => {
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($default)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($default)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (@str $default:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (@unit $default:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (@seq $default:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($default)
        }
    };
    (@map $default:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($default)
        }
    };
}

/// A seed that is its own visitor: `deserialize` hands the value to `deserialize_any`.
macro_rules! seed {
    ($type:ty => $value:ty, $expecting:literal) => {
        impl<'de> DeserializeSeed<'de> for $type {
            type Value = $value;

            fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<$value, D::Error> {
                deserializer.deserialize_any(self)
            }
        }

        impl $type {
            fn expecting(f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
        }
    };
}

mod geometry;

pub use geometry::{Coordinates, Footprint};
use geometry::{Element, ElementSeed, GeometrySeed, Shape};

/// What the values kept may still cost.
#[derive(Debug)]
struct Budget {
    nodes: Cell<usize>,
    bytes: Cell<usize>,
}

impl Budget {
    fn new() -> Self {
        Self { nodes: Cell::new(VALUE_NODES), bytes: Cell::new(VALUE_BYTES) }
    }

    /// Keeps one value read with [`Kept`] when it fits; one that does not is dropped whole and
    /// what it had spent is given back.
    fn keep<E>(&self, read: impl FnOnce(&Self) -> Result<Option<Value>, E>) -> Result<Option<Value>, E> {
        let before = (self.nodes.get(), self.bytes.get());
        let value = read(self)?;
        if value.is_none() {
            self.nodes.set(before.0);
            self.bytes.set(before.1);
        }
        Ok(value)
    }

    /// Spends one node and `bytes`, when they are left.
    fn spend(&self, bytes: usize) -> bool {
        let (nodes, left) = (self.nodes.get(), self.bytes.get());
        if nodes == 0 || bytes > left {
            return false;
        }
        self.nodes.set(nodes - 1);
        self.bytes.set(left - bytes);
        true
    }
}

/// A JSON value kept while the budget lasts: `None` when it ran out during the value (the rest of
/// it is read without keeping anything).
struct Kept<'a>(&'a Budget);

seed!(Kept<'_> => Option<Value>, "a JSON value");

impl<'de> Visitor<'de> for Kept<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.0.spend(0).then_some(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.0.spend(0).then(|| Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.0.spend(0).then(|| Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.0.spend(0).then(|| Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.spend(v.len()).then(|| Value::String(v.to_owned())))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.0.spend(0).then_some(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = self.0.spend(0).then(Vec::new);
        while let Some(items) = kept.as_mut() {
            match seq.next_element_seed(Kept(self.0))? {
                None => return Ok(kept.map(Value::Array)),
                Some(Some(value)) => items.push(value),
                Some(None) => kept = None,
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = self.0.spend(0).then(Map::new);
        while let Some(entries) = kept.as_mut() {
            let Some(key) = map.next_key_seed(Text(usize::MAX, Some(self.0)))? else {
                return Ok(kept.map(Value::Object));
            };
            match (key, map.next_value_seed(Kept(self.0))?) {
                (Some(key), Some(value)) => {
                    entries.insert(key, value);
                }
                _ => kept = None,
            }
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// A string of at most `.0` bytes (charged to the budget, when there is one): `None` when it is
/// longer, or not a string.
struct Text<'a>(usize, Option<&'a Budget>);

seed!(Text<'_> => Option<String>, "a string");

impl<'de> Visitor<'de> for Text<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!(None; bool, numbers, unit, seq, map);

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        let affordable = self.1.is_none_or(|budget| budget.spend(v.len()));
        Ok((v.len() <= self.0 && affordable).then(|| v.to_owned()))
    }
}

/// The top level of a JSON member, with the budgets of its properties and of its assets.
struct DocumentVisitor<'a>(&'a [Budget; 2]);

impl<'de> Visitor<'de> for DocumentVisitor<'_> {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON document")
    }

    anything_else_is!(Document::default(); bool, numbers, str, unit, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let [properties, assets] = self.0;
        let mut document = Document::default();
        while let Some(key) = map.next_key_seed(Text(MAX_TEXT, None))? {
            match key.as_deref().unwrap_or_default() {
                "type" => document.kind = map.next_value_seed(Text(MAX_TEXT, None))?,
                "id" => document.id = map.next_value_seed(Text(MAX_TEXT, None))?,
                "stac_version" => document.stac_version = map.next_value_seed(Text(MAX_TEXT, None))?,
                "collection" => document.collection = map.next_value_seed(Text(MAX_TEXT, None))?,
                "stac_extensions" => document.stac_extensions = map.next_value_seed(Texts(MAX_EXTENSIONS))?,
                "bbox" => document.bbox = map.next_value_seed(Bbox)?,
                "geometry" => {
                    document.geometry = map.next_value_seed(GeometrySeed)?;
                    if let Some(footprint) = &document.geometry {
                        let kept: usize = footprint.coordinates.lines().iter().map(|line| line.len()).sum();
                        if footprint.vertices > kept as u64 {
                            document.dropped.push(format!("geometry ({kept} of {} vertices kept)", footprint.vertices));
                        }
                    }
                }
                "properties" => {
                    let entries = map.next_value_seed(EntriesSeed { budget: properties, most: usize::MAX })?;
                    document.dropped.extend(entries.dropped.iter().map(|key| format!("properties.{key}")));
                    if entries.beyond > 0 {
                        document.dropped.push(format!("properties ({} more)", entries.beyond));
                    }
                    document.properties = entries.kept.into_iter().collect();
                }
                "assets" => {
                    let entries = map.next_value_seed(EntriesSeed { budget: assets, most: MAX_ASSETS })?;
                    document.dropped.extend(entries.dropped.iter().map(|key| format!("assets.{key}")));
                    if entries.beyond > 0 {
                        document.dropped.push(format!(
                            "assets ({} more, past the first {MAX_ASSETS} or the budget)",
                            entries.beyond
                        ));
                    }
                    let assets = entries.kept.into_iter().filter_map(|(key, asset)| match asset {
                        Value::Object(asset) => Some((key, asset)),
                        _ => None,
                    });
                    document.assets = Some(assets.collect());
                }
                "bands" => document.bands = assets.keep(|budget| map.next_value_seed(Kept(budget)))?,
                "links" => document.item_links = map.next_value_seed(ItemLinks)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(document)
    }
}

/// The entries of a JSON object, each kept while the budget lasts, the first `most` of them.
struct EntriesSeed<'a> {
    budget: &'a Budget,
    most: usize,
}

/// What [`EntriesSeed`] read.
#[derive(Default)]
struct Entries {
    kept: Vec<(String, Value)>,
    /// Keys whose values did not fit the budget.
    dropped: Vec<String>,
    /// Entries past the first `most`, or dropped past the first [`MAX_DROPPED`].
    beyond: usize,
}

seed!(EntriesSeed<'_> => Entries, "a JSON object");

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!(Entries::default(); bool, numbers, str, unit, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let mut entries = Entries::default();
        while let Some(key) = map.next_key_seed(Text(MAX_TEXT, Some(self.budget)))? {
            if entries.kept.len() + entries.dropped.len() + entries.beyond >= self.most {
                map.next_value::<IgnoredAny>()?;
                entries.beyond += 1;
                continue;
            }
            match (key, self.budget.keep(|budget| map.next_value_seed(Kept(budget)))?) {
                (Some(key), Some(value)) => entries.kept.push((key, value)),
                (Some(key), None) => entries.dropped.push(key),
                (None, _) => entries.dropped.push("(a key past the budget)".to_owned()),
            }
            if entries.dropped.len() > MAX_DROPPED {
                entries.dropped.pop();
                entries.beyond += 1;
            }
        }
        Ok(entries)
    }
}

/// A list of strings of at most [`MAX_TEXT`] bytes, the first `.0` of them.
struct Texts(usize);

seed!(Texts => Vec<String>, "a list of strings");

impl<'de> Visitor<'de> for Texts {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!(Vec::new(); bool, numbers, str, unit, map);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut texts = Vec::new();
        while let Some(text) = seq.next_element_seed(Text(MAX_TEXT, None))? {
            if texts.len() < self.0 {
                texts.extend(text);
            }
        }
        Ok(texts)
    }
}

/// A bbox: 4 or 6 finite numbers, else `None`.
struct Bbox;

seed!(Bbox => Option<Vec<f64>>, "a bbox");

impl<'de> Visitor<'de> for Bbox {
    type Value = Option<Vec<f64>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!(None; bool, numbers, str, unit, map);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut numbers, mut valid) = (Vec::new(), true);
        while let Some(element) = seq.next_element_seed(ElementSeed(&Shape::new()))? {
            match element {
                Element::Number(n) if n.is_finite() && numbers.len() < 6 => numbers.push(n),
                _ => valid = false,
            }
        }
        Ok((valid && matches!(numbers.len(), 4 | 6)).then_some(numbers))
    }
}

/// The hrefs of a catalog's `rel: "item"` links, the first [`MAX_LINKS`].
struct ItemLinks;

seed!(ItemLinks => Vec<String>, "a list of links");

impl<'de> Visitor<'de> for ItemLinks {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!(Vec::new(); bool, numbers, str, unit, map);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut hrefs = Vec::new();
        while let Some(link) = seq.next_element_seed(LinkSeed)? {
            if let (Some(rel), Some(href)) = link
                && rel == "item"
                && hrefs.len() < MAX_LINKS
            {
                hrefs.push(href);
            }
        }
        Ok(hrefs)
    }
}

/// A link's `rel` and `href`.
struct LinkSeed;

seed!(LinkSeed => (Option<String>, Option<String>), "a link");

impl<'de> Visitor<'de> for LinkSeed {
    type Value = (Option<String>, Option<String>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting(f)
    }

    anything_else_is!((None, None); bool, numbers, str, unit, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut rel, mut href) = (None, None);
        while let Some(key) = map.next_key_seed(Text(MAX_TEXT, None))? {
            match key.as_deref() {
                Some("rel") => rel = map.next_value_seed(Text(MAX_TEXT, None))?,
                Some("href") => href = map.next_value_seed(Text(MAX_TEXT, None))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((rel, href))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(n: usize) -> Vec<[f64; 2]> {
        let mut ring: Vec<[f64; 2]> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                [10.0 + a.cos(), 20.0 + a.sin()]
            })
            .collect();
        ring.push(ring[0]);
        ring
    }

    #[test]
    fn a_footprint_of_many_vertices_is_thinned_and_its_extent_exact() {
        let vertices = ring(200_001);
        let item = serde_json::json!({
            "type": "Feature",
            "geometry": {"coordinates": [vertices], "type": "Polygon"},
            "assets": {},
        });
        let document = Document::read(&serde_json::to_vec(&item).expect("json")).expect("read");
        let footprint = document.geometry.expect("geometry");
        assert_eq!(footprint.vertices, 200_002);
        let lines = footprint.coordinates.lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].len() <= 2 * LINE_VERTICES + 1 && lines[0].len() > LINE_VERTICES / 2, "{}", lines[0].len());
        assert_eq!(lines[0].first(), lines[0].last(), "the ring stays closed");
        let [w, s, e, n] = footprint.extent;
        assert!(
            (w - 9.0).abs() < 1e-9 && (e - 11.0).abs() < 1e-9 && (s - 19.0).abs() < 1e-9 && (n - 21.0).abs() < 1e-9
        );
        assert!(document.dropped.iter().any(|d| d.starts_with("geometry")), "{:?}", document.dropped);
        assert!(footprint.outer_rings(64)[0].len() <= 65);
    }

    #[test]
    fn geometries_of_every_kind_keep_their_nesting() {
        for (kind, coordinates) in [
            ("Point", serde_json::json!([1, 2, 3])),
            ("MultiPoint", serde_json::json!([[1, 2], [3, 4]])),
            ("LineString", serde_json::json!([[1, 2], [3, 4]])),
            ("MultiLineString", serde_json::json!([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])),
            ("Polygon", serde_json::json!([[[0, 0], [1, 0], [1, 1], [0, 0]]])),
            (
                "MultiPolygon",
                serde_json::json!([[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[2, 2], [3, 2], [3, 3], [2, 2]]]]),
            ),
        ] {
            let geometry = serde_json::json!({"type": kind, "coordinates": coordinates});
            let text = serde_json::to_vec(&serde_json::json!({"geometry": geometry})).expect("json");
            let footprint = Document::read(&text).expect("read").geometry.expect(kind);
            let mut expected = geometry.clone();
            if kind == "Point" {
                expected["coordinates"] = serde_json::json!([1.0, 2.0]);
            }
            let as_floats = |v: &Value| serde_json::to_string(v).expect("json").replace(".0", "");
            assert_eq!(as_floats(&footprint.to_value()), as_floats(&expected), "{kind}");
        }
        for wrong in [
            serde_json::json!({"type": "Polygon", "coordinates": [[1, 2], [3, 4]]}),
            serde_json::json!({"type": "Point", "coordinates": [[1, 2]]}),
            serde_json::json!({"type": "Polygon", "coordinates": [[[1, "x"]]]}),
            serde_json::json!({"type": "GeometryCollection", "geometries": []}),
            serde_json::json!({"type": "Point", "coordinates": [1e308, 1e308]}),
        ] {
            let text = serde_json::to_vec(&serde_json::json!({"geometry": wrong})).expect("json");
            assert_eq!(Document::read(&text).expect("read").geometry, None, "{wrong}");
        }
    }

    #[test]
    fn empty_and_countless_parts_cost_nothing() {
        let empties = vec![serde_json::json!([[]]); 200_000];
        let polygons: Vec<Value> = (0..500)
            .map(|i| serde_json::json!([[[i % 170, 0], [i % 170, 1], [i % 170 + 1, 1], [i % 170, 0]]]))
            .collect();
        for (coordinates, polygons_kept) in
            [(Value::from(empties), None), (Value::from(polygons), Some(FOOTPRINT_LINES))]
        {
            let item = serde_json::json!({"geometry": {"type": "MultiPolygon", "coordinates": coordinates}});
            let geometry = Document::read(&serde_json::to_vec(&item).expect("json")).expect("read").geometry;
            match (geometry, polygons_kept) {
                (None, None) => {}
                (Some(footprint), Some(kept)) => {
                    let Coordinates::Parts(polygons) = &footprint.coordinates else { panic!("parts") };
                    assert_eq!(polygons.len(), kept);
                    assert_eq!(footprint.extent, [0.0, 0.0, 170.0, 1.0], "the extent of every polygon");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_value_dropped_gives_its_budget_back_and_drops_are_counted() {
        let mut properties = serde_json::Map::new();
        properties.insert("a-noise".into(), serde_json::json!(vec![0; VALUE_NODES + 1]));
        properties.insert("platform".into(), serde_json::json!("p"));
        for i in 0..100 {
            properties.insert(format!("z{i}"), serde_json::json!("x".repeat(VALUE_BYTES / 2 + 1)));
        }
        let item = serde_json::json!({"type": "Feature", "properties": properties, "assets": {}});
        let document = Document::read(&serde_json::to_vec(&item).expect("json")).expect("read");
        assert_eq!(document.properties.get("platform"), Some(&Value::from("p")), "kept after the noise");
        assert!(document.dropped.len() <= MAX_DROPPED + 1, "{:?}", document.dropped);
        assert!(document.dropped.last().is_some_and(|d| d.contains("more")), "{:?}", document.dropped);
    }

    #[test]
    fn properties_cannot_exhaust_the_assets_budget() {
        let item = serde_json::json!({
            "type": "Feature",
            "properties": {"noise": vec![0; VALUE_NODES + 1]},
            "assets": {"data": {"href": "./x.tif", "file:checksum": "1220ab"}},
        });
        let document = Document::read(&serde_json::to_vec(&item).expect("json")).expect("read");
        assert_eq!(document.dropped, ["properties.noise"]);
        assert_eq!(document.assets.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn values_past_the_budget_are_dropped_whole() {
        let big = "x".repeat(VALUE_BYTES / 2 + 1);
        let item = serde_json::json!({
            "type": "Feature",
            "properties": {"a": big, "b": big, "platform": "p", "c": {"nested": [big]}},
            "assets": {"one": {"href": "./x"}, "two": "not an object"},
            "links": [{"rel": "item", "href": "./i.json"}, {"rel": "self", "href": "/x"}],
            "bbox": [1, 2, 3, 1e308, 5],
        });
        let document = Document::read(&serde_json::to_vec(&item).expect("json")).expect("read");
        assert_eq!(document.properties.get("platform"), Some(&Value::from("p")));
        assert_eq!(document.properties.len(), 2, "{:?}", document.properties.keys());
        assert_eq!(document.dropped, ["properties.b", "properties.c"]);
        assert_eq!(document.assets.as_ref().map(Vec::len), Some(1));
        assert_eq!(document.item_links, ["./i.json"]);
        assert_eq!(document.bbox, None, "five numbers are not a bbox");
        assert!(document.is_item());
    }

    #[test]
    fn not_json_is_an_error_and_other_json_is_no_item() {
        assert!(Document::read(b"{\"type\": ").is_err());
        assert!(Document::read(b"{} trailing").is_err());
        for other in [&b"[1, 2]"[..], b"\"text\"", b"null", b"{\"type\": \"Feature\"}"] {
            let document = Document::read(other).expect("read");
            assert!(!document.is_item() && !document.is_catalog());
        }
    }
}
