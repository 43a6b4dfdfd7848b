//! What a destination holds: one listing of it, and the deliverables a sync wrote there (those
//! with a receipt), each read as the catalog, the report and the audit need it.

use std::collections::BTreeMap;
use std::sync::Arc;

use wyvern_core::{DeliverableId, OrderId};
use wyvern_sinks::{ObjectInfo, ObjectPath, Sink};
use wyvern_unpack::document::Document;
use wyvern_unpack::{Inspection, Item, JSON_LIMIT};

use crate::receipt::{Found, Receipt, written_after};
use crate::zipfile::ZipFile;
use crate::{Error, Result};

/// The root catalog's name (see [`crate::catalog::CATALOG`]).
pub(crate) const CATALOG: &str = "catalog.json";
/// A deliverable's catalog item, beside its receipt (see [`crate::catalog::ITEM_SUFFIX`]).
pub(crate) const ITEM_SUFFIX: &str = ".item.json";
/// A deliverable's receipt, beside its zip.
pub(crate) const RECEIPT_SUFFIX: &str = ".receipt.json";

/// A deliverable at the destination, as the listing shows it.
#[derive(Debug)]
pub(crate) struct Held {
    /// `<order>/<deliverable>` (or `<deliverable>` at the root).
    pub(crate) base: String,
    pub(crate) order: Option<String>,
    pub(crate) receipt: ObjectInfo,
    pub(crate) item: Option<ObjectInfo>,
}

impl Held {
    /// Where its zip is (or was).
    pub(crate) fn zip_path(&self) -> Result<ObjectPath> {
        path(&format!("{}.zip", self.base))
    }

    pub(crate) async fn read_receipt(&self, sink: &Arc<dyn Sink>) -> Result<Receipt> {
        match Receipt::read(sink, &self.receipt.path).await? {
            Found::Receipt(receipt) => {
                receipt
                    .belongs_to(self.deliverable(), self.order.as_deref(), &self.base)
                    .map_err(|why| invalid(&why))?;
                Ok(*receipt)
            }
            Found::Missing => Err(invalid("its receipt is gone")),
            Found::NotAReceipt(why) => Err(invalid(&format!("its receipt is not one: {why}"))),
        }
    }

    /// Whether `receipt` (its own) still vouches for what is at the destination, as `objects`
    /// lists it; else why not.
    pub(crate) fn vouched(&self, receipt: &Receipt, objects: &Objects) -> std::result::Result<(), String> {
        let Some(extracted) = &receipt.extracted else {
            let zip = self.zip_path().map_err(|e| e.to_string())?;
            let zip = objects.get(zip.as_str()).ok_or("its zip is gone")?;
            return receipt.vouches_for(zip, Some(&self.receipt));
        };
        let files = under(objects, &extracted.folder);
        if (files.len() as u64) < extracted.members {
            return Err(format!("its folder holds {} of its {} files", files.len(), extracted.members));
        }
        if files.iter().any(|(_, file)| !written_after(&self.receipt, file)) {
            return Err("a file in its folder was written after its receipt".to_owned());
        }
        Ok(())
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
        hint: Some("give the folder or bucket URL a sync wrote to".to_owned()),
    }
}

pub(crate) fn path(text: &str) -> Result<ObjectPath> {
    ObjectPath::parse(text).map_err(|e| Error::Invalid { message: e.to_string(), hint: None })
}

/// The deliverable a receipt's path names (`<order>/<id>.receipt.json` or `<id>.receipt.json`,
/// ids as the API spells them): `(base, order)`.
pub(crate) fn receipt_base(path: &ObjectPath) -> Option<(String, Option<String>)> {
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

/// The objects under `folder`, with their paths.
pub(crate) fn under<'a>(objects: &'a Objects, folder: &str) -> Vec<(&'a String, &'a ObjectInfo)> {
    let prefix = format!("{folder}/");
    objects.range(prefix.clone()..).take_while(|(key, _)| key.starts_with(&prefix)).collect()
}

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
pub(crate) async fn extracted_item(sink: &Arc<dyn Sink>, folder: &str, objects: &Objects) -> Result<(Item, String)> {
    let candidates = under(objects, folder)
        .into_iter()
        .filter(|(key, object)| key.ends_with(".json") && !key.ends_with(CATALOG) && object.size <= JSON_LIMIT as u64);
    for (key, object) in candidates.take(wyvern_unpack::MAX_KEPT) {
        let Some(bytes) = sink.get_small(&object.path, JSON_LIMIT as u64).await? else { continue };
        if let Ok(document) = Document::read(&bytes)
            && document.is_item()
        {
            let member = key[folder.len() + 1..].to_owned();
            return Ok((wyvern_unpack::stac::parse_item(&member, &std::sync::Arc::new(document)), member));
        }
    }
    Err(invalid("its extracted members hold no STAC item"))
}
