//! A deliverable's bytes as the replica serves them: ranges, ETags, and the faults a test asked
//! for (cuts, stalls, a slow or trickling link, a corrupt byte, a short body, an HTML page, an
//! encoding), read from the generated file on a thread of its own.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::faults::Fault;
use crate::server::{Served, Shared, error, lock};

/// The body of deliverable `id`, as `headers` ask for it and its faults say.
pub(crate) async fn serve(state: &Shared, id: &str, headers: &HeaderMap) -> Response {
    let served = match state.generated(id).await {
        Ok(served) => served,
        Err(e) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, &format!("generating the deliverable failed: {e:#}"));
        }
    };
    let faults = state.faults(id);
    if faults.contains(&Fault::HtmlPage) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><body><h1>Service temporarily unavailable</h1></body></html>",
        )
            .into_response();
    }
    let etag = etag(state, id, &served);
    if let Some(encoding) = faults.iter().find_map(|f| match f {
        Fault::Encoded { encoding } => Some(*encoding),
        _ => None,
    }) {
        return encoded(&served, encoding).await;
    }
    let ranges = !faults.contains(&Fault::IgnoreRange);
    let Ok(range) = requested(state, id, headers, &etag, &served) else {
        let unsatisfiable = [(header::CONTENT_RANGE, format!("bytes */{}", served.len))];
        return (StatusCode::RANGE_NOT_SATISFIABLE, unsatisfiable).into_response();
    };
    let from = range.map_or(0, |(first, _)| first);
    // Where the range ends (exclusive): a bounded range stops before the end of the file.
    let end = range.and_then(|(_, last)| last).map_or(served.len, |last| (last + 1).min(served.len));
    let shaping = Shaping::of(state, id, from..end, served.len);
    let file = match tokio::fs::File::open(&served.path).await {
        Ok(file) => file.into_std().await,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let sent = lock(&state.sent).entry(id.to_owned()).or_default().clone();
    let mut response = Response::new(Body::from_stream(shaping.body(file, from, sent)));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"x\"")));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.zip\"")) {
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if ranges {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if !faults.contains(&Fault::Chunked) {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - from));
    }
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(range) = HeaderValue::from_str(&format!("bytes {from}-{}/{}", end - 1, served.len)) {
            response.headers_mut().insert(header::CONTENT_RANGE, range);
        }
    }
    response
}

/// The deliverable's ETag: another once a "new version" fault has served its bodies.
fn etag(state: &Shared, id: &str, served: &Served) -> String {
    let new_version = state.faults(id).iter().enumerate().any(|(index, fault)| match *fault {
        Fault::NewVersionAfter { bodies } | Fault::NewVersionIgnoringIfRange { bodies } => {
            !state.fault_applies(id, index, bodies)
        }
        _ => false,
    });
    match new_version {
        true => format!("{}-v2\"", served.etag.trim_end_matches('"')),
        false => served.etag.clone(),
    }
}

/// A range past the end of the deliverable (answered with a 416).
struct Unsatisfiable;

/// The range to serve (first byte, last byte when bounded), `None` for the whole body.
fn requested(
    state: &Shared,
    id: &str,
    headers: &HeaderMap,
    etag: &str,
    served: &Served,
) -> Result<Option<(u64, Option<u64>)>, Unsatisfiable> {
    let faults = state.faults(id);
    let ranges = !faults.contains(&Fault::IgnoreRange);
    let ignores_if_range = faults.iter().any(|f| matches!(f, Fault::NewVersionIgnoringIfRange { .. }));
    let if_range_ok = ignores_if_range || headers.get(header::IF_RANGE).is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = headers
        .get(header::RANGE)
        .filter(|_| ranges && if_range_ok)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(first, last)| Some((first.parse::<u64>().ok()?, last.parse::<u64>().ok())));
    if range.is_some_and(|(first, last)| first >= served.len || last.is_some_and(|last| last < first)) {
        return Err(Unsatisfiable);
    }
    // A plain GET answered with part of the deliverable.
    if let Some(from) = faults.iter().find_map(|f| match f {
        Fault::PartialToPlainGet { from } => Some(*from),
        _ => None,
    }) && headers.get(header::RANGE).is_none()
    {
        return Ok(Some((from.min(served.len - 1), None)));
    }
    Ok(range)
}

/// What the faults do to one body of `range`.
struct Shaping {
    /// Where the bytes stop (a short body's end, or the range's).
    end: u64,
    /// The connection is cut here.
    cut: Option<u64>,
    /// The connection goes silent here.
    stall: Option<u64>,
    /// This byte is flipped.
    corrupt: Option<u64>,
    /// Bytes per second for the whole body.
    rate: Option<u64>,
    /// Past an offset, bytes per second in pieces of a tenth of a second's worth.
    trickle: Option<(u64, u64)>,
}

impl Shaping {
    fn of(state: &Shared, id: &str, range: Range<u64>, len: u64) -> Self {
        let mut shaping = Self { end: range.end, cut: None, stall: None, corrupt: None, rate: None, trickle: None };
        let within = |offset: u64| offset > range.start && offset < range.end;
        for (index, fault) in state.faults(id).iter().enumerate() {
            match *fault {
                Fault::CutAt { offset, times } if within(offset) && state.fault_applies(id, index, times) => {
                    shaping.cut = Some(offset);
                }
                Fault::Stall { offset, times } if within(offset) && state.fault_applies(id, index, times) => {
                    shaping.stall = Some(offset);
                }
                Fault::Throttle { bytes_per_sec } => shaping.rate = Some(bytes_per_sec.max(1)),
                Fault::Trickle { offset, bytes_per_sec, times }
                    if offset < range.end && state.fault_applies(id, index, times) =>
                {
                    shaping.trickle = Some((offset, bytes_per_sec.max(1)));
                }
                Fault::ShortBody { missing } => {
                    shaping.end = shaping.end.min(len.saturating_sub(missing)).max(range.start);
                }
                Fault::CorruptByte { offset } => shaping.corrupt = Some(offset),
                _ => {}
            }
        }
        shaping
    }

    /// The body from byte `from` of `file`, shaped; `sent` counts the bytes that went out.
    fn body(self, file: std::fs::File, from: u64, sent: Arc<AtomicU64>) -> impl Stream<Item = std::io::Result<Bytes>> {
        let Self { end, cut, stall, corrupt, rate, trickle } = self;
        let body = file_pieces(file, from..cut.or(stall).unwrap_or(end)).then(move |chunk| async move {
            if let (Some(rate), Ok(chunk)) = (rate, &chunk) {
                tokio::time::sleep(Duration::from_secs_f64(chunk.len() as f64 / rate as f64)).await;
            }
            chunk
        });
        let body = trickled(body, from, trickle);
        let mut position = from;
        let body = body.map(move |chunk| {
            let chunk = chunk?;
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            let chunk_start = position;
            position += chunk.len() as u64;
            Ok::<Bytes, std::io::Error>(match corrupt {
                Some(offset) if (chunk_start..position).contains(&offset) => {
                    let mut bytes = chunk.to_vec();
                    bytes[(offset - chunk_start) as usize] ^= 0xff;
                    bytes.into()
                }
                _ => chunk,
            })
        });
        // A cut ends the body with an error, which makes the server drop the connection. It
        // waits a moment first, so that the bytes before the cut are flushed and reach the
        // client.
        let tail = futures::stream::iter(cut).then(|_| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Err(std::io::Error::other("fault: connection cut"))
        });
        // A stall keeps the connection open and silent, until the client gives up.
        let tail = tail.chain(futures::stream::iter(stall).then(|_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err(std::io::Error::other("fault: stalled"))
        }));
        body.chain(tail)
    }
}

/// A trickle: past its offset, pieces of a tenth of a second's worth, each after its time.
fn trickled(
    body: impl Stream<Item = std::io::Result<Bytes>>,
    from: u64,
    trickle: Option<(u64, u64)>,
) -> impl Stream<Item = std::io::Result<Bytes>> {
    let mut at = from;
    body.flat_map(move |chunk| {
        let pieces: Vec<std::io::Result<Bytes>> = match (chunk, trickle) {
            (Ok(chunk), Some((offset, rate))) if at + chunk.len() as u64 > offset => {
                let fast = offset.saturating_sub(at) as usize;
                let piece = (rate / 10).max(1) as usize;
                let mut pieces = vec![Ok(chunk.slice(..fast))];
                pieces.extend(
                    (fast..chunk.len()).step_by(piece).map(|i| Ok(chunk.slice(i..(i + piece).min(chunk.len())))),
                );
                at += chunk.len() as u64;
                pieces
            }
            (chunk, _) => {
                at += chunk.as_ref().map_or(0, |c| c.len() as u64);
                vec![chunk]
            }
        };
        futures::stream::iter(pieces).then(move |piece| async move {
            if let (Some((_, rate)), Ok(piece)) = (trickle, &piece)
                && !piece.is_empty()
                && piece.len() as u64 <= (rate / 10).max(1)
            {
                tokio::time::sleep(Duration::from_secs_f64(piece.len() as f64 / rate as f64)).await;
            }
            piece
        })
    })
}

/// Bytes of a file served as they are read, in pieces of 64 KiB: read in large blocks on a thread
/// of their own (one read per MiB, no copy but the kernel's), so that the replica costs the
/// machine it shares with its clients as little as a static file server would.
fn file_pieces(
    mut file: std::fs::File,
    range: std::ops::Range<u64>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    const BLOCK: u64 = 1 << 20;
    const PIECE: usize = 64 << 10;
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        if let Err(e) = file.seek(std::io::SeekFrom::Start(range.start)) {
            let _ = sender.blocking_send(Err(e));
            return;
        }
        let mut left = range.end.saturating_sub(range.start);
        while left > 0 {
            let mut block = Vec::with_capacity(BLOCK.min(left) as usize);
            let read = match (&mut file).take(BLOCK.min(left)).read_to_end(&mut block) {
                Ok(0) => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file is shorter")),
                other => other,
            };
            let block = match read {
                Ok(n) => {
                    left -= n as u64;
                    Ok(Bytes::from(block))
                }
                Err(e) => Err(e),
            };
            let failed = block.is_err();
            if sender.blocking_send(block).is_err() || failed {
                return;
            }
        }
    });
    let blocks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|block| (block, receiver))
    });
    blocks.flat_map(|block| {
        let pieces: Vec<std::io::Result<Bytes>> = match block {
            Ok(block) => {
                (0..block.len()).step_by(PIECE).map(|i| Ok(block.slice(i..(i + PIECE).min(block.len())))).collect()
            }
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(pieces)
    })
}

/// The whole deliverable under a `Content-Encoding` (see [`Fault::Encoded`]).
async fn encoded(served: &Served, encoding: &str) -> Response {
    let bytes = match tokio::fs::read(&served.path).await {
        Ok(bytes) => bytes,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let body = if encoding == "gzip" {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &bytes).and_then(|()| encoder.finish()).unwrap_or_default()
    } else {
        bytes
    };
    let encoding = HeaderValue::from_str(encoding).unwrap_or(HeaderValue::from_static("x-unknown"));
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CONTENT_ENCODING, encoding);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}
