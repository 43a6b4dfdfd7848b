//! A STAC catalog of everything at a destination: `catalog.json` at its root, a catalog per
//! order (`<order>/catalog.json`) and an item per deliverable (`<order>/<deliverable>.item.json`):
//! the deliverable's own STAC item, with `wyvern:order_id` and `wyvern:deliverable_id`
//! properties and assets pointing where the bytes really are. Every href is relative, so the
//! catalog can be moved or served as static files.
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
use wyvern_core::{DeliverableId, OrderId};
use wyvern_sinks::{ObjectInfo, ObjectPath, Sink};
use wyvern_unpack::{EntryReport, Inspection, Item};

use crate::job::Receipt;
use crate::zipfile::ZipFile;
use crate::{Error, Result};

/// The root catalog's name, at the destination's root and in each order folder.
pub const CATALOG: &str = "catalog.json";
/// What an item's name ends with, beside its receipt.
pub const ITEM_SUFFIX: &str = ".item.json";
const RECEIPT_SUFFIX: &str = ".receipt.json";
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
}

/// A deliverable a refresh left out of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftOut {
    /// `<order>/<deliverable>` (or `<deliverable>`).
    pub deliverable: String,
    /// Why.
    pub reason: String,
}

/// A deliverable at the destination, as the listing shows it.
#[derive(Debug)]
pub(crate) struct Held {
    /// `<order>/<deliverable>` (or `<deliverable>` at the root).
    pub(crate) base: String,
    pub(crate) order: Option<String>,
    pub(crate) receipt: ObjectInfo,
    item: Option<ObjectInfo>,
}

impl Held {
    fn item_path(&self) -> Result<ObjectPath> {
        path(&format!("{}{ITEM_SUFFIX}", self.base))
    }

    pub(crate) fn zip_path(&self) -> Result<ObjectPath> {
        path(&format!("{}.zip", self.base))
    }

    /// Whether its item was written after its receipt (else it is missing, or older than a
    /// deliverable fetched again).
    fn item_is_current(&self) -> bool {
        match (&self.item, self.receipt.modified) {
            (Some(item), Some(receipt)) => item.modified.is_some_and(|item| item >= receipt),
            _ => false,
        }
    }

    pub(crate) async fn read_receipt(&self, sink: &Arc<dyn Sink>) -> Result<Receipt> {
        let bytes = sink.get_small(&self.receipt.path).await?.ok_or_else(|| invalid("its receipt is gone"))?;
        serde_json::from_slice(&bytes).map_err(|e| invalid(&format!("its receipt cannot be read: {e}")))
    }

    pub(crate) fn deliverable(&self) -> &str {
        self.base.rsplit('/').next().unwrap_or(&self.base)
    }
}

/// A destination with no deliverable a sync wrote (no receipt): a catalog or a report of it
/// would be empty, and its path is most likely mistyped.
pub(crate) fn nothing_there(sink: &Arc<dyn Sink>) -> Error {
    Error::Invalid {
        message: format!("{} holds no deliverable a sync wrote (no receipt)", sink.location()),
        hint: Some("give the folder or bucket URL a `wyvern sync` wrote to".to_owned()),
    }
}

fn path(text: &str) -> Result<ObjectPath> {
    ObjectPath::parse(text).map_err(|e| Error::Invalid { message: e.to_string(), hint: None })
}

/// The deliverable a receipt's path names (`<order>/<id>.receipt.json` or `<id>.receipt.json`,
/// ids as the API spells them): `(base, order)`.
fn receipt_base(path: &ObjectPath) -> Option<(String, Option<String>)> {
    let base = path.as_str().strip_suffix(RECEIPT_SUFFIX)?;
    match base.split_once('/') {
        None => base.parse::<DeliverableId>().ok().map(|_| (base.to_owned(), None)),
        Some((order, deliverable)) => {
            order.parse::<OrderId>().ok()?;
            deliverable.parse::<DeliverableId>().ok()?;
            Some((base.to_owned(), Some(order.to_owned())))
        }
    }
}

/// What a listing of the destination holds, by path.
pub(crate) type Objects = BTreeMap<String, ObjectInfo>;

/// Everything at the destination (one listing), and the deliverables among it (those with a
/// receipt), in the order of their paths.
pub(crate) async fn holdings(sink: &Arc<dyn Sink>) -> Result<(Objects, Vec<Held>)> {
    let objects: Objects = sink.list(None).await?.into_iter().map(|object| (object.path.to_string(), object)).collect();
    let held = objects
        .values()
        .filter_map(|object| {
            let (base, order) = receipt_base(&object.path)?;
            let item = objects.get(&format!("{base}{ITEM_SUFFIX}")).cloned();
            Some(Held { base, order, receipt: object.clone(), item })
        })
        .collect();
    Ok((objects, held))
}

/// Builds or refreshes the catalog of what `sink` holds (see the module's documentation).
pub async fn refresh(sink: &Arc<dyn Sink>, scope: &Scope) -> Result<Refreshed> {
    let (objects, mut held) = holdings(sink).await?;
    if held.is_empty() && !objects.contains_key(CATALOG) {
        return Err(nothing_there(sink));
    }
    if let Scope::Items(only) = scope {
        held.retain(|h| h.zip_path().is_ok_and(|zip| only.contains(&zip)));
    }
    let mut refreshed = Refreshed::default();
    let (current, stale): (Vec<&Held>, Vec<&Held>) = held.iter().partition(|h| h.item_is_current());
    refreshed.items_kept = current.len();
    let all = &objects;
    // Gathered first: a stream mapping a closure over borrowed items would make the future
    // not `Send` to the compiler's eyes (a higher-ranked lifetime it cannot prove).
    let writes: Vec<_> =
        stale.into_iter().map(|held| async move { (held, write_item(sink, held, all).await) }).collect();
    let built: Vec<(&Held, Result<()>)> = futures::stream::iter(writes).buffer_unordered(CONCURRENCY).collect().await;
    let mut written = HashSet::new();
    let mut linked: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
    for held in &current {
        linked.entry(held.order.clone()).or_default().insert(held.deliverable().to_owned());
    }
    for (held, result) in built {
        match result {
            Ok(()) => {
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
    let Ok(Some(bytes)) = sink.get_small(item).await else { return false };
    let deliverable = base.rsplit('/').next().unwrap_or(base);
    serde_json::from_slice::<Value>(&bytes)
        .is_ok_and(|item| item["properties"]["wyvern:deliverable_id"].as_str() == Some(deliverable))
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
/// writes the item.
async fn write_item(sink: &Arc<dyn Sink>, held: &Held, objects: &Objects) -> Result<()> {
    let receipt = held.read_receipt(sink).await?;
    let deliverable = held.deliverable();
    let (document, member, layout) = match &receipt.extracted {
        Some(extracted) => {
            let (document, member) = extracted_item(sink, &extracted.folder, objects).await?;
            let folder = extracted.folder.rsplit('/').next().unwrap_or(deliverable).to_owned();
            (document, member, Layout::Extracted { folder })
        }
        None => {
            let (inspection, item) = zipped_item(sink, held).await?;
            (
                item.document,
                item.member,
                Layout::Zip { file: format!("{deliverable}.zip"), receipt: &receipt, inspection },
            )
        }
    };
    let ids = Ids { order: held.order.as_deref(), deliverable, verified: receipt.verified };
    put_json(sink, held.item_path()?.as_str(), &catalog_item(&document, &member, &ids, &layout)).await
}

pub(crate) fn invalid(message: &str) -> Error {
    Error::Invalid { message: message.to_owned(), hint: None }
}

/// A deliverable's zip, inspected (its directory and JSON members, a few ranged reads), and the
/// STAC item it holds.
pub(crate) async fn zipped_item(sink: &Arc<dyn Sink>, held: &Held) -> Result<(Inspection, Item)> {
    let zip = held.zip_path()?;
    let shown = format!("{}/{zip}", sink.location());
    let inspection = ZipFile::Remote { sink: sink.clone(), path: zip, shown }.inspect().await?;
    if inspection.has_structure_problems() {
        return Err(Error::Corrupt { source: wyvern_unpack::VerifyError::Problems(inspection.problems), named: true });
    }
    let item = inspection.items.first().cloned().ok_or_else(|| invalid("its zip holds no STAC item"))?;
    Ok((inspection, item))
}

/// The STAC item among an extracted deliverable's JSON members, and its path in the folder.
pub(crate) async fn extracted_item(sink: &Arc<dyn Sink>, folder: &str, objects: &Objects) -> Result<(Value, String)> {
    let prefix = format!("{folder}/");
    let candidates =
        objects.range(prefix.clone()..).take_while(|(key, _)| key.starts_with(&prefix)).filter(|(key, object)| {
            key.ends_with(".json") && !key.ends_with(CATALOG) && object.size <= wyvern_unpack::JSON_LIMIT as u64
        });
    for (key, object) in candidates {
        let Some(bytes) = sink.get_small(&object.path).await? else { continue };
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes)
            && wyvern_unpack::stac::is_item(&value)
        {
            return Ok((value, key[prefix.len()..].to_owned()));
        }
    }
    Err(invalid("its extracted members hold no STAC item"))
}

/// Where a deliverable's bytes are.
enum Layout<'a> {
    /// A zip beside the item (`file`), inspected.
    Zip { file: String, receipt: &'a Receipt, inspection: Inspection },
    /// Members extracted into `folder`, beside the item.
    Extracted { folder: String },
}

/// Who a deliverable is.
struct Ids<'a> {
    order: Option<&'a str>,
    deliverable: &'a str,
    verified: bool,
}

/// The deliverable's item (`document`, read from `member` of the zip) for the catalog: its
/// properties and geometry as they are, `wyvern:*` properties added, links to the catalogs
/// instead of its own, and assets pointing where the bytes are.
fn catalog_item(document: &Value, member: &str, ids: &Ids<'_>, layout: &Layout<'_>) -> Value {
    let mut item = document.clone();
    let properties = item
        .as_object_mut()
        .map(|item| item.entry("properties").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(properties) = properties {
        properties.insert("wyvern:order_id".into(), json!(ids.order));
        properties.insert("wyvern:deliverable_id".into(), json!(ids.deliverable));
        properties.insert("wyvern:verified".into(), json!(ids.verified));
    }
    let root = if ids.order.is_some() { "../catalog.json" } else { "./catalog.json" };
    // Links into the zip (relative) and to where the item was (self, root, parent) are replaced.
    let mut links: Vec<Value> = document
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|l| {
            let href = l.get("href").and_then(Value::as_str).unwrap_or_default();
            let rel = l.get("rel").and_then(Value::as_str).unwrap_or_default();
            href.contains("://") && !matches!(rel, "self" | "root" | "parent" | "collection")
        })
        .cloned()
        .collect();
    links.push(link("root", root, None));
    links.push(link("parent", "./catalog.json", None));
    item["links"] = json!(links);
    let mut assets = Map::new();
    let mut extensions: Vec<Value> =
        document.get("stac_extensions").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(original) = document.get("assets").and_then(Value::as_object) {
        for (key, asset) in original {
            let href = asset.get("href").and_then(Value::as_str).unwrap_or_default();
            let Some(target) = wyvern_unpack::stac::resolve(member, href) else {
                // Absolute: it points outside the deliverable, and stays as it is.
                assets.insert(key.clone(), asset.clone());
                continue;
            };
            if let Some(asset) = located(asset, &target, layout) {
                assets.insert(key.clone(), asset);
            }
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
        extensions.push(json!(ARCHIVE_EXTENSION));
        extensions.push(json!(FILE_EXTENSION));
    }
    let mut seen = HashSet::new();
    extensions.retain(|e| seen.insert(e.as_str().unwrap_or_default().to_owned()));
    item["stac_extensions"] = json!(extensions);
    item["assets"] = Value::Object(assets);
    item
}

/// An asset of the zip's member `target`, pointing where the member is; `None` when the
/// deliverable has no such member.
fn located(asset: &Value, target: &str, layout: &Layout<'_>) -> Option<Value> {
    let mut asset = asset.clone();
    match layout {
        Layout::Extracted { folder } => asset["href"] = json!(format!("./{folder}/{target}")),
        Layout::Zip { file, inspection, .. } => {
            let entry: &EntryReport = inspection.entries.iter().find(|e| e.name == target)?;
            // The member's own type, size and checksum move into its archive entry: at the top
            // level they would describe the zip the href points to.
            let mut inner = json!({ "href": target });
            for key in ["type", "file:size", "file:checksum"] {
                if let Some(value) = asset.as_object_mut().and_then(|a| a.remove(key)) {
                    inner[key] = value;
                }
            }
            asset["href"] = json!(format!("./{file}"));
            asset["type"] = json!("application/zip");
            asset["archive:href"] = json!(target);
            asset["archive:format"] = json!("application/zip");
            if let Some(inner_type) = inner.get("type") {
                asset["archive:type"] = inner_type.clone();
            }
            if let (0, Some(start)) = (entry.method, entry.data_offset)
                && entry.size > 0
            {
                let end = start + entry.size - 1;
                asset["archive:start"] = json!(start);
                asset["archive:end"] = json!(end);
                inner["range"] = json!([start, end]);
            }
            asset["archive"] = json!([inner]);
        }
    }
    Some(asset)
}
