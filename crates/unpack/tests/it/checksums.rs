//! STAC `file:checksum` multihashes: every algorithm the file extension's users write is checked,
//! weak ones are flagged, unknown ones are warnings, and no digest is computed that no item asks
//! for.

use wyvern_unpack::{Algorithm, DigestPlan, Multihash, inspect};

use crate::{build, check, deliverable, edit_item};

/// The multihash of `data` with `algorithm`, at its natural length.
fn multihash(algorithm: Algorithm, data: &[u8]) -> String {
    let mut hasher = algorithm.hasher();
    hasher.update(data);
    let digest = hasher.finalize();
    Multihash::encode(algorithm, &digest[..algorithm.output_len()])
}

const ALGORITHMS: [Algorithm; 13] = [
    Algorithm::Md5,
    Algorithm::Sha1,
    Algorithm::Sha2_224,
    Algorithm::Sha2_256,
    Algorithm::Sha2_384,
    Algorithm::Sha2_512,
    Algorithm::Sha2_512_256,
    Algorithm::Sha3_256,
    Algorithm::Sha3_512,
    Algorithm::Blake2b(32),
    Algorithm::Blake2b(64),
    Algorithm::Blake2s(32),
    Algorithm::Blake3,
];

#[test]
fn every_algorithm_is_checked_and_weak_ones_are_flagged() {
    let (members, _) = deliverable();
    let thumbnail = members.iter().find(|(n, _, _)| n.ends_with("_thumbnail.png")).expect("thumbnail").1.clone();
    for algorithm in ALGORITHMS {
        let mut good = members.clone();
        let right = multihash(algorithm, &thumbnail);
        edit_item(&mut good, |item| item["assets"]["Thumbnail image"]["file:checksum"] = right.clone().into());
        let verdict = check(&build(&good, false));
        if algorithm.is_weak() {
            assert_eq!(
                verdict.split("; ").filter(|p| !p.starts_with("warn")).collect::<Vec<_>>(),
                ["ok"],
                "{algorithm}: {verdict}"
            );
            assert!(verdict.contains(&format!("{algorithm} is a weak hash")), "{algorithm}: {verdict}");
        } else {
            assert_eq!(verdict, "ok", "{algorithm}");
        }

        let mut bad = members.clone();
        let wrong = multihash(algorithm, b"something else");
        edit_item(&mut bad, |item| item["assets"]["Thumbnail image"]["file:checksum"] = wrong.clone().into());
        let verdict = check(&build(&bad, false));
        assert!(
            verdict.contains(&format!("_thumbnail.png [file:checksum] checksum: expected {wrong}, found {right}")),
            "{algorithm}: {verdict}"
        );
    }
}

#[test]
fn truncated_digests_compare_their_prefix() {
    let (mut members, _) = deliverable();
    let thumbnail = members.iter().find(|(n, _, _)| n.ends_with("_thumbnail.png")).expect("thumbnail").1.clone();
    let full = multihash(Algorithm::Sha2_256, &thumbnail);
    // sha2-256 truncated to 20 bytes: code 0x12, length 0x14, the first 20 bytes.
    let truncated = format!("1214{}", &full[4..44]);
    edit_item(&mut members, |item| item["assets"]["Thumbnail image"]["file:checksum"] = truncated.clone().into());
    assert_eq!(check(&build(&members, false)), "ok");
}

#[test]
fn unknown_codes_and_malformed_values_are_warnings() {
    let (mut members, _) = deliverable();
    edit_item(&mut members, |item| {
        item["assets"]["Thumbnail image"]["file:checksum"] = "a40302aabb".into();
        item["assets"]["Overview image"]["file:checksum"] = "not-hex".into();
    });
    let verdict = check(&build(&members, false));
    assert!(verdict.starts_with("ok; "), "{verdict}");
    assert!(verdict.contains("warn: wyvern_dragonette-"), "{verdict}");
    assert!(
        verdict.contains("multihash code 0x1a4 (a40302aabb…) is not one this tool knows: not checked"),
        "{verdict}"
    );
    assert!(verdict.contains("not-hex… is not a multihash (not hexadecimal"), "{verdict}");
}

#[test]
fn only_the_digests_items_ask_for_are_computed() {
    let (members, _) = deliverable();
    let zip = build(&members, false);
    let plan = DigestPlan::from_inspection(&crate::random(zip.clone()).expect("inspected"));
    let listing = crate::verify_whole_and_chunked(&zip, &plan).expect("verified");
    for (name, digests) in &listing.digests {
        let expected: Vec<Algorithm> =
            if name.ends_with(".json") && !name.contains("wyvern_") || name.ends_with("_l1b.json") {
                // The catalog and the item itself carry no checksum.
                Vec::new()
            } else {
                vec![Algorithm::Blake2b(64)]
            };
        assert_eq!(digests.keys().copied().collect::<Vec<_>>(), expected, "{name}");
    }
}

#[test]
fn without_reading_ahead_an_item_met_first_is_followed_and_one_met_last_is_a_warning() {
    let (mut members, _) = crate::deliverable_of(8 << 20);
    let thumbnail = members.iter().find(|(n, _, _)| n.ends_with("_thumbnail.png")).expect("thumbnail").1.clone();
    let sha3 = multihash(Algorithm::Sha3_256, &thumbnail);
    edit_item(&mut members, |item| item["assets"]["Thumbnail image"]["file:checksum"] = sha3.clone().into());
    let pass = |members: &[crate::Member]| {
        let zip = build(members, false);
        let listing = crate::verify_whole_and_chunked(&zip, &DigestPlan::unknown()).expect("verified");
        crate::verdict(&inspect("t.zip", &listing, true))
    };
    // The generator writes the item last: the small thumbnail went by with every digest computed
    // on speculation, the large imagery with BLAKE2b-512 and SHA2-256 only.
    assert_eq!(pass(&members), "ok");
    let tiff = members.iter().find(|(n, _, _)| n.ends_with("_l1b.tiff")).expect("imagery").1.clone();
    let sha3_tiff = multihash(Algorithm::Sha3_256, &tiff);
    edit_item(&mut members, |item| item["assets"]["Cloud optimized GeoTiff"]["file:checksum"] = sha3_tiff.into());
    let big = members.iter().map(|(_, data, _)| data.len()).max().expect("members");
    assert!(big > 4 << 20, "the imagery is larger than what is hashed on speculation: {big}");
    let verdict = pass(&members);
    assert!(verdict.starts_with("ok; warn: ") && verdict.contains("sha3-256 was not computed"), "{verdict}");
    // The item first: the pass learns what to compute before the thumbnail comes.
    let item = members.iter().position(|(n, _, _)| n.ends_with("_l1b.json")).expect("item");
    let first = members.remove(item);
    members.insert(0, first);
    assert_eq!(pass(&members), "ok");
}
