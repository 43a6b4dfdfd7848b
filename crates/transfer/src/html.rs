//! `wyvern report`: one static, self-contained HTML page of what a destination holds. Per
//! deliverable: its thumbnail (scaled down, embedded as a data URI), date, platform, level, cloud
//! cover, bands, sizes, and the verification verdict with its checksums; and one inline SVG map of
//! every footprint. No script, no network, no font or style from elsewhere: it opens the same from
//! a disk, a bucket or a mail attachment.
//!
//! The page is written as it is made: the facts of every deliverable first (small), then one
//! thumbnail at a time, so memory does not grow with the number of deliverables' pictures.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use base64::Engine as _;
use futures::StreamExt;
use wyvern_sinks::atomic::{AtomicFile, blocking};
use wyvern_sinks::{ObjectPath, Sink};
use wyvern_unpack::document::on_earth;
use wyvern_unpack::{EntryReport, Item, Kind, Picture};

use crate::holdings::{Held, Objects, extracted_item, holdings, nothing_there, under, zipped_item};
use crate::receipt::Receipt;
use crate::zipfile::ZipFile;
use crate::{Error, Result};

/// Thumbnails are scaled to fit this many pixels across and down.
const THUMBNAIL: u32 = 192;
/// The most of a thumbnail (or preview) member read to make one.
pub(crate) const PICTURE_LIMIT: usize = 64 << 20;
/// Deliverables read at once.
const CONCURRENCY: usize = 8;
const MAP_WIDTH: f64 = 800.0;
/// The most vertices of one deliverable's footprint drawn on the map.
const MAP_POINTS: usize = 256;
const MAP_HEIGHT: f64 = 480.0;

/// What the page says of one deliverable.
struct Card {
    held: Held,
    receipt: Option<Receipt>,
    /// Whether the receipt still vouches for what is at the destination, else why not.
    vouched: std::result::Result<(), String>,
    item: Option<Item>,
    /// Members and their total size.
    members: Option<(usize, u64)>,
    picture: Option<PictureAt>,
    problem: Option<String>,
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

/// Writes the report of everything at `sink` to `out`.
pub async fn report(sink: &Arc<dyn Sink>, out: &mut (dyn Write + Send)) -> Result<Written> {
    let (objects, held) = holdings(sink).await?;
    if held.is_empty() {
        return Err(nothing_there(sink));
    }
    let objects = &objects;
    let cards: Vec<Card> =
        futures::stream::iter(held).map(|held| card(sink, held, objects)).buffered(CONCURRENCY).collect().await;
    let io = |e: std::io::Error| Error::Io { action: "writing", path: "the report".to_owned(), source: e };
    out.write_all(head(&sink.location(), &cards).as_bytes()).map_err(io)?;
    let mut written = Written { deliverables: cards.len(), thumbnails: 0 };
    for (number, card) in cards.iter().enumerate() {
        let thumbnail = match &card.picture {
            Some(at) => thumbnail(sink, &card.held, at).await,
            None => Err("the deliverable has no thumbnail".to_owned()),
        };
        written.thumbnails += usize::from(thumbnail.is_ok());
        out.write_all(article(number + 1, card, thumbnail).as_bytes()).map_err(io)?;
    }
    out.write_all(b"</main>\n</body>\n</html>\n").map_err(io)?;
    Ok(written)
}

/// Writes the report of everything at `sink` to the file `output`, whole or not at all (an
/// [`AtomicFile`], readable by all: a page to share), so a failed run leaves no half page.
pub async fn write(sink: &Arc<dyn Sink>, output: &std::path::Path) -> Result<Written> {
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
    let mut page = blocking(move || AtomicFile::create(&target, 0o644)).await.map_err(io("writing"))?;
    // Written to the page's buffer; what reaches the disk goes in 8 KiB writes.
    let written = report(sink, &mut page).await?;
    blocking(move || page.commit()).await.map_err(io("writing"))?;
    Ok(written)
}

/// Reads what the page says of a deliverable: its receipt, item and members.
async fn card(sink: &Arc<dyn Sink>, held: Held, objects: &Objects) -> Card {
    let mut card =
        Card { held, receipt: None, vouched: Ok(()), item: None, members: None, picture: None, problem: None };
    let receipt = match card.held.read_receipt(sink).await {
        Ok(receipt) => receipt,
        Err(e) => {
            card.problem = Some(crate::error_line(&e));
            return card;
        }
    };
    let read = match &receipt.extracted {
        Some(extracted) => extracted_card(sink, &extracted.folder, objects).await,
        None => zipped_card(sink, &card.held).await,
    };
    match read {
        Ok((item, members, picture)) => (card.item, card.members, card.picture) = (Some(item), Some(members), picture),
        Err(e) => card.problem = Some(crate::error_line(&e)),
    }
    card.vouched = card.held.vouched(&receipt, objects);
    card.receipt = Some(receipt);
    card
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
async fn thumbnail(sink: &Arc<dyn Sink>, held: &Held, at: &PictureAt) -> std::result::Result<String, String> {
    let bytes = match at {
        PictureAt::File(path, size) => {
            if *size > PICTURE_LIMIT as u64 {
                return Err(format!("the picture is larger than {PICTURE_LIMIT} bytes"));
            }
            sink.get_range(path, 0..*size).await.map(|b| b.to_vec()).map_err(|e| e.to_string())?
        }
        PictureAt::Member(entry) => {
            let path = held.zip_path().map_err(|e| e.to_string())?;
            let shown = format!("{}/{path}", sink.location());
            let file = ZipFile::Remote { sink: sink.clone(), path, shown };
            file.read_member(entry, PICTURE_LIMIT).await.map_err(|e| crate::error_line(&e))?
        }
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
margin:0 0 6px;word-break:break-all;grid-column:1/3}img.thumb{width:192px;image-rendering:auto;border:1px solid #ccc}\
.nothumb{width:192px;height:120px;display:flex;align-items:center;justify-content:center;background:#eee;color:#777;\
font-size:12px;text-align:center}dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px}\
dt{color:#5b6473}dd{margin:0;word-break:break-all}.ok{color:#0a7a32;font-weight:600}.bad{color:#b3261e;\
font-weight:600}.warn{color:#8a5a00}table{grid-column:1/3;border-collapse:collapse;font-size:12px;width:100%}\
td,th{border-top:1px solid #e4e7eb;padding:2px 4px;text-align:left;vertical-align:top;word-break:break-all}\
code{font-size:11px}";

/// The page's start: its head, the summary and the map.
fn head(location: &str, cards: &[Card]) -> String {
    let verified = cards.iter().filter(|c| c.receipt.as_ref().is_some_and(|r| r.verified) && c.vouched.is_ok()).count();
    let bytes: u64 = cards.iter().filter_map(|c| c.receipt.as_ref()).map(|r| r.bytes).sum();
    let location = escape(location);
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Wyvern deliverables at {location}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>Wyvern deliverables</h1><p>{location} · {} · {verified} verified · {}</p></header>\n<main>\n",
        wyvern_core::counted(cards.len() as u64, "deliverable", "deliverables"),
        size(bytes)
    );
    page.push_str(&map(cards));
    page.push_str("<section class=\"cards\">\n");
    page
}

/// A footprint's outer rings, as longitude, latitude.
type Rings = Vec<Vec<[f64; 2]>>;

/// The footprint's outer rings (polygons and multipolygons, at most [`MAP_POINTS`] vertices in
/// all, on Earth), else its bbox.
fn rings(item: &Item) -> Rings {
    let found: Rings = item
        .document
        .geometry
        .as_ref()
        .map(|footprint| footprint.outer_rings(MAP_POINTS))
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

/// One inline SVG of every footprint (an equirectangular view of their extent), each linked to
/// its deliverable and numbered as the list is.
fn map(cards: &[Card]) -> String {
    let shapes: Vec<(usize, &Card, Rings)> = cards
        .iter()
        .enumerate()
        .filter_map(|(i, card)| Some((i + 1, card, rings(card.item.as_ref()?))))
        .filter(|(_, _, rings)| !rings.is_empty())
        .collect();
    let all = shapes.iter().flat_map(|(_, _, rings)| rings.iter().flatten());
    let (mut west, mut south, mut east, mut north) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &[x, y] in all {
        (west, south, east, north) = (west.min(x), south.min(y), east.max(x), north.max(y));
    }
    if shapes.is_empty() {
        return "<section class=\"map\"><h2>Footprints</h2><p>No deliverable has a footprint.</p></section>\n"
            .to_owned();
    }
    let pad = ((east - west).max(north - south) * 0.1).max(0.001);
    let (west, south, east, north) = (west - pad, south - pad, east + pad, north + pad);
    let squeeze = ((south + north) / 2.0).to_radians().cos().max(0.05);
    let scale = (MAP_WIDTH / ((east - west) * squeeze)).min(MAP_HEIGHT / (north - south));
    let (width, height) = ((east - west) * squeeze * scale, (north - south) * scale);
    let project = |[x, y]: [f64; 2]| ((x - west) * squeeze * scale, (north - y) * scale);
    let mut svg = format!(
        "<section class=\"map\"><h2>Footprints</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {width:.1} {height:.1}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" \
         aria-label=\"footprints of {}\">\n",
        wyvern_core::counted(shapes.len() as u64, "deliverable", "deliverables")
    );
    for (number, card, rings) in &shapes {
        let hue = (number * 67) % 360;
        let id = escape(card.held.deliverable());
        let _ = write!(svg, "<a href=\"#d-{id}\"><title>{number}. {id}</title>");
        for ring in rings {
            let points: Vec<String> = ring.iter().map(|&p| project(p)).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(
                svg,
                "<polygon points=\"{}\" fill=\"hsl({hue},70%,50%)\" fill-opacity=\"0.3\" stroke=\"hsl({hue},70%,35%)\" \
                 stroke-width=\"1.5\"/>",
                points.join(" ")
            );
        }
        let ring = &rings[0];
        let (x, y) = project([
            ring.iter().map(|p| p[0]).sum::<f64>() / ring.len() as f64,
            ring.iter().map(|p| p[1]).sum::<f64>() / ring.len() as f64,
        ]);
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"12\" text-anchor=\"middle\">{number}</text></a>"
        );
    }
    let _ = write!(svg, "</svg>\n<p>{west:.4}° to {east:.4}° E, {south:.4}° to {north:.4}° N</p></section>\n");
    svg
}

/// One deliverable's card.
fn article(number: usize, card: &Card, thumbnail: std::result::Result<String, String>) -> String {
    let id = escape(card.held.deliverable());
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
    row("Order", escape(card.held.order.as_deref().unwrap_or("(none)")));
    let item = card.item.as_ref();
    let text = |value: Option<&String>| value.map_or_else(|| "—".to_owned(), |v| escape(v));
    row("Date", text(item.and_then(|i| i.datetime.as_ref())));
    row("Platform", text(item.and_then(|i| i.platform.as_ref())));
    row("Level", text(item.and_then(|i| i.processing_level.as_ref())));
    row("Cloud cover", item.and_then(|i| i.cloud_cover).map_or_else(|| "—".to_owned(), |c| format!("{c:.1} %")));
    row("Bands", item.map_or_else(|| "—".to_owned(), bands));
    if let Some(receipt) = &card.receipt {
        let members = card.members.map_or_else(String::new, |(n, bytes)| {
            format!(" · {}, {}", wyvern_core::counted(n as u64, "member", "members"), size(bytes))
        });
        let what = if receipt.extracted.is_some() { "extracted from a zip of" } else { "zip" };
        row("Size", format!("{what} {}{members}", size(receipt.bytes)));
        let verdict = match (&card.vouched, receipt.verified) {
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
        let sha = if card.vouched.is_ok() { "SHA-256" } else { "SHA-256 when downloaded" };
        row(sha, format!("<code>{}</code>", escape(&receipt.sha256)));
        row("Completed", escape(&receipt.completed_at));
        for warning in &receipt.warnings {
            row("Warning", format!("<span class=\"warn\">{}</span>", escape(warning)));
        }
    }
    if let Some(problem) = &card.problem {
        row("Problem", format!("<span class=\"bad\">{}</span>", escape(problem)));
    }
    html.push_str("</dl>\n");
    if let Some(item) = item {
        html.push_str(&checksums(item));
    }
    html.push_str("</article>\n");
    html
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

/// The STAC assets' sizes and checksums, as the item states them (verification checked them).
fn checksums(item: &Item) -> String {
    let rows: Vec<String> = item
        .assets
        .iter()
        .filter(|asset| asset.size.is_some() || asset.checksum.is_some())
        .map(|asset| {
            format!(
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&asset.key),
                asset.size.map_or_else(String::new, size),
                escape(asset.checksum.as_deref().unwrap_or(""))
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!("<table><tr><th>asset</th><th>file:size</th><th>file:checksum</th></tr>\n{}\n</table>\n", rows.join("\n"))
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
