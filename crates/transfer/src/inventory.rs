//! What a destination holds, from listings: a batch lists the folders its jobs go to once (or the
//! whole destination, when they are many), and its skip checks ask the listing instead of the
//! sink. A no-op re-sync then costs listing pages, not a request or two per deliverable.
//!
//! A listing is read as the sink streams it, in path order, into a [`Spilled`] (in memory while
//! small, in a temporary file past that) with the first path of each block: a skip check reads
//! the one block that holds its path. Memory holds a page of the listing and that index, not the
//! destination. A sink whose `head` costs no request (a local folder) is not listed: its skip
//! checks ask it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::BoxStream;
use wyvern_sinks::{ObjectInfo, ObjectPath, Sink};

use crate::job::Jobs;
use crate::spill::{BLOCK, Record, Spilled, put_str, put_u64, take_str, take_u64};

/// Jobs in more folders than this list the whole destination once instead of each folder (a
/// sync of every order: object stores list a thousand objects a page, so one listing of the
/// destination costs fewer requests than one per order).
pub(crate) const FOLDERS_BEFORE_WHOLE: usize = 16;

/// The folder a path is in (`None` at the destination's root).
pub(crate) fn folder_of(path: &ObjectPath) -> Option<&str> {
    path.as_str().rsplit_once('/').map(|(folder, _)| folder)
}

/// The objects under the folders listed.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    /// The whole destination's listing, when it was listed whole.
    whole: Option<Listing>,
    /// Each folder's, otherwise.
    folders: HashMap<String, Listing>,
}

impl Inventory {
    /// Lists the folders `jobs` go to, `concurrency` at once, or the whole destination when they
    /// are more than [`FOLDERS_BEFORE_WHOLE`]. Jobs at the destination's root are left to the
    /// sink (a root can hold anything), as are folders whose listing fails.
    pub(crate) async fn of(sink: &Arc<dyn Sink>, jobs: &Jobs, concurrency: usize) -> Self {
        let Some(folders) = jobs.folders() else {
            return Self { whole: Listing::read(sink.list_sorted(None)).await, folders: HashMap::new() };
        };
        let folders = futures::stream::iter(folders.iter().cloned())
            .map(|folder| async move {
                let prefix = ObjectPath::parse(&folder).ok()?;
                Some((folder, Listing::read(sink.list_sorted(Some(&prefix))).await?))
            })
            .buffer_unordered(concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await;
        Self { whole: None, folders }
    }

    /// The listing that covers `path`'s folder.
    fn listing(&self, path: &ObjectPath) -> Option<&Listing> {
        self.whole.as_ref().or_else(|| self.folders.get(folder_of(path)?))
    }

    /// What the listing says of `path`: `Some(None)` when it is not there, `None` when the
    /// listing does not cover its folder.
    pub(crate) fn get(&self, path: &ObjectPath) -> Option<Option<ObjectInfo>> {
        let found = self.listing(path)?.from(path.as_str(), |listed| listed == path.as_str())?;
        Some(found.into_iter().next())
    }

    /// The objects under the folder `folder`, when the listing covers it.
    pub(crate) fn under(&self, folder: &ObjectPath) -> Option<Vec<ObjectInfo>> {
        let prefix = format!("{folder}/");
        self.listing(folder)?.from(&prefix, |listed| listed.starts_with(&prefix))
    }
}

/// A listing in path order, and the first path of each of its blocks.
#[derive(Debug, Default)]
struct Listing {
    objects: Spilled<ObjectInfo>,
    firsts: Vec<String>,
    /// The block read last (a zip and its receipt are neighbours: one read serves both).
    last: Mutex<Option<(usize, Arc<Vec<ObjectInfo>>)>>,
}

impl Listing {
    /// Reads `listed` to its end; `None` when it fails, or comes out of path order (then the
    /// sink is asked about each job instead).
    async fn read(mut listed: BoxStream<'_, wyvern_sinks::Result<ObjectInfo>>) -> Option<Self> {
        let mut listing = Self::default();
        let mut last = String::new();
        while let Some(object) = listed.next().await {
            let object = object
                .map_err(|e| tracing::warn!("listing the destination failed, its skip checks ask it instead: {e}"))
                .ok()?;
            let path = object.path.as_str();
            if !listing.firsts.is_empty() && path <= last.as_str() {
                // A folder marker (`a/b/`, listed as `a/b` after `a/b.zip`): an empty object no
                // skip check asks about.
                if object.size == 0 {
                    continue;
                }
                tracing::warn!("the destination listed {path:?} after {last:?}: its skip checks ask it instead");
                return None;
            }
            if listing.objects.len().is_multiple_of(BLOCK as u64) {
                listing.firsts.push(path.to_owned());
            }
            path.clone_into(&mut last);
            listing.objects.push(object).map_err(|e| tracing::warn!("keeping the destination's listing: {e}")).ok()?;
        }
        listing.objects.seal().map_err(|e| tracing::warn!("keeping the destination's listing: {e}")).ok()?;
        Some(listing)
    }

    /// The objects from the first at or after `from`, in order, while `keep` holds for their
    /// paths; `None` when the listing cannot be read back.
    fn from(&self, from: &str, keep: impl Fn(&str) -> bool) -> Option<Vec<ObjectInfo>> {
        // The block that would hold `from`: the last whose first path is not after it.
        let start = self.firsts.partition_point(|first| first.as_str() <= from).saturating_sub(1);
        let mut found = Vec::new();
        for block in start..self.objects.blocks() {
            // What `keep` holds for is a run of paths from `from` on: a block that starts past
            // it holds none.
            if block > start && !keep(&self.firsts[block]) {
                break;
            }
            let objects = self.block(block)?;
            for object in objects.iter().skip_while(|object| object.path.as_str() < from) {
                if !keep(object.path.as_str()) {
                    return Some(found);
                }
                found.push(object.clone());
            }
        }
        Some(found)
    }

    /// The objects of block `index`, read once for neighbouring lookups.
    fn block(&self, index: usize) -> Option<Arc<Vec<ObjectInfo>>> {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((read, objects)) = last.as_ref()
            && *read == index
        {
            return Some(objects.clone());
        }
        let objects = self.objects.block(index).map_err(|e| tracing::warn!("reading the listing back: {e}")).ok()?;
        let objects = Arc::new(objects);
        *last = Some((index, objects.clone()));
        Some(objects)
    }
}

impl Record for ObjectInfo {
    fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, self.path.as_str());
        put_u64(out, self.size);
        // The time as (kind, seconds, nanoseconds): 0 unknown, 1 after the epoch, 2 before.
        let (kind, since) = match self.modified.map(|m| m.duration_since(SystemTime::UNIX_EPOCH)) {
            None => (0, Duration::ZERO),
            Some(Ok(after)) => (1, after),
            Some(Err(before)) => (2, before.duration()),
        };
        put_u64(out, kind);
        put_u64(out, since.as_secs());
        put_u64(out, u64::from(since.subsec_nanos()));
    }

    fn decode(input: &mut &[u8]) -> Option<Self> {
        let path = ObjectPath::parse(take_str(input)?).ok()?;
        let size = take_u64(input)?;
        let (kind, secs, nanos) = (take_u64(input)?, take_u64(input)?, take_u64(input)?);
        let since = Duration::new(secs, u32::try_from(nanos).ok()?);
        let modified = match kind {
            0 => None,
            1 => Some(SystemTime::UNIX_EPOCH.checked_add(since)?),
            _ => Some(SystemTime::UNIX_EPOCH.checked_sub(since)?),
        };
        Some(Self { path, size, modified })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use futures::StreamExt;
    use wyvern_sinks::{ObjectInfo, ObjectPath};

    use super::Listing;

    fn info(path: &str, size: u64) -> ObjectInfo {
        let modified = SystemTime::UNIX_EPOCH.checked_add(Duration::new(size, 7));
        ObjectInfo { path: ObjectPath::parse(path).expect("path"), size, modified }
    }

    async fn listing(objects: Vec<ObjectInfo>) -> Option<Listing> {
        Listing::read(futures::stream::iter(objects.into_iter().map(Ok)).boxed()).await
    }

    #[tokio::test]
    async fn a_listing_of_many_blocks_in_a_file_answers_every_path_and_folder() {
        // Each deliverable as an object store lists it: `.receipt.json` and `.zip` beside
        // `<id>/`'s members ('.' sorts before '/').
        let mut objects = Vec::new();
        for n in 0..6_000u64 {
            let base = format!("order/{n:06}");
            objects.push(info(&format!("{base}.receipt.json"), n));
            objects.push(info(&format!("{base}.zip"), n + 1));
            if n % 1000 == 0 {
                objects.extend((0..300).map(|m| info(&format!("{base}/member-{m:03}.tif"), m)));
            }
        }
        let listing = listing(objects.clone()).await.expect("in order");
        assert!(listing.objects.len() > 12_000 && listing.firsts.len() > 100);
        for object in objects.iter().step_by(97) {
            assert_eq!(listing.from(object.path.as_str(), |p| p == object.path.as_str()), Some(vec![object.clone()]));
        }
        let under = listing.from("order/003000/", |p| p.starts_with("order/003000/")).expect("readable");
        assert_eq!(under.len(), 300);
        assert_eq!(under[299], info("order/003000/member-299.tif", 299));
        assert_eq!(listing.from("order/003001/", |p| p.starts_with("order/003001/")), Some(Vec::new()));
        assert_eq!(listing.from("order/9", |p| p == "order/9"), Some(Vec::new()));
        assert_eq!(listing.from("a", |p| p == "a"), Some(Vec::new()));
    }

    #[tokio::test]
    async fn folder_markers_out_of_order_are_passed_over() {
        // `o/d/` (a console's "create folder") is listed as `o/d`, after `o/d.zip`.
        let objects = vec![info("o/d.receipt.json", 2), info("o/d.zip", 1), info("o/d", 0), info("o/d/m.tif", 3)];
        let listing = listing(objects).await.expect("used");
        assert_eq!(listing.from("o/d.zip", |p| p == "o/d.zip"), Some(vec![info("o/d.zip", 1)]));
        assert_eq!(listing.from("o/d/", |p| p.starts_with("o/d/")), Some(vec![info("o/d/m.tif", 3)]));
    }

    #[tokio::test]
    async fn a_listing_out_of_order_is_not_used() {
        let objects = vec![info("b/1.zip", 1), info("a/1.zip", 1)];
        assert!(listing(objects).await.is_none());
        assert!(listing(vec![info("a/1.zip", 1), info("a/1.zip", 1)]).await.is_none(), "a path listed twice");
        assert!(listing(Vec::new()).await.is_some_and(|l| l.from("x", |_| true) == Some(Vec::new())));
    }
}
