//! Every layout the zip format allows is verified in one forward pass and listed the same way by
//! the random-access reader; every ambiguous one is refused by the pass and reported by the
//! reader.

use wyvern_unpack::{DigestPlan, Entry};

use crate::random;
use crate::writer::{Archive, Descriptor, Member, put16, put32, put64};

/// Bytes that look like nothing in particular.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by_key(|e| e.offset);
    entries.into_iter().map(|e| Entry { encrypted: false, ..e }).collect()
}

/// The forward pass's verdict (`ok: name size crc, ...` or `error: ...`) and the random-access
/// reader's (`ok`, or its problems, or its error). When the pass accepts, the reader must list
/// the same members and see nothing wrong with the structure: that is the property the fuzz
/// target checks too.
fn both(zip: &[u8]) -> (String, String) {
    let stream = crate::verify_whole_and_chunked(zip, &DigestPlan::unknown());
    let reader = random(zip.to_vec());
    if let Ok(listing) = &stream {
        let inspection = reader.as_ref().unwrap_or_else(|e| panic!("the pass accepts, the reader refuses: {e}"));
        assert!(!inspection.has_structure_problems(), "the pass accepts, the reader sees: {:?}", inspection.problems);
        let read: Vec<(String, u64, String)> =
            inspection.entries.iter().map(|e| (e.name.clone(), e.size, e.crc32.clone())).collect();
        let passed: Vec<(String, u64, String)> =
            listing.entries.iter().map(|e| (e.name.clone(), e.size, format!("{:08x}", e.crc32))).collect();
        let (mut read, mut passed) = (read, passed);
        read.sort();
        passed.sort();
        assert_eq!(read, passed, "both list the same members");
        assert_eq!(listing.bytes, zip.len() as u64);
    }
    let stream = match stream {
        Ok(listing) => format!(
            "ok: {}",
            sorted(listing.entries).iter().map(|e| format!("{} {}", e.name, e.size)).collect::<Vec<_>>().join(", ")
        ),
        Err(e) => format!("error: {e}"),
    };
    let reader = match reader {
        Ok(inspection) => {
            let structure: Vec<String> =
                inspection.problems.iter().filter(|p| p.check == "zip").map(|p| p.message.clone()).collect();
            if structure.is_empty() { "ok".to_owned() } else { structure.join("; ") }
        }
        Err(e) => e,
    };
    (stream, reader)
}

fn accepted(archive: &Archive) {
    let built = archive.build();
    let (stream, reader) = both(&built.bytes);
    let expected: Vec<String> = {
        let mut members: Vec<(u64, String)> = archive
            .members
            .iter()
            .zip(&built.offsets)
            .map(|(m, &at)| (at, format!("{} {}", m.name, m.data.len())))
            .collect();
        members.sort();
        members.into_iter().map(|(_, m)| m).collect()
    };
    assert_eq!(stream, format!("ok: {}", expected.join(", ")), "{archive:?}");
    assert_eq!(reader, "ok");
}

/// A stored member that holds a whole zip written with data descriptors: its bytes are full of
/// local header, descriptor and central header signatures.
fn inner_zip() -> Vec<u8> {
    Archive::of(vec![
        Member::new("inner/a.bin", &noise(3000, 1)).descriptor(Descriptor::Signed32),
        Member::new("inner/b.bin", &noise(100, 2)).descriptor(Descriptor::Unsigned32),
    ])
    .build()
    .bytes
}

#[test]
fn data_descriptors_in_every_form_with_stored_and_deflated_members() {
    let forms = [Descriptor::Signed32, Descriptor::Unsigned32, Descriptor::Signed64, Descriptor::Unsigned64];
    for descriptor in forms {
        for deflate in [false, true] {
            let member = |name: &str, data: Vec<u8>| {
                let m = Member::new(name, &data).descriptor(descriptor);
                if deflate { m.deflated() } else { m }
            };
            accepted(&Archive::of(vec![
                member("p/data.tiff", noise(300_000, 3)),
                member("p/item.json", br#"{"type":"Feature"}"#.to_vec()),
                member("p/empty", Vec::new()),
                member("p/nested.zip", inner_zip()),
                member("p/text.txt", b"PK\x07\x08 appears in this text, PK\x03\x04 too".repeat(50)),
            ]));
        }
    }
}

#[test]
fn zip64_local_headers_and_end_records() {
    for descriptor in [Descriptor::None, Descriptor::Signed64, Descriptor::Unsigned64] {
        for deflate in [false, true] {
            let m = Member::new("big.tiff", &noise(70_000, 4)).descriptor(descriptor).zip64();
            let mut archive = Archive::of(vec![if deflate { m.deflated() } else { m }, Member::new("b.json", b"{}")]);
            accepted(&archive);
            archive.zip64_end = true;
            accepted(&archive);
        }
    }
}

#[test]
fn comments_folders_extras_and_central_order() {
    let timestamp_local = [0x55, 0x54, 9, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8];
    let timestamp_central = [0x55, 0x54, 5, 0, 3, 1, 2, 3, 4];
    let mut archive = Archive::of(vec![
        Member::new("folder/", b""),
        Member::new("folder/a.tiff", &noise(5000, 5)).extras(&timestamp_local, &timestamp_central),
        Member::new("folder/b.json", b"{}").deflated().descriptor(Descriptor::Signed32),
        Member::new("folder/c.png", &noise(10, 6)),
    ]);
    archive.comment = b"written by a test; PK\x03\x04 in a comment is fine".to_vec();
    accepted(&archive);
    archive.central_order = Some(vec![3, 1, 0, 2]);
    accepted(&archive);
    accepted(&Archive::default());
}

/// The corruptions of a valid zip: each refused by the pass with this message, and seen by the
/// random-access reader as this.
fn refused(bytes: &[u8], stream: &str, reader: &str) {
    let (s, r) = both(bytes);
    assert!(s.starts_with("error: ") && s.contains(stream), "pass: {s}");
    assert!(r.contains(reader), "reader: {r}");
}

fn three() -> Archive {
    Archive::of(vec![
        Member::new("a.tiff", &noise(4000, 7)),
        Member::new("b.png", &noise(500, 8)).descriptor(Descriptor::Unsigned32),
        Member::new("c.json", b"{}").deflated().descriptor(Descriptor::Signed32),
    ])
}

#[test]
fn an_end_record_that_skips_the_first_entry_is_refused() {
    // The false pass of issue 10: count, size and offset describe the directory without its
    // first record, so readers that start from the end list one member fewer.
    let built = three().build();
    let mut zip = built.bytes.clone();
    let skipped = built.central_records[1] - built.central_records[0];
    put16(&mut zip, built.end + 8, 2);
    put16(&mut zip, built.end + 10, 2);
    put32(&mut zip, built.end + 12, (built.end - built.central_records[1]) as u32);
    put32(&mut zip, built.end + 16, built.central_records[1] as u32);
    assert_eq!(skipped, 46 + 6);
    refused(
        &zip,
        "the end-of-central-directory record gives the entries on this disk as 2, not 3 as read",
        "bytes before the central directory belong to no member",
    );
}

#[test]
fn end_records_that_disagree_are_refused() {
    let built = three().build();
    let mut count = built.bytes.clone();
    put16(&mut count, built.end + 10, 4);
    refused(&count, "the entry count as 4, not 3 as read", "the entry count as 4, not 3 as read");
    let mut offset = built.bytes.clone();
    put32(&mut offset, built.end + 16, built.central as u32 + 1);
    refused(&offset, "the central directory offset as", "runs past it");

    let mut archive = three();
    archive.zip64_end = true;
    let built = archive.build();
    let (zip64, locator) = built.zip64_end.expect("zip64 records");
    let mut entries = built.bytes.clone();
    put64(&mut entries, zip64 + 32, 2);
    refused(
        &entries,
        "the zip64 end record gives the entry count as 2",
        "the zip64 end record gives the entry count as 2",
    );
    let mut pointer = built.bytes.clone();
    put64(&mut pointer, locator + 8, zip64 + 1);
    refused(&pointer, "the zip64 locator gives the zip64 end record's offset", "");
}

#[test]
fn bytes_outside_the_records_are_refused() {
    let mut prefixed = three();
    prefixed.prefix = b"MZ self-extractor stub".to_vec();
    let built = prefixed.build();
    refused(&built.bytes, "not a zip: it starts with", "");

    let mut gap = three();
    gap.gap = b"hidden bytes".to_vec();
    refused(
        &gap.build().bytes,
        "bytes that belong to no member follow c.json",
        "12 bytes before the central directory belong to no member",
    );

    let mut comment = three();
    comment.comment = [&b"see "[..], &0x0605_4b50u32.to_le_bytes(), &[0; 18]].concat();
    refused(&comment.build().bytes, "the archive comment holds an end-of-central-directory signature", "");

    let mut trailing = three().build().bytes;
    trailing.extend_from_slice(b"<html>");
    refused(&trailing, "6 bytes of trailing data", "");
}

#[test]
fn two_records_for_one_member_are_refused() {
    let built = three().build();
    let mut zip = built.bytes.clone();
    // The second record points at the first member's local header.
    put32(&mut zip, built.central_records[1] + 42, 0);
    refused(
        &zip,
        "b.png: the central directory points to offset 0, where no member of its own starts",
        "b.png: the central directory says the name is b.png, the local header says a.tiff",
    );
}

#[test]
fn damaged_data_behind_descriptors_is_named() {
    let archive = Archive::of(vec![
        Member::new("a.tiff", &noise(40_000, 9)).descriptor(Descriptor::Signed32),
        Member::new("b.bin", &noise(40_000, 10)).deflated().descriptor(Descriptor::Unsigned64),
        Member::new("c.json", b"{}"),
    ]);
    let built = archive.build();
    let mut stored = built.bytes.clone();
    stored[built.offsets[0] as usize + 30 + 6 + 100] ^= 1;
    let (s, _) = both(&stored);
    assert!(s.starts_with("error: a.tiff: CRC-32 mismatch"), "{s}");
    let mut deflated = built.bytes.clone();
    deflated[built.offsets[1] as usize + 30 + 5 + 20_000] ^= 0x10;
    let (s, _) = both(&deflated);
    assert!(s.contains("b.bin: "), "{s}");
    let mut size = built.bytes.clone();
    // The descriptor's uncompressed size (8 bytes, after the compressed size) of b.bin.
    put64(&mut size, built.offsets[2] - 8, 39_999);
    let (s, _) = both(&size);
    assert_eq!(s, "error: b.bin: size mismatch: expected 39999 bytes, got 40000");
    for cut in [built.offsets[1] + 40, built.offsets[2] - 10, built.central + 10] {
        let (s, _) = both(&built.bytes[..cut as usize]);
        assert!(s.starts_with("error: the zip is truncated"), "cut at {cut}: {s}");
    }
    // Inside a stored member whose size only its descriptor gives, the end of the bytes cannot be
    // told from a missing descriptor: the message says both.
    let (s, _) = both(&built.bytes[..(built.offsets[0] + 30 + 3000) as usize]);
    assert!(s.starts_with("error: a.tiff: the zip ends before this member does") && s.contains("truncated"), "{s}");
}

/// The committed fuzz corpus: for every input the pass accepts, the reader lists the same
/// members (asserted inside `both`).
#[test]
fn fuzz_corpus_keeps_the_pass_and_the_reader_in_agreement() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/inspect");
    let mut accepted = 0;
    for entry in std::fs::read_dir(&corpus).expect("the fuzz corpus") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        if both(&bytes).0.starts_with("ok") {
            accepted += 1;
        }
    }
    assert!(accepted > 0, "some corpus inputs are valid zips");
}
