//! Hostile folders: links planted in a shared destination, members that collide with temporary
//! names, extractions that fail half-way, concurrent runs, and zips of many members.

use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use wyvern_sandbox::{TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files};

/// A folder outside the destination holding one precious file, to check nothing reaches it.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("precious"), b"precious").expect("write");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn precious(&self) -> PathBuf {
        self.dir.path().join("precious")
    }

    fn untouched(&self) {
        assert_eq!(files(self.path()), ["precious"], "nothing new outside the destination");
        assert_eq!(std::fs::read(self.precious()).expect("read"), b"precious", "the file outside is untouched");
    }
}

fn temp_name(hex: &str) -> String {
    format!(".{TEST_DELIVERABLE}.zip.{hex}.wyvern-part")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_planted_in_the_destination_are_never_followed() {
    let world = World::new().await;
    let outside = Outside::new();
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    std::fs::create_dir_all(&dest).expect("dest");

    // The order's folder is a link out of the destination: refused, nothing written anywhere.
    symlink(outside.path(), dest.join(TEST_ORDER)).expect("link");
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("is a symbolic link"), "{}", run.stderr);
    outside.untouched();
    std::fs::remove_file(dest.join(TEST_ORDER)).expect("unlink");

    // Links where the temporary files (old and new names), the zip and the receipt go.
    let folder = dest.join(TEST_ORDER);
    std::fs::create_dir_all(&folder).expect("folder");
    for name in [
        format!(".{TEST_DELIVERABLE}.zip.part"),
        format!(".{TEST_DELIVERABLE}.receipt.json.part"),
        temp_name(&"ab".repeat(16)),
        format!("{TEST_DELIVERABLE}.zip"),
        format!("{TEST_DELIVERABLE}.receipt.json"),
    ] {
        symlink(outside.precious(), folder.join(name)).expect("link");
    }
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    outside.untouched();
    let zip = folder.join(format!("{TEST_DELIVERABLE}.zip"));
    assert!(!std::fs::symlink_metadata(&zip).expect("zip").file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::read(&zip).expect("zip"), world.served(TEST_DELIVERABLE).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_file_of_another_user_is_not_continued() {
    let world = World::new().await;
    let dest = world.dest();
    let folder = dest.join(TEST_ORDER);
    std::fs::create_dir_all(&folder).expect("folder");
    let served = world.served(TEST_DELIVERABLE).await;
    let planted = folder.join(temp_name(&"cd".repeat(16)));
    std::fs::write(&planted, &served[..served.len() / 2]).expect("partial");
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).expect("chown to nobody");
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let ranged = world.deliverable_requests(TEST_DELIVERABLE).iter().any(|r| r.range.is_some());
    assert!(!ranged, "the other user's partial file was not continued");
    assert_eq!(std::fs::read(folder.join(format!("{TEST_DELIVERABLE}.zip"))).expect("zip"), served);
    assert!(planted.exists(), "another user's file is left alone");
}

/// A zip of `members` (name, bytes), stored, plus a minimal STAC item so that it verifies.
fn zip_of(path: &Path, members: &[(&str, &[u8])]) {
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in members {
        writer.start_file(*name, stored).expect("start");
        writer.write_all(bytes).expect("write");
    }
    writer.start_file("item.json", stored).expect("start");
    writer.write_all(br#"{"type": "Feature", "assets": {}}"#).expect("write");
    writer.finish().expect("finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extraction_never_writes_through_a_linked_folder() {
    let world = World::new().await;
    let outside = Outside::new();
    let zip = world.dir.path().join("deliverable.zip");
    zip_of(&zip, &[("product/data.tiff", b"pixels"), ("product/sub/more.bin", b"more")]);
    let dest = world.dir.path().join("extracted");
    for linked in ["deliverable", "deliverable/product", "deliverable/product/sub"] {
        let _ = std::fs::remove_dir_all(&dest);
        let link = dest.join(linked);
        std::fs::create_dir_all(link.parent().expect("parent")).expect("folders");
        symlink(outside.path(), &link).expect("link");
        let run = world.run(&["extract", zip.to_str().expect("utf-8"), "--to", dest.to_str().expect("utf-8")]).await;
        assert_ne!(run.code, 0, "{linked}: {run:#?}");
        assert!(run.stderr.contains("symbolic link"), "{linked}: {}", run.stderr);
        outside.untouched();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_named_like_temporary_files_keep_their_own_bytes() {
    let world = World::new().await;
    let zip = world.dir.path().join("deliverable.zip");
    let tricky = format!(".x.{}.wyvern-part", "ef".repeat(16));
    let members: Vec<(&str, &[u8])> =
        vec![("x", b"the real x"), (".x.part", b"not x"), (".x.wyvern-part", b"not x either"), (&tricky, b"nor this")];
    zip_of(&zip, &members);
    let dest = world.dir.path().join("extracted");
    let run = world.run(&["extract", zip.to_str().expect("utf-8"), "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    for (name, bytes) in members {
        assert_eq!(std::fs::read(dest.join("deliverable").join(name)).expect(name), bytes, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_extraction_leaves_no_partial_tree() {
    let world = World::new().await;
    let dest = world.dir.path().join("extracted");
    let dest_arg = dest.to_str().expect("utf-8");

    // A member that is a file where another needs a folder.
    let clash = world.dir.path().join("clash.zip");
    zip_of(&clash, &[("one.txt", b"1"), ("a", b"a file"), ("two.txt", b"2"), ("a/b", b"under a")]);
    let run = world.run(&["extract", clash.to_str().expect("utf-8"), "--to", dest_arg]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("would need to be both a file and a folder"), "{}", run.stderr);
    assert_eq!(files(&dest), Vec::<String>::new(), "no member of it is left");

    // A destination where the last member cannot go: the members finished before it are removed.
    let zip = world.dir.path().join("deliverable.zip");
    zip_of(&zip, &[("one.txt", b"1"), ("two.txt", b"2"), ("three.txt", b"3")]);
    std::fs::create_dir_all(dest.join("deliverable/item.json/in-the-way")).expect("a folder in the way");
    let run = world.run(&["extract", zip.to_str().expect("utf-8"), "--to", dest_arg]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("the members written before it were removed"), "{}", run.stderr);
    assert_eq!(files(&dest), Vec::<String>::new(), "all or nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_on_one_destination_all_succeed() {
    let world = World::with(wyvern_sandbox::Sandbox::builder().deliverable_size(4 << 20)).await;
    let served = world.served(TEST_DELIVERABLE).await;
    for round in 0..4 {
        let dest = world.dir.path().join(format!("shared-{round}"));
        let dest_arg = dest.to_str().expect("utf-8");
        let args = ["order", "download", TEST_ORDER, "--to", dest_arg];
        let children: Vec<_> = (0..5).map(|_| world.spawn(&args, &[])).collect();
        for child in children {
            let run = crate::finish(child).await;
            assert_eq!(run.code, 0, "round {round}: {run:#?}");
        }
        assert_eq!(
            files(&dest),
            [format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"), format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip")],
            "one zip, one receipt, no temporary file"
        );
        assert_eq!(std::fs::read(dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"))).expect("zip"), served);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracting_thousands_of_members_keeps_few_files_open() {
    let world = World::new().await.with_runner(&["prlimit", "--nofile=128:128"]);
    let zip = world.dir.path().join("many.zip");
    let names: Vec<String> = (0..3000).map(|i| format!("tiles/{:02}/{i}.bin", i % 50)).collect();
    let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    zip_of(&zip, &members);
    let dest = world.dir.path().join("extracted");
    let run = world.run(&["extract", zip.to_str().expect("utf-8"), "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(files(&dest).len(), 3000 + 2, "every member, the item and the receipt");
}
