//! What to fetch and where, how, and what came of it: [`Job`], [`Options`], [`Outcome`].

use std::collections::{BTreeSet, HashSet};

use futures::Stream;
use wyvern_core::{DeliverableId, OrderId};
use wyvern_sinks::ObjectPath;

use crate::Error;
use crate::inventory::{FOLDERS_BEFORE_WHOLE, folder_of};
use crate::receipt::Receipt;
use crate::spill::{Record, Spilled, put_str, take_str};

/// One deliverable to fetch, and where it goes in the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The order it belongs to, when known (`None` for a deliverable fetched by id alone).
    pub order_id: Option<OrderId>,
    /// The deliverable.
    pub deliverable_id: DeliverableId,
    /// The zip's path in the sink; the receipt goes beside it, and extraction writes the members
    /// into a folder of the same name without `.zip`.
    pub path: ObjectPath,
}

impl Job {
    /// A deliverable of an order, at `<order_id>/<deliverable_id>.zip`.
    pub fn of_order(order_id: OrderId, deliverable_id: DeliverableId) -> Self {
        let path = ObjectPath::parse(&format!("{order_id}/{deliverable_id}.zip")).expect("ids are path-safe");
        Self { order_id: Some(order_id), deliverable_id, path }
    }

    /// A deliverable on its own, at `<deliverable_id>.zip`.
    pub fn single(deliverable_id: DeliverableId) -> Self {
        let path = ObjectPath::parse(&format!("{deliverable_id}.zip")).expect("ids are path-safe");
        Self { order_id: None, deliverable_id, path }
    }

    fn sibling(&self, suffix: &str) -> Result<ObjectPath, Error> {
        let name = format!("{}{suffix}", self.path.file_name().trim_end_matches(".zip"));
        let joined = match self.path.as_str().rsplit_once('/') {
            Some((folder, _)) => ObjectPath::parse(folder).and_then(|folder| folder.join(&name)),
            None => ObjectPath::parse(&name),
        };
        joined.map_err(|e| Error::Invalid { message: e.to_string(), hint: None })
    }

    /// Where the receipt goes: `<name>.receipt.json` beside the zip.
    pub fn receipt_path(&self) -> Result<ObjectPath, Error> {
        self.sibling(".receipt.json")
    }

    /// Where extraction writes the members: the zip's path without `.zip`.
    pub fn extract_folder(&self) -> Result<ObjectPath, Error> {
        self.sibling("")
    }

    /// What the destination shows of this job: the zip, or the folder of its members.
    pub fn shown_path(&self, options: &Options) -> ObjectPath {
        if options.extracts() { self.extract_folder().unwrap_or_else(|_| self.path.clone()) } else { self.path.clone() }
    }
}

impl Record for Job {
    fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, self.order_id.as_ref().map_or("", OrderId::as_str));
        put_str(out, self.deliverable_id.as_str());
        put_str(out, self.path.as_str());
    }

    fn decode(input: &mut &[u8]) -> Option<Self> {
        let order = take_str(input)?;
        let order_id = if order.is_empty() { None } else { Some(order.parse().ok()?) };
        let deliverable_id = take_str(input)?.parse().ok()?;
        let path = ObjectPath::parse(take_str(input)?).ok()?;
        Some(Self { order_id, deliverable_id, path })
    }
}

/// The jobs of a run, in the order they were found: in memory while they are few, in a
/// temporary file past that (see `spill.rs`), so that a sync of a whole account holds a block
/// of them, not the account.
#[derive(Debug)]
pub struct Jobs {
    spilled: Spilled<Job>,
    /// The folders they go to, while they are few enough to list each.
    folders: Option<BTreeSet<String>>,
}

impl Jobs {
    /// No jobs.
    pub fn new() -> Self {
        Self { spilled: Spilled::default(), folders: Some(BTreeSet::new()) }
    }

    /// Adds a job at the end (an error only when the temporary file cannot be written).
    pub fn push(&mut self, job: Job) -> Result<(), Error> {
        if let Some(folders) = &mut self.folders
            && let Some(folder) = folder_of(&job.path)
        {
            folders.insert(folder.to_owned());
            if folders.len() > FOLDERS_BEFORE_WHOLE {
                self.folders = None;
            }
        }
        self.spilled.push(job).map_err(spill_error)
    }

    /// How many.
    pub fn len(&self) -> u64 {
        self.spilled.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The folders they go to, `None` when they are more than a few (see `inventory.rs`).
    pub(crate) fn folders(&self) -> Option<&BTreeSet<String>> {
        self.folders.as_ref()
    }

    /// Where they go, all of them.
    pub(crate) fn paths(&mut self) -> Result<HashSet<ObjectPath>, Error> {
        self.spilled.seal().map_err(spill_error)?;
        let mut paths = HashSet::new();
        for block in 0..self.spilled.blocks() {
            paths.extend(self.spilled.block(block).map_err(spill_error)?.into_iter().map(|job| job.path));
        }
        Ok(paths)
    }

    /// The jobs, in order, a block read at a time.
    pub(crate) fn into_stream(mut self) -> impl Stream<Item = Result<Job, Error>> + Send + 'static {
        use futures::StreamExt;

        let sealed = self.spilled.seal().map_err(spill_error);
        let spilled = self.spilled;
        let blocks = futures::stream::iter(0..spilled.blocks()).map(move |i| spilled.block(i).map_err(spill_error));
        futures::stream::iter(sealed.err().map(Err)).chain(blocks.flat_map(|block| {
            futures::stream::iter(match block {
                Ok(jobs) => jobs.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            })
        }))
    }
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new()
    }
}

impl TryFrom<Vec<Job>> for Jobs {
    type Error = Error;

    /// These jobs, in this order (an error only when the temporary file cannot be written).
    fn try_from(jobs: Vec<Job>) -> Result<Self, Error> {
        let mut all = Self::new();
        jobs.into_iter().try_for_each(|job| all.push(job))?;
        Ok(all)
    }
}

/// A temporary file of the run's jobs could not be written or read.
fn spill_error(source: std::io::Error) -> Error {
    Error::Io {
        action: "writing or reading",
        path: "a temporary file of the run's jobs (in TMPDIR)".to_owned(),
        source,
    }
}

/// What to do with a deliverable already at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfExists {
    /// Skip it when its receipt and size match; fetch it again otherwise.
    #[default]
    Skip,
    /// Replace it.
    Overwrite,
    /// Stop with [`Error::Exists`].
    Fail,
}

impl std::str::FromStr for IfExists {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "skip" => Ok(Self::Skip),
            "overwrite" => Ok(Self::Overwrite),
            "fail" => Ok(Self::Fail),
            other => Err(format!("{other:?}: expected skip, overwrite or fail")),
        }
    }
}

/// How deliverables are delivered.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to do with one already there.
    pub if_exists: IfExists,
    /// Verify the zip while it streams (on by default).
    pub verify: bool,
    /// Write the zip's members instead of the zip (verified, all published together).
    pub extract: bool,
    /// Fetch only these members of each deliverable, laid out as `extract` lays them out: with
    /// ranged requests, each member verified (see docs/inspection.md); `None`: the whole zip.
    pub members: Option<std::sync::Arc<crate::Members>>,
}

impl Options {
    /// Whether members are written instead of the zip: with `extract`, or some `members`.
    pub fn extracts(&self) -> bool {
        self.extract || self.members.is_some()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self { if_exists: IfExists::Skip, verify: true, extract: false, members: None }
    }
}

/// How a deliverable ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched (or extracted) in this run.
    Downloaded(Receipt),
    /// Already at the destination, whole, as its receipt says.
    Skipped(Present),
}

impl Outcome {
    /// `"downloaded"` or `"skipped"`, as the lines of a sync say it ([`crate::Status`]).
    pub fn status(&self) -> &'static str {
        match self {
            Self::Downloaded(_) => crate::Status::Downloaded.as_str(),
            Self::Skipped(_) => crate::Status::Skipped.as_str(),
        }
    }

    /// The receipt: of a download, always; of a skipped deliverable, when it was read.
    pub fn receipt(&self) -> Option<&Receipt> {
        match self {
            Self::Downloaded(receipt) => Some(receipt),
            Self::Skipped(present) => present.receipt.as_ref(),
        }
    }

    /// The zip's size.
    pub fn bytes(&self) -> u64 {
        match self {
            Self::Downloaded(receipt) => receipt.bytes,
            Self::Skipped(present) => present.bytes,
        }
    }
}

/// A deliverable found whole at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// The zip's size (extracted: the size its receipt records).
    pub bytes: u64,
    /// Its receipt, when it was read. A batch decides from listings of the destination: a zip
    /// listed with its receipt, the receipt written after it, is skipped without reading the
    /// receipt (see [`crate::Batch::run`]).
    pub receipt: Option<Receipt>,
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use wyvern_sinks::ObjectPath;

    use super::{Job, Jobs};

    #[tokio::test]
    async fn jobs_come_back_in_order_with_their_paths_from_memory_and_from_the_file() {
        for count in [3u64, 5_000] {
            let made: Vec<Job> = (0..count)
                .map(|n| {
                    let deliverable = format!("00000000-0000-0000-0003-{n:012}").parse().expect("id");
                    match n % 3 {
                        0 => Job::single(deliverable),
                        1 => {
                            Job::of_order(format!("00000000-0000-0000-0002-{n:012}").parse().expect("id"), deliverable)
                        }
                        _ => Job {
                            path: ObjectPath::parse(&format!("custom/{n}.zip")).expect("path"),
                            ..Job::single(deliverable)
                        },
                    }
                })
                .collect();
            let jobs = Jobs::try_from(made.clone()).expect("kept");
            assert_eq!(jobs.len(), count);
            assert_eq!(jobs.folders().is_none(), count > 3, "more folders than are listed one by one");
            let back: Vec<Job> = jobs.into_stream().try_collect().await.expect("read back");
            assert_eq!(back, made);
        }
    }
}
