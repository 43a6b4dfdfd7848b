//! The conformance suite: what every [`Sink`] must do, checked against a live sink.
//!
//! A sink crate runs it from a test:
//!
//! ```no_run
//! # async fn example(sink: std::sync::Arc<dyn wyvern_sinks::Sink>) {
//! wyvern_sinks::conformance::run(sink).await;
//! # }
//! ```
//!
//! Every check works under a fresh prefix (`conformance-<random>/`) and removes what it wrote.
//! A failed check panics with its name and what differed.

use std::sync::Arc;

use bytes::Bytes;

use crate::{ObjectPath, Sink};

type Check = Result<(), String>;

/// Runs every check against `sink`, panicking at the first that fails.
pub async fn run(sink: Arc<dyn Sink>) {
    if let Err(e) = sink.check().await {
        panic!("the destination check failed on {}: {e}", sink.location());
    }
    let root = ObjectPath::parse(&format!("conformance-{}", uuid::Uuid::new_v4().simple())).expect("valid prefix");
    let checks: [(&str, Check); 8] = [
        ("small objects round trip", small_round_trip(&*sink, &root.join("small").expect("path")).await),
        ("streaming multipart upload", streaming_upload(&*sink, &root.join("stream").expect("path")).await),
        ("abort and drop leave nothing", abort_leaves_nothing(&*sink, &root.join("abort").expect("path")).await),
        ("finish replaces atomically", replace(&*sink, &root.join("replace").expect("path")).await),
        ("list and head", list_and_head(&*sink, &root.join("list").expect("path")).await),
        ("receipts beside objects", receipts(&*sink, &root.join("receipts").expect("path")).await),
        ("concurrent writers", concurrent_writers(&sink, &root.join("concurrent").expect("path")).await),
        ("sealed uploads", sealed(&*sink, &root.join("sealed").expect("path")).await),
    ];
    for (name, outcome) in checks {
        if let Err(problem) = outcome {
            panic!("conformance check '{name}' failed on {}: {problem}", sink.location());
        }
    }
    cleanup(&*sink, &root).await;
}

async fn cleanup(sink: &dyn Sink, root: &ObjectPath) {
    if let Ok(objects) = sink.list(Some(root)).await {
        for object in objects {
            let _ = sink.delete(&object.path).await;
        }
    }
}

/// Deterministic incompressible bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, actual: T, expected: T) -> Check {
    if actual == expected { Ok(()) } else { Err(format!("{what}: expected {expected:?}, got {actual:?}")) }
}

fn fail(what: &str) -> impl Fn(crate::Error) -> String + '_ {
    move |e| {
        let mut text = format!("{what}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }
}

async fn read(sink: &dyn Sink, path: &ObjectPath) -> Result<Option<Bytes>, String> {
    sink.get_small(path, 64 << 20).await.map_err(fail("get_small"))
}

/// Uploads `content` in `chunk`-sized writes and finishes.
async fn upload_all(sink: &dyn Sink, path: &ObjectPath, content: &[u8], chunk: usize, hint: bool) -> Check {
    let mut upload =
        sink.start_upload(path, hint.then_some(content.len() as u64)).await.map_err(fail("start_upload"))?;
    for piece in content.chunks(chunk) {
        upload.write(Bytes::copy_from_slice(piece)).await.map_err(fail("write"))?;
    }
    upload.finish().await.map_err(fail("finish"))?;
    Ok(())
}

async fn small_round_trip(sink: &dyn Sink, base: &ObjectPath) -> Check {
    let path = base.join("a/b/receipt.json").map_err(|e| e.to_string())?;
    expect_eq("get_small of a missing object", read(sink, &path).await?, None)?;
    expect_eq("head of a missing object", sink.head(&path).await.map_err(fail("head"))?, None)?;
    sink.put_small(&path, Bytes::from_static(b"{\"v\":1}")).await.map_err(fail("put_small"))?;
    expect_eq("get_small", read(sink, &path).await?, Some(Bytes::from_static(b"{\"v\":1}")))?;
    let size = sink.head(&path).await.map_err(fail("head"))?.map(|i| i.size);
    expect_eq("head size", size, Some(7))?;
    sink.put_small(&path, Bytes::from_static(b"{\"v\":22}")).await.map_err(fail("put_small again"))?;
    expect_eq("get_small after overwrite", read(sink, &path).await?, Some(Bytes::from_static(b"{\"v\":22}")))?;
    let bounded = sink.get_small(&path, 7).await;
    if !matches!(bounded, Err(crate::Error::TooLarge { limit: 7, .. })) {
        return Err(format!("get_small of 8 bytes with a limit of 7: expected TooLarge, got {bounded:?}"));
    }
    expect_eq(
        "get_small at its limit",
        sink.get_small(&path, 8).await.map_err(fail("get_small"))?.map(|b| b.len()),
        Some(8),
    )?;
    sink.delete(&path).await.map_err(fail("delete"))?;
    expect_eq("get_small after delete", read(sink, &path).await?, None)?;
    sink.delete(&path).await.map_err(fail("delete of a missing object"))
}

async fn streaming_upload(sink: &dyn Sink, base: &ObjectPath) -> Check {
    // Over 20 MiB in 1 MiB writes: several parts for object stores (8 MiB parts).
    let content = data((20 << 20) + 123, 7);
    let path = base.join("deliverable.zip").map_err(|e| e.to_string())?;
    let mut upload = sink.start_upload(&path, Some(content.len() as u64)).await.map_err(fail("start_upload"))?;
    for (i, piece) in content.chunks(1 << 20).enumerate() {
        upload.write(Bytes::copy_from_slice(piece)).await.map_err(fail("write"))?;
        if i == 10 {
            expect_eq("head while uploading", sink.head(&path).await.map_err(fail("head"))?, None)?;
        }
    }
    let info = upload.finish().await.map_err(fail("finish"))?;
    expect_eq("finished size", info.size, content.len() as u64)?;
    let size = sink.head(&path).await.map_err(fail("head"))?.map(|i| i.size);
    expect_eq("head size", size, Some(content.len() as u64))?;
    expect_eq("content", read(sink, &path).await?.map(|b| b == content.as_slice()), Some(true))?;
    let len = content.len() as u64;
    for range in [0..10, 5_000_000..5_000_100, len - 64..len, len - 10..len + 100, len + 5..len + 10] {
        let got = sink.get_range(&path, range.clone()).await.map_err(fail("get_range"))?;
        let (start, end) = (range.start.min(len) as usize, range.end.min(len) as usize);
        expect_eq(&format!("bytes {range:?}"), got.as_ref(), &content[start..end])?;
    }

    // Without a size hint, with uneven writes.
    let content = data(3 << 20, 8);
    let path = base.join("no-hint.zip").map_err(|e| e.to_string())?;
    upload_all(sink, &path, &content, 777_777, false).await?;
    expect_eq("content without a size hint", read(sink, &path).await?.map(|b| b == content.as_slice()), Some(true))
}

async fn abort_leaves_nothing(sink: &dyn Sink, base: &ObjectPath) -> Check {
    let path = base.join("aborted.zip").map_err(|e| e.to_string())?;
    let mut upload = sink.start_upload(&path, Some(40 << 20)).await.map_err(fail("start_upload"))?;
    for piece in data(9 << 20, 9).chunks(1 << 20) {
        upload.write(Bytes::copy_from_slice(piece)).await.map_err(fail("write"))?;
    }
    upload.abort().await.map_err(fail("abort"))?;

    let dropped = base.join("dropped.zip").map_err(|e| e.to_string())?;
    let mut upload = sink.start_upload(&dropped, None).await.map_err(fail("start_upload"))?;
    upload.write(Bytes::from(data(1 << 20, 10))).await.map_err(fail("write"))?;
    drop(upload);

    expect_eq("head after abort", sink.head(&path).await.map_err(fail("head"))?, None)?;
    expect_eq("head after drop", sink.head(&dropped).await.map_err(fail("head"))?, None)?;
    let listed = sink.list(Some(base)).await.map_err(fail("list"))?;
    expect_eq("objects after abort and drop", listed, Vec::new())?;
    sink.check().await.map_err(fail("check"))?;
    let probes =
        sink.list(None).await.map_err(fail("list"))?.into_iter().filter(|o| o.path.as_str().contains(".wyvern-check"));
    expect_eq("objects left by a destination check", probes.count(), 0)
}

/// Many sealed uploads at once (as extraction holds its members until the zip is verified):
/// invisible until finished, no more writes accepted, and an abort or a drop still leaves nothing.
async fn sealed(sink: &dyn Sink, base: &ObjectPath) -> Check {
    let mut uploads = Vec::new();
    for i in 0..40u64 {
        let path = base.join(&format!("m{i}")).map_err(|e| e.to_string())?;
        let mut upload = sink.start_upload(&path, None).await.map_err(fail("start_upload"))?;
        // Some empty, some a few bytes, one over a part.
        let bytes = data(if i == 7 { 9 << 20 } else { (i as usize % 3) * 1000 }, i);
        if !bytes.is_empty() {
            upload.write(Bytes::from(bytes.clone())).await.map_err(fail("write"))?;
        }
        upload.seal().await.map_err(fail("seal"))?;
        upload.seal().await.map_err(fail("seal again"))?;
        if upload.write(Bytes::from_static(b"late")).await.is_ok() {
            return Err("a write after seal was accepted".to_owned());
        }
        uploads.push((path, upload, bytes));
    }
    expect_eq("objects while sealed", sink.list(Some(base)).await.map_err(fail("list"))?, Vec::new())?;
    let mut kept = Vec::new();
    for (i, (path, upload, bytes)) in uploads.into_iter().enumerate() {
        match i % 4 {
            0 => upload.abort().await.map_err(fail("abort after seal"))?,
            1 => drop(upload),
            _ => {
                upload.finish().await.map_err(fail("finish after seal"))?;
                kept.push((path, bytes));
            }
        }
    }
    sink.settle().await;
    for (path, bytes) in &kept {
        expect_eq("a sealed upload's content", read(sink, path).await?.map(|b| b == bytes.as_slice()), Some(true))?;
    }
    let listed = sink.list(Some(base)).await.map_err(fail("list"))?.len();
    expect_eq("objects after finishing half of the sealed uploads", listed, kept.len())
}

async fn replace(sink: &dyn Sink, base: &ObjectPath) -> Check {
    let path = base.join("d.zip").map_err(|e| e.to_string())?;
    upload_all(sink, &path, &data(100_000, 11), 30_000, true).await?;
    let newer = data(150_000, 12);
    let mut upload = sink.start_upload(&path, Some(newer.len() as u64)).await.map_err(fail("start_upload"))?;
    upload.write(Bytes::copy_from_slice(&newer[..70_000])).await.map_err(fail("write"))?;
    let old_size = sink.head(&path).await.map_err(fail("head"))?.map(|i| i.size);
    expect_eq("the old object stays whole while the new one uploads", old_size, Some(100_000))?;
    upload.write(Bytes::copy_from_slice(&newer[70_000..])).await.map_err(fail("write"))?;
    upload.finish().await.map_err(fail("finish"))?;
    expect_eq("replaced content", read(sink, &path).await?.map(|b| b == newer.as_slice()), Some(true))
}

async fn list_and_head(sink: &dyn Sink, base: &ObjectPath) -> Check {
    let mut expected = Vec::new();
    for (name, len) in [("o1/a.zip", 10), ("o1/a.receipt.json", 20), ("o2/b.zip", 30)] {
        let path = base.join(name).map_err(|e| e.to_string())?;
        sink.put_small(&path, Bytes::from(data(len, len as u64))).await.map_err(fail("put_small"))?;
        expected.push((path.to_string(), len as u64));
    }
    let mut listed: Vec<_> =
        sink.list(Some(base)).await.map_err(fail("list"))?.into_iter().map(|i| (i.path.to_string(), i.size)).collect();
    listed.sort();
    expected.sort();
    expect_eq("listed objects", listed, expected)?;
    let sub = base.join("o1").map_err(|e| e.to_string())?;
    let listed = sink.list(Some(&sub)).await.map_err(fail("list of a sub-prefix"))?;
    expect_eq("objects under the sub-prefix", listed.len(), 2)
}

async fn receipts(sink: &dyn Sink, base: &ObjectPath) -> Check {
    let zip = base.join("order/d.zip").map_err(|e| e.to_string())?;
    let receipt = base.join("order/d.receipt.json").map_err(|e| e.to_string())?;
    let content = data(2 << 20, 13);
    upload_all(sink, &zip, &content, 1 << 20, true).await?;
    let text = format!("{{\"bytes\":{}}}", content.len());
    sink.put_small(&receipt, Bytes::from(text.clone())).await.map_err(fail("put_small"))?;
    expect_eq("receipt", read(sink, &receipt).await?, Some(Bytes::from(text)))?;
    let size = sink.head(&zip).await.map_err(fail("head"))?.map(|i| i.size);
    expect_eq("zip beside the receipt", size, Some(content.len() as u64))
}

async fn concurrent_writers(sink: &Arc<dyn Sink>, base: &ObjectPath) -> Check {
    let writers = (0..4u64).map(|i| {
        let sink = sink.clone();
        let path = base.join(&format!("w{i}.zip")).map_err(|e| e.to_string());
        async move {
            let content = data(3 << 20, 100 + i);
            let path = path?;
            upload_all(&*sink, &path, &content, 256 << 10, true).await?;
            expect_eq(
                "content of a concurrent upload",
                read(&*sink, &path).await?.map(|b| b == content.as_slice()),
                Some(true),
            )
        }
    });
    for outcome in futures::future::join_all(writers).await {
        outcome?;
    }
    // Two writers of the same path: the object is one of them, whole. A store may refuse the
    // second commit (Azure discards uncommitted blocks when a block list is committed); it must
    // then say so, and the object is the other writer's.
    let path = base.join("same.zip").map_err(|e| e.to_string())?;
    let (first, second) = (data(1 << 20, 200), data(1 << 20, 201));
    let both = futures::future::join(
        upload_all(&**sink, &path, &first, 100_000, true),
        upload_all(&**sink, &path, &second, 100_000, true),
    );
    let (a, b) = both.await;
    let got = read(&**sink, &path).await?.unwrap_or_default();
    let whole = (a.is_ok() && got == first.as_slice()) || (b.is_ok() && got == second.as_slice());
    expect_eq("a successful writer's content, whole", whole, true)
}
