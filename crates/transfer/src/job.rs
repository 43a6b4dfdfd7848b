//! What to fetch and where, how, and what came of it: [`Job`], [`Options`], [`Outcome`].

use wyvern_core::{DeliverableId, OrderId};
use wyvern_sinks::ObjectPath;

use crate::Error;
use crate::receipt::Receipt;

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
