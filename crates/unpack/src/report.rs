//! From a [`Listing`] to an [`Inspection`]: kinds, the STAC item, the GeoTIFF headers, and every
//! problem the checks find.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checksum::{Multihash, digest_matches};
use crate::document::Document;
use crate::geotiff::{Raster, read_header};
use crate::stac::{self, Item, Kind};
use crate::stream::{Digests, Listing, MAX_KEPT};

/// One member, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryReport {
    /// Path inside the zip.
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    /// Stored size.
    pub compressed_size: u64,
    /// CRC-32, 8 hex digits.
    pub crc32: String,
    /// What it is.
    pub kind: Kind,
    /// Compression method: 0 stored (its data is its bytes, at `data_offset`), 8 deflated.
    pub method: u16,
    /// Where its data starts in the zip, when its local header was read.
    pub data_offset: Option<u64>,
}

/// Something wrong with a deliverable, with the member it concerns and expected vs actual values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The member concerned.
    pub member: String,
    /// Which check: `zip` (the archive's structure), `stac-asset`, `file:size`, `file:checksum`,
    /// `proj:shape`, `band-count`, `catalog-link`, `stac-item`, `geotiff`, `json`.
    pub check: &'static str,
    /// What was expected.
    pub expected: Option<String>,
    /// What was found.
    pub actual: Option<String>,
    /// The problem in a sentence.
    pub message: String,
}

/// What a deliverable holds, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// Where the zip was read from.
    pub source: String,
    /// Its size.
    pub bytes: u64,
    /// Every member.
    pub entries: Vec<EntryReport>,
    /// The STAC items.
    pub items: Vec<Item>,
    /// The GeoTIFF headers.
    pub rasters: Vec<Raster>,
    /// Problems found (empty when the deliverable is consistent).
    pub problems: Vec<Problem>,
    /// What could not be checked, or was checked only weakly (a checksum of an unknown multihash
    /// code, an MD5 or SHA-1 match): never a failure.
    pub warnings: Vec<Problem>,
    /// Whether every member's data was read and matched its CRC-32 (and STAC checksums were
    /// checked), as opposed to a header-only inspection.
    pub verified: bool,
    /// Bytes read to produce this (a remote inspection reports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_read: Option<u64>,
}

impl Inspection {
    /// `Ok` when no problem was found, else the problems as an error.
    pub fn into_result(self) -> Result<Self, crate::VerifyError> {
        if self.problems.is_empty() { Ok(self) } else { Err(crate::VerifyError::Problems(self.problems)) }
    }

    /// Whether a problem is in the archive's structure: readers could see different members.
    pub fn has_structure_problems(&self) -> bool {
        self.problems.iter().any(|p| p.check == STRUCTURE)
    }
}

/// The check of problems in the archive's structure.
const STRUCTURE: &str = "zip";

impl Problem {
    /// A problem in the archive's structure.
    pub(crate) fn structure(message: String) -> Self {
        Self::new("(archive)", STRUCTURE, message)
    }

    fn new(member: &str, check: &'static str, message: String) -> Self {
        Self { member: member.to_owned(), check, expected: None, actual: None, message }
    }

    fn mismatch(member: &str, check: &'static str, what: &str, expected: String, actual: String) -> Self {
        let message = format!("{what}: expected {expected}, found {actual}");
        Self { member: member.to_owned(), check, expected: Some(expected), actual: Some(actual), message }
    }
}

/// Inspects what a pass over the zip found. `verified` says whether the listing came from
/// [`crate::verify_stream`] (data read and digests known) or from headers only.
pub fn inspect(source: &str, listing: &Listing, verified: bool) -> Inspection {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let (items, catalogs) = documents(listing, &mut problems, &mut warnings);
    if listing.unread > 0 {
        let message = format!(
            "{} JSON or TIFF members past the first {MAX_KEPT} of their kind were not read: their STAC and \
             GeoTIFF facts are not checked",
            listing.unread
        );
        warnings.push(Problem::new("(archive)", "members", message));
    }
    let sizes: BTreeMap<&str, u64> = listing.entries.iter().map(|e| (e.name.as_str(), e.size)).collect();
    let entries = entry_reports(listing, &items);
    let mut rasters = Vec::new();
    for (name, head) in &listing.tiff_heads {
        match read_header(name, head) {
            Ok(raster) => rasters.push(raster),
            Err(e) => problems.push(Problem::new(name, "geotiff", format!("the GeoTIFF header cannot be read: {e}"))),
        }
    }
    check_catalogs(&catalogs, &items, &sizes, &mut problems);
    if items.is_empty() {
        problems.push(Problem::new("(archive)", "stac-item", "the deliverable holds no STAC item".to_owned()));
    }
    for item in &items {
        check_assets(item, &sizes, verified.then_some(&listing.digests), &mut problems, &mut warnings);
        check_imagery(item, &entries, &rasters, &mut problems);
    }
    Inspection {
        source: source.to_owned(),
        bytes: listing.bytes,
        entries,
        items,
        rasters,
        problems,
        warnings,
        verified,
        bytes_read: None,
    }
}

/// The STAC checks of members fetched on their own (see [`crate::verify_member`]): each asset of
/// `items` that is one of them against its `file:size` and `file:checksum`. `fetched` gives each
/// member's size and digests. Returns the problems, then the warnings.
pub fn check_members(items: &[Item], fetched: &BTreeMap<String, (u64, Digests)>) -> (Vec<Problem>, Vec<Problem>) {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let sizes: BTreeMap<&str, u64> = fetched.iter().map(|(name, (size, _))| (name.as_str(), *size)).collect();
    let digests: BTreeMap<String, Digests> =
        fetched.iter().map(|(name, (_, digests))| (name.clone(), digests.clone())).collect();
    for item in items {
        let mut assets = item.clone();
        assets.assets.retain(|asset| asset.member.as_deref().is_some_and(|member| sizes.contains_key(member)));
        check_assets(&assets, &sizes, Some(&digests), &mut problems, &mut warnings);
    }
    (problems, warnings)
}

/// The STAC items and catalogs among the JSON members; JSON that is not valid is a problem,
/// assets past what was read a warning.
fn documents<'a>(
    listing: &'a Listing,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> (Vec<Item>, Vec<(String, &'a Document)>) {
    let (mut items, mut catalogs) = (Vec::new(), Vec::new());
    for (name, document) in &listing.json {
        match document {
            Ok(document) if document.is_item() => {
                // Assets not read are assets not checked (properties and footprints past the
                // bounds matter to a catalog, which says so).
                let unread: Vec<&str> =
                    document.dropped.iter().map(String::as_str).filter(|d| d.starts_with("assets")).collect();
                if !unread.is_empty() {
                    let message = format!("not read, past what this tool reads, so not checked: {}", unread.join(", "));
                    warnings.push(Problem::new(name, "stac-item", message));
                }
                items.push(stac::parse_item(name, document));
            }
            Ok(document) if document.is_catalog() => catalogs.push((name.clone(), &**document)),
            Ok(_) => {}
            Err(e) => problems.push(Problem::new(name, "json", format!("not valid JSON: {e}"))),
        }
    }
    (items, catalogs)
}

/// Each member, with its kind: what the STAC items' roles say of it, else what its name says.
fn entry_reports(listing: &Listing, items: &[Item]) -> Vec<EntryReport> {
    let roles: BTreeMap<&str, &[String]> = items
        .iter()
        .flat_map(|item| item.assets.iter())
        .filter_map(|asset| Some((asset.member.as_deref()?, asset.roles.as_slice())))
        .collect();
    let kind = |name: &str| {
        let by_name = Kind::from_name(name);
        match roles.get(name).and_then(|r| Kind::from_roles(r)) {
            // The STAC item lists itself with role "metadata"; the catalog is a catalog whatever its roles.
            _ if by_name == Kind::Catalog => Kind::Catalog,
            Some(kind) => kind,
            None => by_name,
        }
    };
    listing
        .entries
        .iter()
        .map(|e| EntryReport {
            name: e.name.clone(),
            size: e.size,
            compressed_size: e.compressed_size,
            crc32: format!("{:08x}", e.crc32),
            kind: kind(&e.name),
            method: e.method,
            data_offset: e.data,
        })
        .collect()
}

/// Every item link of a catalog member must name a member that is a STAC item.
fn check_catalogs(
    catalogs: &[(String, &Document)],
    items: &[Item],
    sizes: &BTreeMap<&str, u64>,
    problems: &mut Vec<Problem>,
) {
    for (name, catalog) in catalogs {
        for target in stac::catalog_items(name, catalog) {
            if !sizes.contains_key(target.as_str()) {
                problems.push(Problem::mismatch(
                    name,
                    "catalog-link",
                    "the item link",
                    format!("member {target}"),
                    "no such member".into(),
                ));
            } else if !items.iter().any(|item| item.member == target) {
                problems.push(Problem::new(
                    name,
                    "catalog-link",
                    format!("the item link points to {target}, which is not a STAC item"),
                ));
            }
        }
    }
}

fn check_assets(
    item: &Item,
    sizes: &BTreeMap<&str, u64>,
    digests: Option<&BTreeMap<String, Digests>>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    for asset in &item.assets {
        let Some(member) = asset.member.as_deref() else { continue };
        let Some(&size) = sizes.get(member) else {
            let what = format!("asset {:?} points to", asset.key);
            problems.push(Problem::mismatch(
                &item.member,
                "stac-asset",
                &what,
                format!("member {member}"),
                "no such member".into(),
            ));
            continue;
        };
        if let Some(expected) = asset.size.filter(|&expected| expected != size) {
            problems.push(Problem::mismatch(member, "file:size", "size", expected.to_string(), size.to_string()));
        }
        let Some(checksum) = &asset.checksum else { continue };
        let check = "file:checksum";
        let (algorithm, expected) = match Multihash::parse(checksum) {
            Ok(Multihash::Known { algorithm, digest }) => (algorithm, digest),
            Ok(Multihash::Unknown { code }) => {
                let message =
                    format!("multihash code 0x{code:x} ({checksum:.12}…) is not one this tool knows: not checked");
                warnings.push(Problem::new(member, check, message));
                continue;
            }
            Err(reason) => {
                let message = format!("{checksum:.16}… is not a multihash ({reason}): not checked");
                warnings.push(Problem::new(member, check, message));
                continue;
            }
        };
        // A header-only inspection reads no data.
        let Some(digests) = digests else { continue };
        match digests.get(member).and_then(|d| d.get(&algorithm)) {
            Some(actual) if digest_matches(&expected, actual) => {
                if algorithm.is_weak() {
                    let message =
                        format!("matches, but {algorithm} is a weak hash: it catches accidents, not tampering");
                    warnings.push(Problem::new(member, check, message));
                }
            }
            Some(actual) => {
                let actual = Multihash::encode(algorithm, &actual[..expected.len().min(actual.len())]);
                problems.push(Problem::mismatch(member, check, "checksum", checksum.to_ascii_lowercase(), actual));
            }
            None => warnings.push(Problem::new(
                member,
                check,
                format!(
                    "{algorithm} was not computed: the STAC item comes after this member in the zip and could not be \
                     read ahead; `wyvern verify` of the saved zip checks it"
                ),
            )),
        }
    }
}

/// `proj:shape` and the band count against the imagery's GeoTIFF header.
fn check_imagery(item: &Item, entries: &[EntryReport], rasters: &[Raster], problems: &mut Vec<Problem>) {
    let data_member = item
        .assets
        .iter()
        .find(|a| a.roles.iter().any(|r| r == "data"))
        .and_then(|a| a.member.clone())
        .or_else(|| entries.iter().find(|e| e.kind == Kind::Imagery).map(|e| e.name.clone()));
    let Some(raster) = data_member.and_then(|m| rasters.iter().find(|r| r.name == m)) else { return };
    if let Some(shape) = &item.shape {
        let actual = vec![u64::from(raster.height), u64::from(raster.width)];
        if *shape != actual {
            problems.push(Problem::mismatch(
                &raster.name,
                "proj:shape",
                "proj:shape (rows, columns)",
                format!("{shape:?}"),
                format!("{actual:?}"),
            ));
        }
    }
    for (key, count) in &item.band_lists {
        if *count != raster.bands as usize {
            problems.push(Problem::mismatch(
                &raster.name,
                "band-count",
                &format!("band count ({key})"),
                count.to_string(),
                raster.bands.to_string(),
            ));
        }
    }
}
