//! A STAC catalog of everything at a destination: `catalog.json` at its root, a catalog per
//! order (`<order>/catalog.json`) and an item per deliverable (`<order>/<deliverable>.item.json`):
//! the deliverable's own STAC item, with `wyvern:order_id` and `wyvern:deliverable_id`
//! properties and assets pointing where the bytes really are. Every href is relative, so the
//! catalog can be moved or served as static files.
//!
//! Nothing is copied from the deliverable's item that could point elsewhere: its links are
//! replaced by links to the catalogs, an asset is kept only when its href resolves to a member of
//! the deliverable that is at the destination (others are left out, with a warning), values that
//! carry hrefs of their own (`alternate`...) are dropped, and byte ranges come from the zip's own
//! directory. The item is read within bounds (see [`wyvern_unpack::document`]): its footprint
//! thinned out, its properties kept while a budget lasts.
//!
//! - Extracted deliverables: assets point to the extracted members.
//! - Zips: assets point to the zip, with the STAC archive extension naming the member inside
//!   (`archive:href`, `archive:type`, `archive:format`) and, for stored members, the byte range
//!   of its data (`archive:start`, `archive:end`, inclusive): GDAL reads such a member as
//!   `/vsisubfile/<start>_<length>,<zip>`, any member as `/vsizip/<zip>/<archive:href>`. The zip
//!   itself is the asset `deliverable`, with its size and SHA-256 (`file:size`, `file:checksum`).
//!
//! What is there is found from one listing of the destination and the receipts it holds: an item
//! written after its receipt is kept without being read, so a refresh reads only what is new.
//! Catalogs are written after their items, the root last, and only when what they link changed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use wyvern_sinks::{ObjectPath, Sink};
use wyvern_unpack::document::Document;
use wyvern_unpack::{EntryReport, Inspection, Item, JSON_LIMIT};

use crate::holdings::{
    Held, Objects, RECEIPT_SUFFIX, extracted_item, holdings, nothing_there, path, receipt_base, under, zipped_item,
};
use crate::receipt::Receipt;
use crate::{Error, Result};

/// The root catalog's name, at the destination's root and in each order folder.
pub const CATALOG: &str = crate::holdings::CATALOG;
/// What an item's name ends with, beside its receipt.
pub const ITEM_SUFFIX: &str = crate::holdings::ITEM_SUFFIX;
/// The archive extension (`archive:href`, `archive:start`...).
const ARCHIVE_EXTENSION: &str = "https://stac-extensions.github.io/archive/v1.0.0/schema.json";
const FILE_EXTENSION: &str = "https://stac-extensions.github.io/file/v2.1.0/schema.json";
/// Items built at once (each reads a receipt and a zip's directory).
const CONCURRENCY: usize = 8;

/// Which deliverables a refresh builds items for, and whether it writes the catalogs.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every deliverable at the destination; the catalogs too.
    All,
    /// Only these deliverables' items (their zips' paths, as [`crate::Job::path`] says), and no
    /// catalog: what a shard of a sync does, leaving the links to a `wyvern catalog` after the
    /// last shard (shards writing one catalog at once would lose each other's links).
    Items(HashSet<ObjectPath>),
}

/// What a refresh did (serialised as `wyvern catalog --json` prints it, without `root`).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refreshed {
    /// Items written (new deliverables, or deliverables fetched again).
    pub items_written: usize,
    /// Items already there and up to date (not read).
    pub items_kept: usize,
    /// Catalogs written (order catalogs and the root).
    pub catalogs_written: usize,
    /// Deliverables left out, with why (no STAC item in the zip, an unreadable receipt...).
    pub left_out: Vec<LeftOut>,
    /// What items left out of their deliverable's STAC item, or why they are not verified
    /// (an asset whose href points outside the deliverable, a zip changed since its receipt).
    pub warnings: Vec<LeftOut>,
}

/// A deliverable a refresh left out of the catalog (or something it left out of its item).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftOut {
    /// `<order>/<deliverable>` (or `<deliverable>`).
    pub deliverable: String,
    /// Why.
    pub reason: String,
}

impl Held {
    fn item_path(&self) -> Result<ObjectPath> {
        path(&format!("{}{ITEM_SUFFIX}", self.base))
    }

    /// Whether its band assets' files are there, or it has none to have (it is not extracted).
    fn has_band_files(&self, objects: &Objects) -> bool {
        under(objects, &self.base).is_empty() || !under(objects, &format!("{}.bands", self.base)).is_empty()
    }

    /// Whether its item was written after its receipt and its zip (else it is missing, or
    /// older than a deliverable fetched again, or than a zip changed since).
    fn item_is_current(&self, objects: &Objects) -> bool {
        let zip = self.zip_path().ok().and_then(|zip| objects.get(zip.as_str()));
        match (&self.item, self.receipt.modified) {
            (Some(item), Some(receipt)) => item
                .modified
                .is_some_and(|item| item >= receipt && zip.and_then(|zip| zip.modified).is_none_or(|zip| item >= zip)),
            _ => false,
        }
    }
}

/// Builds or refreshes the catalog of what `sink` holds (see the module's documentation).
/// With `band_assets`, each multi-band raster of an extracted deliverable also gets an asset per
/// band (a VRT of that band: see `crate::bands`), for tools that take an asset to be one band.
pub async fn refresh(sink: &Arc<dyn Sink>, scope: &Scope, band_assets: bool) -> Result<Refreshed> {
    let (objects, mut held) = holdings(sink).await?;
    if held.is_empty() && !objects.contains_key(CATALOG) {
        return Err(nothing_there(sink));
    }
    if let Scope::Items(only) = scope {
        held.retain(|h| h.zip_path().is_ok_and(|zip| only.contains(&zip)));
    }
    let mut refreshed = Refreshed::default();
    let (current, stale): (Vec<&Held>, Vec<&Held>) =
        held.iter().partition(|h| h.item_is_current(&objects) && (!band_assets || h.has_band_files(&objects)));
    refreshed.items_kept = current.len();
    let all = &objects;
    // Gathered first: a stream mapping a closure over borrowed items would make the future
    // not `Send` to the compiler's eyes (a higher-ranked lifetime it cannot prove).
    let writes: Vec<_> =
        stale.into_iter().map(|held| async move { (held, write_item(sink, held, all, band_assets).await) }).collect();
    let built: Vec<(&Held, Result<Vec<String>>)> =
        futures::stream::iter(writes).buffer_unordered(CONCURRENCY).collect().await;
    let mut written = HashSet::new();
    let mut linked: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
    for held in &current {
        linked.entry(held.order.clone()).or_default().insert(held.deliverable().to_owned());
    }
    for (held, result) in built {
        match result {
            Ok(warnings) => {
                let deliverable = &held.base;
                let warnings = warnings.into_iter().map(|reason| LeftOut { deliverable: deliverable.clone(), reason });
                refreshed.warnings.extend(warnings);
                refreshed.items_written += 1;
                written.insert(held.order.clone());
                linked.entry(held.order.clone()).or_default().insert(held.deliverable().to_owned());
            }
            Err(error) => {
                refreshed.left_out.push(LeftOut { deliverable: held.base.clone(), reason: crate::error_line(&error) });
            }
        }
    }
    if matches!(scope, Scope::All) {
        write_catalogs(sink, &objects, &held, &linked, &written, &mut refreshed).await?;
    }
    Ok(refreshed)
}

/// The order catalogs whose links changed, then the root.
async fn write_catalogs(
    sink: &Arc<dyn Sink>,
    objects: &Objects,
    held: &[Held],
    linked: &BTreeMap<Option<String>, BTreeSet<String>>,
    written: &HashSet<Option<String>>,
    refreshed: &mut Refreshed,
) -> Result<()> {
    let modified = |key: &str| objects.get(key).map(|o| o.modified);
    let with_receipt: HashSet<&str> = held.iter().map(|h| h.base.as_str()).collect();
    // Items whose receipt is gone (their deliverable was removed) are removed, when they are
    // ours (a file of another name that looks like one is left alone).
    let mut orphaned: HashSet<Option<String>> = HashSet::new();
    for object in objects.values() {
        let Some(base) = object.path.as_str().strip_suffix(ITEM_SUFFIX) else { continue };
        let Some((base, order)) = receipt_base(&path(&format!("{base}{RECEIPT_SUFFIX}"))?) else { continue };
        if with_receipt.contains(base.as_str()) || !is_our_item(sink, &object.path, &base).await {
            continue;
        }
        sink.delete(&object.path).await?;
        orphaned.insert(order);
    }
    let newest = |folder: &str, deliverables: &BTreeSet<String>| -> Option<SystemTime> {
        deliverables.iter().filter_map(|d| modified(&format!("{folder}{d}{ITEM_SUFFIX}")).flatten()).max()
    };
    for (order, deliverables) in linked {
        let Some(order) = order else { continue };
        let key = format!("{order}/{CATALOG}");
        let stale = match modified(&key) {
            None | Some(None) => true,
            Some(Some(at)) => newest(&format!("{order}/"), deliverables).is_some_and(|newest| newest > at),
        };
        if stale || written.contains(&Some(order.clone())) || orphaned.contains(&Some(order.clone())) {
            put_json(sink, &key, &order_catalog(order, deliverables)).await?;
            refreshed.catalogs_written += 1;
        }
    }
    // The root: missing, older than an order catalog, or its links changed.
    let root_stale = match modified(CATALOG) {
        Some(Some(at)) => linked
            .keys()
            .flatten()
            .any(|order| modified(&format!("{order}/{CATALOG}")).flatten().is_some_and(|order_at| order_at > at)),
        _ => true,
    };
    if root_stale || orphaned.contains(&None) || written.contains(&None) || refreshed.catalogs_written > 0 {
        put_json(sink, CATALOG, &root_catalog(&sink.location(), linked)).await?;
        refreshed.catalogs_written += 1;
    }
    Ok(())
}

/// Whether the item at `item` is one a refresh wrote for the deliverable `base`.
async fn is_our_item(sink: &Arc<dyn Sink>, item: &ObjectPath, base: &str) -> bool {
    let Ok(Some(bytes)) = sink.get_small(item, JSON_LIMIT as u64).await else { return false };
    let deliverable = base.rsplit('/').next().unwrap_or(base);
    Document::read(&bytes)
        .is_ok_and(|item| item.properties.get("wyvern:deliverable_id").and_then(Value::as_str) == Some(deliverable))
}

async fn put_json(sink: &Arc<dyn Sink>, key: &str, value: &Value) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    text.push(b'\n');
    Ok(sink.put_small(&path(key)?, Bytes::from(text)).await?)
}

fn link(rel: &str, href: &str, title: Option<&str>) -> Value {
    let kind = if rel == "item" { "application/geo+json" } else { "application/json" };
    let mut link = json!({ "rel": rel, "href": href, "type": kind });
    if let Some(title) = title {
        link["title"] = json!(title);
    }
    link
}

fn root_catalog(location: &str, linked: &BTreeMap<Option<String>, BTreeSet<String>>) -> Value {
    let mut links = vec![link("root", "./catalog.json", Some("Wyvern deliverables"))];
    for (order, deliverables) in linked {
        match order {
            Some(order) => {
                links.push(link("child", &format!("./{order}/{CATALOG}"), Some(&format!("Order {order}"))));
            }
            None => links.extend(deliverables.iter().map(|d| link("item", &format!("./{d}{ITEM_SUFFIX}"), None))),
        }
    }
    json!({
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "wyvern-deliverables",
        "title": "Wyvern deliverables",
        "description": format!("The Wyvern deliverables at {location}, written by wyvern {}.", env!("CARGO_PKG_VERSION")),
        "links": links,
    })
}

fn order_catalog(order: &str, deliverables: &BTreeSet<String>) -> Value {
    let mut links = vec![link("root", "../catalog.json", None), link("parent", "../catalog.json", None)];
    links.extend(deliverables.iter().map(|d| link("item", &format!("./{d}{ITEM_SUFFIX}"), None)));
    json!({
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": order,
        "title": format!("Order {order}"),
        "description": format!("The deliverables of Wyvern order {order}."),
        "links": links,
    })
}

/// Reads what a deliverable's item needs (its receipt, its STAC item, its zip's directory) and
/// writes the item; returns what it left out of the item, and why it is not verified.
async fn write_item(sink: &Arc<dyn Sink>, held: &Held, objects: &Objects, band_assets: bool) -> Result<Vec<String>> {
    let receipt = held.read_receipt(sink).await?;
    let deliverable = held.deliverable();
    let (item, layout) = match &receipt.extracted {
        Some(extracted) => {
            let (item, _) = extracted_item(sink, &extracted.folder, objects).await?;
            let folder = extracted.folder.rsplit('/').next().unwrap_or(deliverable).to_owned();
            let rasters = crate::grid::extracted(sink, &extracted.folder, objects).await?;
            (item, Layout::Extracted { folder, objects, full: &extracted.folder, rasters })
        }
        None => {
            let (inspection, item) = zipped_item(sink, held).await?;
            (item, Layout::Zip { file: format!("{deliverable}.zip"), receipt: &receipt, inspection })
        }
    };
    let mut warnings: Vec<String> = item
        .document
        .dropped
        .iter()
        .map(|dropped| format!("{dropped} left out of its item: past what this tool reads"))
        .collect();
    let vouched = held.vouched(&receipt, objects);
    if let Err(why) = &vouched {
        warnings.push(format!("not verified: {why} (`wyvern verify` reads it again)"));
    }
    let ids = Ids { order: held.order.as_deref(), deliverable, verified: receipt.verified && vouched.is_ok() };
    let mut bands = match &layout {
        Layout::Extracted { folder, .. } if band_assets => Some(crate::bands::Files::new(deliverable, folder)),
        _ => None,
    };
    let value = catalog_item(&item, &ids, &layout, bands.as_mut(), &mut warnings);
    // The VRTs before the item that names them.
    for (file, vrt) in bands.map(|bands| bands.vrts).unwrap_or_default() {
        sink.put_small(&path(&format!("{}.bands/{file}", held.base))?, Bytes::from(vrt)).await?;
    }
    put_json(sink, held.item_path()?.as_str(), &value).await?;
    Ok(warnings)
}

/// Where a deliverable's bytes are.
enum Layout<'a> {
    /// A zip beside the item (`file`), inspected.
    Zip { file: String, receipt: &'a Receipt, inspection: Inspection },
    /// Members extracted into `folder` beside the item (`full`, from the destination's root);
    /// what the destination holds, and the headers of its GeoTIFFs.
    Extracted { folder: String, objects: &'a Objects, full: &'a str, rasters: Vec<wyvern_unpack::Raster> },
}

impl Layout<'_> {
    /// The header of the GeoTIFF member `name`, when it is one.
    fn raster(&self, name: &str) -> Option<&wyvern_unpack::Raster> {
        let rasters = match self {
            Layout::Zip { inspection, .. } => &inspection.rasters,
            Layout::Extracted { rasters, .. } => rasters,
        };
        rasters.iter().find(|raster| raster.name == name)
    }
}

/// Who a deliverable is.
struct Ids<'a> {
    order: Option<&'a str>,
    deliverable: &'a str,
    verified: bool,
}

/// The deliverable's item for the catalog: its properties (as read, within bounds) with
/// `wyvern:*` properties added, its footprint (thinned out; its bbox as a polygon when it has
/// none), links to the catalogs only, and assets rebuilt to point where the bytes are. An asset
/// whose href does not lead to a member of the deliverable that is there is left out, with a
/// warning.
fn catalog_item(
    item: &Item,
    ids: &Ids<'_>,
    layout: &Layout<'_>,
    mut bands: Option<&mut crate::bands::Files>,
    warnings: &mut Vec<String>,
) -> Value {
    let document = &item.document;
    let mut properties = document.properties.clone();
    properties.insert("wyvern:order_id".into(), json!(ids.order));
    properties.insert("wyvern:deliverable_id".into(), json!(ids.deliverable));
    properties.insert("wyvern:verified".into(), json!(ids.verified));
    let geometry = match (&document.geometry, item.bbox.as_deref()) {
        (Some(footprint), _) => footprint.to_value(),
        (None, Some(&[w, s, e, n])) => {
            json!({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]})
        }
        _ => Value::Null,
    };
    let root = if ids.order.is_some() { "../catalog.json" } else { "./catalog.json" };
    let mut extensions = document.stac_extensions.clone();
    let mut assets = Map::new();
    for (key, asset) in document.assets.iter().flatten() {
        let href = asset.get("href").and_then(Value::as_str).unwrap_or_default();
        let target = wyvern_unpack::stac::resolve(&item.member, href);
        match target.as_deref().and_then(|target| Some((target, located(asset, target, layout)?))) {
            Some((target, mut asset)) => {
                // The grid, as the GeoTIFF's own header says it.
                if let (Some(raster), Some(fields)) = (layout.raster(target), asset.as_object_mut()) {
                    crate::grid::add(fields, raster, &mut extensions);
                }
                if let (Some(bands), Some(fields)) = (bands.as_deref_mut(), asset.as_object()) {
                    bands.add(key, fields, target, &mut assets);
                }
                assets.insert(key.clone(), asset);
            }
            None => warnings.push(format!(
                "asset {:?} left out of its item: its href {:?} is not a member of the deliverable at the destination",
                wyvern_core::printable(key),
                wyvern_core::printable(href)
            )),
        }
    }
    if let Layout::Zip { file, receipt, .. } = layout {
        assets.insert(
            "deliverable".into(),
            json!({
                "href": format!("./{file}"),
                "type": "application/zip",
                "title": "The deliverable, as downloaded",
                "roles": ["archive"],
                "file:size": receipt.bytes,
                "file:checksum": format!("1220{}", receipt.sha256),
            }),
        );
        extensions.extend([ARCHIVE_EXTENSION.to_owned(), FILE_EXTENSION.to_owned()]);
    }
    let mut seen = HashSet::new();
    extensions.retain(|e| seen.insert(e.clone()));
    let mut value = json!({
        "type": "Feature",
        "stac_version": document.stac_version.as_deref().unwrap_or("1.0.0"),
        "stac_extensions": extensions,
        "id": document.id.as_deref().unwrap_or(ids.deliverable),
        "geometry": geometry,
        "properties": properties,
        "links": [link("root", root, None), link("parent", "./catalog.json", None)],
        "assets": assets,
    });
    if !geometry.is_null()
        && let Some(bbox) = &item.bbox
    {
        value["bbox"] = json!(bbox);
    }
    value
}

/// A path as a relative href: each byte that is not unreserved in a URI path (RFC 3986: letters,
/// digits, `-._~`, sub-delimiters, `:@`, and `/` between segments) percent-encoded, so that a
/// member named `%2e%2e`, `a#b` or `a?b` is the file of that name to every reader, not a parent
/// folder, a fragment or a query.
pub(crate) fn href_path(path: &str) -> String {
    let mut href = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte) {
            href.push(char::from(byte));
        } else {
            href.push_str(&format!("%{byte:02X}"));
        }
    }
    href
}

/// Whether a JSON value holds an `href` anywhere (a link of its own, which the catalog cannot
/// vouch for).
fn has_href(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.contains_key("href") || map.values().any(has_href),
        Value::Array(values) => values.iter().any(has_href),
        _ => false,
    }
}

/// An asset of the zip's member `target`, pointing where the member is; `None` when the
/// deliverable has no such member there. Fields that carry hrefs and byte ranges the item
/// claims are not copied.
fn located(asset: &Map<String, Value>, target: &str, layout: &Layout<'_>) -> Option<Value> {
    let mut asset: Map<String, Value> = asset
        .iter()
        .filter(|(key, value)| {
            !matches!(key.as_str(), "href" | "alternate" | "archive")
                && !key.starts_with("archive:")
                && !has_href(value)
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    match layout {
        Layout::Extracted { folder, objects, full, .. } => {
            objects.contains_key(&format!("{full}/{target}")).then_some(())?;
            asset.insert("href".into(), json!(format!("./{}/{}", href_path(folder), href_path(target))));
        }
        Layout::Zip { file, inspection, .. } => {
            let entry: &EntryReport = inspection.entries.iter().find(|e| e.name == target)?;
            // The member's own type, size and checksum move into its archive entry: at the top
            // level they would describe the zip the href points to.
            let mut inner = json!({ "href": target });
            for key in ["type", "file:size", "file:checksum"] {
                if let Some(value) = asset.remove(key) {
                    inner[key] = value;
                }
            }
            asset.insert("href".into(), json!(format!("./{file}")));
            asset.insert("type".into(), json!("application/zip"));
            asset.insert("archive:href".into(), json!(target));
            asset.insert("archive:format".into(), json!("application/zip"));
            if let Some(inner_type) = inner.get("type") {
                asset.insert("archive:type".into(), inner_type.clone());
            }
            // The range of a stored member's data, from the zip's own headers.
            if let (0, Some(start)) = (entry.method, entry.data_offset)
                && entry.size > 0
            {
                let end = start + entry.size - 1;
                asset.insert("archive:start".into(), json!(start));
                asset.insert("archive:end".into(), json!(end));
                inner["range"] = json!([start, end]);
            }
            asset.insert("archive".into(), json!([inner]));
        }
    }
    Some(Value::Object(asset))
}

#[cfg(test)]
mod tests {
    use super::href_path;

    #[test]
    fn member_paths_become_hrefs_that_name_them() {
        assert_eq!(href_path("a/b_c-1.tiff"), "a/b_c-1.tiff");
        assert_eq!(href_path("%2e%2e/x #1?.tif"), "%252e%252e/x%20%231%3F.tif");
        assert_eq!(href_path("é\\x"), "%C3%A9%5Cx");
    }
}
