//! What a destination holds, from listings: a batch lists the folders its jobs go to once (or the
//! whole destination, when they are many), and its skip checks ask the listing instead of the
//! sink. A no-op re-sync then costs listing pages, not a request or two per deliverable.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use wyvern_sinks::{ObjectInfo, ObjectPath, Sink};

use crate::job::Job;

/// Jobs in more folders than this list the whole destination once instead of each folder (a
/// sync of every order: object stores list a thousand objects a page, so one listing of the
/// destination costs fewer requests than one per order).
const FOLDERS_BEFORE_WHOLE: usize = 16;

/// The objects under the folders listed.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    /// The folders listed; the whole destination when `whole`.
    folders: HashSet<String>,
    whole: bool,
    objects: BTreeMap<String, ObjectInfo>,
}

/// The folder a path is in (`None` at the destination's root).
fn folder_of(path: &ObjectPath) -> Option<&str> {
    path.as_str().rsplit_once('/').map(|(folder, _)| folder)
}

impl Inventory {
    /// Lists the folders `jobs` go to, `concurrency` at once, or the whole destination when they
    /// are more than [`FOLDERS_BEFORE_WHOLE`]. Jobs at the destination's root are left to the
    /// sink (a root can hold anything), as are folders whose listing fails.
    pub(crate) async fn of(sink: &Arc<dyn Sink>, jobs: &[Job], concurrency: usize) -> Self {
        let folders: BTreeSet<String> = jobs.iter().filter_map(|job| folder_of(&job.path)).map(str::to_owned).collect();
        let mut listing = Self::default();
        if folders.len() > FOLDERS_BEFORE_WHOLE {
            match sink.list(None).await {
                Ok(objects) => {
                    listing.whole = true;
                    listing.add(objects);
                }
                Err(e) => tracing::debug!("listing the destination failed: {e}"),
            }
            return listing;
        }
        let listed: Vec<_> = futures::stream::iter(folders)
            .map(|folder| list(sink.clone(), folder))
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for (folder, objects) in listed.into_iter().flatten() {
            listing.folders.insert(folder);
            listing.add(objects);
        }
        listing
    }

    fn add(&mut self, objects: Vec<ObjectInfo>) {
        self.objects.extend(objects.into_iter().map(|object| (object.path.to_string(), object)));
    }

    /// Whether the listing covers `path`'s folder.
    fn covers(&self, path: &ObjectPath) -> bool {
        self.whole || folder_of(path).is_some_and(|folder| self.folders.contains(folder))
    }

    /// What the listing says of `path`: `Some(None)` when it is not there, `None` when the
    /// listing does not cover its folder.
    pub(crate) fn get(&self, path: &ObjectPath) -> Option<Option<&ObjectInfo>> {
        self.covers(path).then(|| self.objects.get(path.as_str()))
    }

    /// The objects under the folder `folder`, when the listing covers it.
    pub(crate) fn under(&self, folder: &ObjectPath) -> Option<Vec<ObjectInfo>> {
        let prefix = format!("{folder}/");
        let under = self.objects.range(prefix.clone()..).take_while(|(key, _)| key.starts_with(&prefix));
        self.covers(folder).then(|| under.map(|(_, object)| object.clone()).collect())
    }
}

/// The objects under `folder`, or `None` when it cannot be listed.
async fn list(sink: Arc<dyn Sink>, folder: String) -> Option<(String, Vec<ObjectInfo>)> {
    let prefix = ObjectPath::parse(&folder).ok()?;
    match sink.list(Some(&prefix)).await {
        Ok(objects) => Some((folder, objects)),
        Err(e) => {
            tracing::debug!(folder, "listing failed: {e}");
            None
        }
    }
}
