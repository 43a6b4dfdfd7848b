//! `wyvern report`: one static, self-contained HTML page of what a destination holds. Per
//! deliverable: its thumbnail (scaled down, embedded as a data URI), date, platform, level, cloud
//! cover, bands, sizes, and the verification verdict with its checksums; and one inline SVG map of
//! every footprint. No script, no network, no font or style from elsewhere: it opens the same from
//! a disk, a bucket or a mail attachment.
//!
//! The page is written as it is made: the facts of every deliverable first (small), then one
//! thumbnail at a time, so memory does not grow with the number of deliverables' pictures.

mod api;
mod map;

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use base64::Engine as _;
use futures::StreamExt;
use wyvern_sinks::atomic::{AtomicFile, blocking};
use wyvern_sinks::{ObjectPath, Sink};
use wyvern_unpack::{EntryReport, Item, Kind, Picture};

use crate::holdings::{CATALOG, Held, Objects, extracted_item, holdings, nothing_there, under, zipped_item};
use crate::receipt::Receipt;
use crate::zipfile::ZipFile;
use crate::{Error, Result};

/// Thumbnails are scaled to fit this many pixels across and down.
const THUMBNAIL: u32 = 192;
/// The most of a thumbnail (or preview) member read to make one.
pub(crate) const PICTURE_LIMIT: usize = 64 << 20;
/// Deliverables read at once.
const CONCURRENCY: usize = 8;

pub use api::{report_api, write_api};

/// What the page says of one deliverable.
struct Card {
    at: At,
    receipt: Option<Receipt>,
    /// Whether the receipt still vouches for what is at the destination, else why not.
    vouched: std::result::Result<(), String>,
    item: Option<Item>,
    /// Members and their total size.
    members: Option<(usize, u64)>,
    picture: Option<PictureAt>,
    problem: Option<String>,
}

/// Where a deliverable is.
enum At {
    /// At a destination a sync wrote to.
    Held(Held, Arc<dyn Sink>),
    /// At the API, not downloaded.
    Api(api::AtApi),
}

impl Card {
    fn order(&self) -> &Option<String> {
        match &self.at {
            At::Held(held, _) => &held.order,
            At::Api(api) => &api.order,
        }
    }

    fn id(&self) -> &str {
        match &self.at {
            At::Held(held, _) => held.deliverable(),
            At::Api(api) => api.id.as_str(),
        }
    }

    /// Its zip's size: as its receipt records it, or as the API serves it.
    fn bytes(&self) -> u64 {
        match &self.at {
            At::Held(..) => self.receipt.as_ref().map_or(0, |r| r.bytes),
            At::Api(api) => api.sizes.map_or(0, |(bytes, _)| bytes),
        }
    }
}

/// Where a deliverable's thumbnail is.
enum PictureAt {
    Member(EntryReport),
    File(ObjectPath, u64),
}

/// How many deliverables the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Deliverables shown.
    pub deliverables: usize,
    /// Of which with a thumbnail.
    pub thumbnails: usize,
}

/// Writes the report of everything at `sink` to `out`, grouped by order. `links`: the href of
/// the destination's root as seen from the page (a relative path, `""` when the page is in it),
/// when the page can link to the files (a local destination).
pub async fn report(sink: &Arc<dyn Sink>, out: &mut (dyn Write + Send), links: Option<&str>) -> Result<Written> {
    let (objects, mut held) = holdings(sink).await?;
    if held.is_empty() {
        return Err(nothing_there(sink));
    }
    held.sort_by(|a, b| (&a.order, &a.base).cmp(&(&b.order, &b.base)));
    let objects = &objects;
    let cards: Vec<Card> =
        futures::stream::iter(held).map(|held| card(sink, held, objects)).buffered(CONCURRENCY).collect().await;
    let catalog = links.filter(|_| objects.contains_key(CATALOG));
    page(out, &escape(&sink.location()), &cards, catalog, links).await
}

/// Writes the page of `cards` (sorted by order), found at `location` (HTML).
async fn page(
    out: &mut (dyn Write + Send),
    location: &str,
    cards: &[Card],
    catalog: Option<&str>,
    links: Option<&str>,
) -> Result<Written> {
    let io = |e: std::io::Error| Error::Io { action: "writing", path: "the report".to_owned(), source: e };
    out.write_all(head(location, cards, catalog).as_bytes()).map_err(io)?;
    let mut written = Written { deliverables: cards.len(), thumbnails: 0 };
    for (number, card) in cards.iter().enumerate() {
        let previous = number.checked_sub(1).map(|i| cards[i].order());
        if previous != Some(card.order()) {
            if previous.is_some() {
                out.write_all(b"</div></section>\n").map_err(io)?;
            }
            out.write_all(order_heading(&cards[number..], card.order()).as_bytes()).map_err(io)?;
        }
        let thumbnail = match &card.picture {
            Some(at) => thumbnail(&card.at, at).await,
            None => Err("the deliverable has no thumbnail".to_owned()),
        };
        written.thumbnails += usize::from(thumbnail.is_ok());
        out.write_all(article(number + 1, card, thumbnail, links).as_bytes()).map_err(io)?;
    }
    out.write_all(b"</div></section>\n</main>\n</body>\n</html>\n").map_err(io)?;
    Ok(written)
}

/// The heading of an order's group (`cards` start with its first).
fn order_heading(cards: &[Card], order: &Option<String>) -> String {
    let count = cards.iter().take_while(|card| card.order() == order).count() as u64;
    let name =
        order.as_deref().map_or_else(|| "Deliverables of no order".to_owned(), |o| format!("Order {}", escape(o)));
    let anchor = order.as_deref().map_or_else(|| "none".to_owned(), escape);
    format!(
        "<section class=\"order\" id=\"o-{anchor}\"><h2>{name} <small>· {}</small></h2>\n<div class=\"cards\">\n",
        wyvern_core::counted(count, "deliverable", "deliverables")
    )
}

/// An href to `path` at the destination, from the page (percent-encoded as the catalog's are,
/// then escaped for the attribute); `./` first unless it climbs, so that a folder named `run:1`
/// is not read as a URL scheme.
fn href(links: &str, path: &str) -> String {
    let relative = if links.starts_with("../") { String::new() } else { "./".to_owned() };
    escape(&format!("{relative}{}", crate::catalog::href_path(&format!("{links}{path}"))))
}

/// Writes the report of everything at `sink` to the file `output`, whole or not at all (an
/// [`AtomicFile`], readable by all: a page to share), so a failed run leaves no half page.
pub async fn write(sink: &Arc<dyn Sink>, output: &std::path::Path) -> Result<Written> {
    let mut page = create(output).await?;
    let links = links_from(output, &sink.location()).await;
    // Written to the page's buffer; what reaches the disk goes in 8 KiB writes.
    let written = report(sink, &mut page, links.as_deref()).await?;
    commit(page, output).await?;
    Ok(written)
}

/// The page at `output`, replaced only when it is complete ([`commit`]).
async fn create(output: &std::path::Path) -> Result<AtomicFile> {
    // What is there is replaced only when it is a file (a device or a pipe would be written to,
    // or replaced by a file, as root).
    if let Ok(meta) = tokio::fs::metadata(output).await
        && !meta.is_file()
    {
        return Err(Error::Invalid {
            message: format!("{} is there and is not a regular file", output.display()),
            hint: Some("give the path of a new file, or of a report to replace".to_owned()),
        });
    }
    let io = |action: &'static str| {
        let path = output.display().to_string();
        move |source| Error::Io { action, path: path.clone(), source }
    };
    let target = output.to_path_buf();
    blocking(move || AtomicFile::create(&target, 0o644)).await.map_err(io("writing"))
}

/// Puts the complete page in place.
async fn commit(page: AtomicFile, output: &std::path::Path) -> Result<()> {
    let path = output.display().to_string();
    blocking(move || page.commit()).await.map_err(|source| Error::Io { action: "writing", path, source })
}

/// The href of a local destination's root from the page at `output` (`a/b/` or `../dest/`);
/// `None` for a bucket (its objects have no URL a browser opens), or when either path cannot be
/// resolved.
async fn links_from(output: &std::path::Path, location: &str) -> Option<String> {
    if location.contains("://") {
        return None;
    }
    let folder = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let (page, root) = (tokio::fs::canonicalize(folder).await.ok()?, tokio::fs::canonicalize(location).await.ok()?);
    let (from, to): (Vec<_>, Vec<_>) = (page.components().collect(), root.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut href = "../".repeat(from.len() - common);
    for part in &to[common..] {
        href.push_str(part.as_os_str().to_str()?);
        href.push('/');
    }
    Some(href)
}

/// Reads what the page says of a deliverable: its receipt, item and members.
async fn card(sink: &Arc<dyn Sink>, held: Held, objects: &Objects) -> Card {
    let receipt = held.read_receipt(sink).await;
    let (read, vouched) = match &receipt {
        Ok(receipt) => (Some(card_of(sink, &held, receipt, objects).await), held.vouched(receipt, objects)),
        Err(_) => (None, Ok(())),
    };
    let at = At::Held(held, sink.clone());
    let mut card = Card { at, receipt: None, vouched, item: None, members: None, picture: None, problem: None };
    match receipt {
        Ok(receipt) => card.receipt = Some(receipt),
        Err(e) => card.problem = Some(crate::error_line(&e)),
    }
    match read {
        Some(Ok((item, members, picture))) => {
            (card.item, card.members, card.picture) = (Some(item), Some(members), picture);
        }
        Some(Err(e)) => card.problem = Some(crate::error_line(&e)),
        None => {}
    }
    card
}

/// What the card of `held` needs, as its receipt says where its members are.
async fn card_of(sink: &Arc<dyn Sink>, held: &Held, receipt: &Receipt, objects: &Objects) -> Result<Read> {
    match &receipt.extracted {
        Some(extracted) => extracted_card(sink, &extracted.folder, objects).await,
        None => zipped_card(sink, held).await,
    }
}

/// What a deliverable's card needs: its item, its members' count and size, its thumbnail.
type Read = (Item, (usize, u64), Option<PictureAt>);

async fn zipped_card(sink: &Arc<dyn Sink>, held: &Held) -> Result<Read> {
    let (inspection, item) = zipped_item(sink, held).await?;
    let members = (inspection.entries.len(), inspection.entries.iter().map(|e| e.size).sum());
    let wanted = picture_member(&item, |name| inspection.entries.iter().any(|e| e.name == name));
    let picture = wanted.and_then(|name| inspection.entries.iter().find(|e| e.name == name).cloned());
    Ok((item, members, picture.map(PictureAt::Member)))
}

async fn extracted_card(sink: &Arc<dyn Sink>, folder: &str, objects: &Objects) -> Result<Read> {
    let (item, _) = extracted_item(sink, folder, objects).await?;
    let prefix = format!("{folder}/");
    let files = under(objects, folder);
    let members = (files.len(), files.iter().map(|(_, o)| o.size).sum());
    let wanted = picture_member(&item, |name| objects.contains_key(&format!("{prefix}{name}")));
    let picture = wanted.and_then(|name| {
        let object = objects.get(&format!("{prefix}{name}"))?;
        Some(PictureAt::File(object.path.clone(), object.size))
    });
    Ok((item, members, picture))
}

/// The member to draw: the item's thumbnail, else its overview, else a member named so; PNGs
/// only.
pub(crate) fn picture_member(item: &Item, exists: impl Fn(&str) -> bool) -> Option<String> {
    let by_role = |kind: Kind| {
        item.assets
            .iter()
            .filter(|asset| Kind::from_roles(&asset.roles) == Some(kind))
            .filter_map(|asset| asset.member.clone())
            .find(|member| member.to_ascii_lowercase().ends_with(".png") && exists(member))
    };
    by_role(Kind::Thumbnail).or_else(|| by_role(Kind::Preview))
}

/// The thumbnail as a data URI: the PNG read, scaled down and encoded again.
async fn thumbnail(card: &At, at: &PictureAt) -> std::result::Result<String, String> {
    let bytes = match (card, at) {
        (At::Held(_, sink), PictureAt::File(path, size)) => {
            if *size > PICTURE_LIMIT as u64 {
                return Err(format!("the picture is larger than {PICTURE_LIMIT} bytes"));
            }
            sink.get_range(path, 0..*size).await.map(|b| b.to_vec()).map_err(|e| e.to_string())?
        }
        (At::Held(held, sink), PictureAt::Member(entry)) => {
            let path = held.zip_path().map_err(|e| e.to_string())?;
            let shown = format!("{}/{path}", sink.location());
            let file = ZipFile::Remote { sink: sink.clone(), path, shown };
            file.read_member(entry, PICTURE_LIMIT).await.map_err(|e| crate::error_line(&e))?
        }
        (At::Api(api), PictureAt::Member(entry)) => api.read_member(entry).await.map_err(|e| crate::error_line(&e))?,
        (At::Api(_), PictureAt::File(..)) => return Err("a deliverable at the API has no files".to_owned()),
    };
    let picture = tokio::task::spawn_blocking(move || Picture::from_png(&bytes, THUMBNAIL, THUMBNAIL))
        .await
        .map_err(|e| e.to_string())??;
    let png = base64::engine::general_purpose::STANDARD.encode(picture.to_png());
    Ok(format!("data:image/png;base64,{png}"))
}

/// Text for HTML: `&`, `<`, `>`, and both quotes escaped (item fields come from the zips).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A size in bytes, binary units.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f4f5f7}\
header{background:#1d2430;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}\
header p{margin:4px 0 0;color:#c8ceda}main{padding:16px 24px}section.map svg{background:#dfe7ef;\
border:1px solid #b9c3cf;max-width:100%;height:auto}.cards{display:grid;gap:16px;\
grid-template-columns:repeat(auto-fill,minmax(420px,1fr))}article{background:#fff;border:1px solid #d5dae1;\
border-radius:6px;padding:12px;display:grid;grid-template-columns:200px 1fr;gap:12px}article h2{font-size:14px;\
margin:0 0 6px;overflow-wrap:anywhere;grid-column:1/3}img.thumb{width:192px;image-rendering:auto;border:1px solid #ccc}\
.nothumb{width:192px;height:120px;display:flex;align-items:center;justify-content:center;background:#eee;color:#777;\
font-size:12px;text-align:center}dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px}\
dt{color:#5b6473}dd{margin:0;overflow-wrap:break-word;min-width:0}.ok{color:#0a7a32;font-weight:600}.bad{color:#b3261e;\
font-weight:600}.warn{color:#8a5a00}details{grid-column:1/3}summary{cursor:pointer;color:#5b6473}\
table{border-collapse:collapse;font-size:12px;width:100%;table-layout:fixed}\
td,th{border-top:1px solid #e4e7eb;padding:2px 4px;text-align:left;vertical-align:top;overflow-wrap:break-word}\
code{font-size:11px;overflow-wrap:anywhere}section.order h2{font-size:16px;margin:20px 0 8px}\
section.order small{color:#5b6473;font-weight:normal}.maps{display:flex;gap:12px;align-items:flex-start;\
flex-wrap:wrap}svg.overview{border:1px solid #b9c3cf}a{color:#1a5fb4}";

/// The page's start: its head, the summary (with a link to the catalog, `catalog`'s href
/// prefix, when there is one) and the map.
fn head(location: &str, cards: &[Card], catalog: Option<&str>) -> String {
    let verified = cards.iter().filter(|c| c.receipt.as_ref().is_some_and(|r| r.verified) && c.vouched.is_ok()).count();
    let bytes: u64 = cards.iter().map(Card::bytes).sum();
    let downloaded = cards.iter().any(|c| matches!(c.at, At::Held(..)));
    let state =
        if downloaded { format!("{verified} verified ·") } else { "not downloaded: a full download is".to_owned() };
    let catalog =
        catalog.map_or_else(String::new, |links| format!(" · <a href=\"{}\">STAC catalog</a>", href(links, CATALOG)));
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Wyvern deliverables at {location}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>Wyvern deliverables</h1><p>{location} · {} · {state} {}{catalog}</p></header>\n<main>\n",
        wyvern_core::counted(cards.len() as u64, "deliverable", "deliverables"),
        size(bytes)
    );
    let footprints: Vec<map::Footprint> = cards
        .iter()
        .enumerate()
        .filter_map(|(i, card)| {
            let rings = map::rings(card.item.as_ref()?);
            (!rings.is_empty()).then(|| map::Footprint { number: i + 1, id: card.id().to_owned(), rings })
        })
        .collect();
    page.push_str(&map::section(&footprints));
    page
}

/// One deliverable's card.
fn article(number: usize, card: &Card, thumbnail: std::result::Result<String, String>, links: Option<&str>) -> String {
    let id = escape(card.id());
    let mut html = format!("<article class=\"card\" id=\"d-{id}\">\n<h2>{number}. {id}</h2>\n");
    match thumbnail {
        Ok(uri) => {
            let _ = writeln!(html, "<img class=\"thumb\" alt=\"thumbnail of {id}\" src=\"{uri}\">");
        }
        Err(why) => {
            let _ = writeln!(html, "<div class=\"nothumb\">no thumbnail: {}</div>", escape(&why));
        }
    }
    html.push_str("<dl>\n");
    let mut row = |term: &str, value: String| {
        let _ = writeln!(html, "<dt>{term}</dt><dd>{value}</dd>");
    };
    row("Order", escape(card.order().as_deref().unwrap_or("(none)")));
    if let (Some(links), Some(receipt), At::Held(held, _)) = (links, &card.receipt, &card.at) {
        row("Files", files(links, held, receipt));
    }
    let item = card.item.as_ref();
    let text = |value: Option<&String>| value.map_or_else(|| "—".to_owned(), |v| escape(v));
    row("Date", text(item.and_then(|i| i.datetime.as_ref())));
    row("Platform", text(item.and_then(|i| i.platform.as_ref())));
    row("Level", text(item.and_then(|i| i.processing_level.as_ref())));
    // As the item gives it: 0.02 stays 0.02.
    row("Cloud cover", item.and_then(|i| i.cloud_cover).map_or_else(|| "—".to_owned(), |c| format!("{c} %")));
    row("Bands", item.map_or_else(|| "—".to_owned(), bands));
    if let At::Api(api::AtApi { sizes: Some((bytes, read)), .. }) = &card.at {
        let members = card.members.map_or_else(String::new, |(n, bytes)| {
            format!(" ({}, {})", wyvern_core::counted(n as u64, "member", "members"), size(bytes))
        });
        row("Full download", format!("{}{members}", size(*bytes)));
        row("Inspected", api::AtApi::inspected(*bytes, *read));
    }
    if let Some(receipt) = &card.receipt {
        let members = card.members.map_or_else(String::new, |(n, bytes)| {
            format!(" · {}, {}", wyvern_core::counted(n as u64, "member", "members"), size(bytes))
        });
        let selected = receipt.extracted.as_ref().and_then(|e| e.selected.as_ref());
        match selected {
            Some(selected) => row(
                "Size",
                format!("{}{members} chosen ({}), fetched", size(receipt.bytes), escape(&selected.chosen.to_string())),
            ),
            None => {
                let what = if receipt.extracted.is_some() { "extracted from a zip of" } else { "zip" };
                row("Size", format!("{what} {}{members}", size(receipt.bytes)));
            }
        }
        let verdict = match (&card.vouched, receipt.verified) {
            (Ok(()), true) if selected.is_some() => "<span class=\"ok\">verified</span> as they streamed: each \
                                                     chosen member's CRC-32 and size, its STAC size and checksum"
                .to_owned(),
            (Err(why), _) => format!(
                "<span class=\"bad\">not vouched for</span>: {}; its receipt no longer describes it (`wyvern verify` \
                 reads it again)",
                escape(why)
            ),
            (Ok(()), true) => "<span class=\"ok\">verified</span> while it streamed: every member's CRC-32 and size, \
                               the STAC sizes and checksums, the GeoTIFF headers"
                .to_owned(),
            (Ok(()), false) => "<span class=\"bad\">not verified</span> (downloaded with --no-verify)".to_owned(),
        };
        row("Verdict", verdict);
        row("Completed", escape(&receipt.completed_at));
        for warning in &receipt.warnings {
            row("Warning", format!("<span class=\"warn\">{}</span>", escape(warning)));
        }
    }
    if let Some(problem) = &card.problem {
        row("Problem", format!("<span class=\"bad\">{}</span>", escape(problem)));
    }
    html.push_str("</dl>\n");
    html.push_str(&checksums(card.receipt.as_ref(), card.vouched.is_ok(), item));
    html.push_str("</article>\n");
    html
}

/// Links to a deliverable's files: its zip (or the folder of its members), its receipt, and its
/// STAC item in the catalog when there is one.
fn files(links: &str, held: &Held, receipt: &Receipt) -> String {
    let base = &held.base;
    let data = match &receipt.extracted {
        Some(extracted) => format!("<a href=\"{}\">folder</a>", href(links, &format!("{}/", extracted.folder))),
        None => format!("<a href=\"{}\">zip</a>", href(links, &format!("{base}.zip"))),
    };
    let receipt = format!("<a href=\"{}\">receipt</a>", href(links, held.receipt.path.as_str()));
    let item = held
        .item
        .as_ref()
        .map_or_else(String::new, |item| format!(" · <a href=\"{}\">STAC item</a>", href(links, item.path.as_str())));
    format!("{data} · {receipt}{item}")
}

/// The bands in a few words: how many, and the first and last names.
fn bands(item: &Item) -> String {
    let names: Vec<&str> = item.bands.iter().filter_map(|b| b.name.as_deref()).collect();
    match (item.bands.len(), names.first(), names.last()) {
        (0, ..) => "—".to_owned(),
        (n, Some(first), Some(last)) if n > 1 => format!("{n} ({} … {})", escape(first), escape(last)),
        (n, Some(first), _) => format!("{n} ({})", escape(first)),
        (n, ..) => n.to_string(),
    }
}

/// The zip's SHA-256 (as its receipt records it) and the STAC assets' sizes and checksums (as
/// the item states them; verification checked them), folded away: shown on demand.
fn checksums(receipt: Option<&Receipt>, vouched: bool, item: Option<&Item>) -> String {
    let mut rows: Vec<String> = Vec::new();
    if let Some(receipt) = receipt.filter(|r| !r.sha256.is_empty()) {
        let what = if vouched { "zip SHA-256" } else { "zip SHA-256 when downloaded" };
        rows.push(format!(
            "<tr><td>{what}</td><td>{}</td><td><code>{}</code></td></tr>",
            size(receipt.bytes),
            escape(&receipt.sha256)
        ));
    }
    rows.extend(
        item.into_iter()
            .flat_map(|item| &item.assets)
            .filter(|asset| asset.size.is_some() || asset.checksum.is_some())
            .map(|asset| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape(&asset.key),
                    asset.size.map_or_else(String::new, size),
                    escape(asset.checksum.as_deref().unwrap_or(""))
                )
            }),
    );
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<details><summary>Checksums</summary><table><tr><th>what</th><th>size</th><th>checksum</th></tr>\n{}\n</table></details>\n",
        rows.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_zips_cannot_become_markup() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 << 20), "3.0 MiB");
    }
}
