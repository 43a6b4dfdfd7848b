//! The command line, as clap parses it. [`crate::settings`] turns it into validated settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use wyvern_core::OrderId;

use wyvern_core::env::{
    WYVERN_API_URL, WYVERN_CA_CERT, WYVERN_CONNECTIONS, WYVERN_LIMIT_RATE, WYVERN_LOG_FILE, WYVERN_MAX_RETRIES,
    WYVERN_PASSWORD_FILE, WYVERN_READ_TIMEOUT, WYVERN_SEGMENT_SIZE, WYVERN_SPEED_LIMIT, WYVERN_SPEED_TIME,
    WYVERN_TOKEN_FILE,
};
use wyvern_transfer::{Hook, IfExists, Members, Options, Request, Shard, Wanted};

/// Fetch Wyvern imagery deliverables to disk, verified.
#[derive(Debug, Parser)]
#[command(name = "wyvern", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// API base URL (default: https://api.wyvern.space, or the sandbox with --sandbox).
    #[arg(long, global = true, env = WYVERN_API_URL, value_name = "URL")]
    pub api_url: Option<String>,

    /// Use Wyvern's sandbox API (https://api.sandbox.wyvern.space).
    #[arg(long, global = true)]
    pub sandbox: bool,

    /// Read the bearer token from this file, and again when the API refuses it (else
    /// $WYVERN_TOKEN, else $WYVERN_USERNAME with a password, else the login cache).
    #[arg(long, global = true, env = WYVERN_TOKEN_FILE, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// With $WYVERN_USERNAME: log in with the password on this file's first line (instead of
    /// $WYVERN_PASSWORD); the run renews its token on its own.
    #[arg(long, global = true, env = WYVERN_PASSWORD_FILE, value_name = "PATH")]
    pub password_file: Option<PathBuf>,

    /// Accept a plain http:// API URL on a host other than loopback (sends the token in clear).
    #[arg(long, global = true)]
    pub allow_http: bool,

    /// Print one JSON object per line on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log more on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Also append the full log, every level of every library (what -vvv prints), to this file,
    /// whatever stderr shows (for runs nobody watches).
    #[arg(long, global = true, env = WYVERN_LOG_FILE, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Retries of a failed request or interrupted download before giving up.
    #[arg(long, global = true, env = WYVERN_MAX_RETRIES, value_name = "N", default_value_t = wyvern_core::DEFAULT_RETRIES)]
    pub retries: u32,

    /// Give up on a connection that sends nothing for this long (then resume), e.g. 60s.
    #[arg(long, global = true, env = WYVERN_READ_TIMEOUT, value_name = "DURATION", value_parser = parse_positive_duration, default_value = duration(wyvern_core::DEFAULT_READ_TIMEOUT))]
    pub read_timeout: Duration,

    /// Treat a body slower than this per second, over --speed-time of reading, as stalled (cut
    /// and resumed; fails after --retries slow spells in a row). 0 turns the rule off.
    #[arg(long, global = true, env = WYVERN_SPEED_LIMIT, value_name = "SIZE", value_parser = parse_speed, default_value = size(wyvern_core::DEFAULT_SPEED_LIMIT))]
    pub speed_limit: u64,

    /// Read deliverables at most this fast, all transfers of the process together (curl's
    /// name), e.g. 20MiB; 0: no cap. Time held back does not count against --speed-limit.
    #[arg(long, global = true, env = WYVERN_LIMIT_RATE, value_name = "SIZE", value_parser = parse_speed, default_value = "0")]
    pub limit_rate: u64,

    /// How long a body may stay under --speed-limit, e.g. 30s.
    #[arg(long, global = true, env = WYVERN_SPEED_TIME, value_name = "DURATION", value_parser = parse_positive_duration, default_value = duration(wyvern_core::DEFAULT_SPEED_TIME))]
    pub speed_time: Duration,

    /// Also trust the certificate authorities in this PEM file (an API or storage behind a
    /// private CA), beside the system's.
    #[arg(long, global = true, env = WYVERN_CA_CERT, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,

    /// Ranged requests in flight per deliverable when one connection is slow (under 64 MiB/s)
    /// and the server accepts ranges (1: always one request). Bytes are still verified and
    /// written in order.
    #[arg(long, global = true, env = WYVERN_CONNECTIONS, value_name = "N", default_value_t = wyvern_core::DEFAULT_CONNECTIONS as u16, value_parser = clap::value_parser!(u16).range(1..=wyvern_core::MAX_CONNECTIONS as i64))]
    pub connections: u16,

    /// The size of each ranged request (at least 64KiB). Bytes that arrive before the segment
    /// being read wait in memory: at most 3 x this.
    #[arg(long, global = true, env = WYVERN_SEGMENT_SIZE, value_name = "SIZE", value_parser = parse_size, default_value = size(wyvern_core::DEFAULT_SEGMENT_SIZE))]
    pub segment_size: u64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Orders: show, wait for, download.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Deliverables: download by id or URL.
    #[command(subcommand)]
    Deliverable(DeliverableCommand),
    /// Bring DEST up to date with the deliverables of fulfilled orders.
    Sync(SyncArgs),
    /// Show what a deliverable zip holds (reads only its directory and headers).
    Inspect {
        /// A zip: a path, or a sink URL such as s3://bucket/key.zip.
        zip: String,
        /// Also draw its thumbnail in the terminal (24-bit colour; a note instead when stdout
        /// is not a terminal or NO_COLOR is set).
        #[arg(long)]
        preview: bool,
    },
    /// Check a deliverable zip whole: CRC-32s, STAC sizes and checksums, GeoTIFF headers (exit 3
    /// when it is not whole and consistent). Given a destination a sync wrote (a folder, or a
    /// bucket URL not ending in .zip), audit every deliverable there: each zip read again and
    /// compared with its receipt, each extracted file with its STAC item.
    Verify {
        /// A zip (a path, a pipe, or a sink URL such as s3://bucket/key.zip), or a destination
        /// (a folder, or s3://bucket/prefix).
        zip: String,
    },
    /// Write a zip's members to DEST/<zip name>/<member path>, verified, one pass.
    Extract {
        /// A zip: a path, or a sink URL such as s3://bucket/key.zip.
        zip: String,
        /// Where to write (a folder or a sink URL).
        #[arg(long = "to", value_name = "DEST", default_value = ".")]
        to: String,
        /// What to do when the members are already there: skip them when their receipt
        /// matches, overwrite them, or fail.
        #[arg(long, value_parser = if_exists(), default_value = "skip")]
        if_exists: IfExists,
    },
    /// Write or refresh the STAC catalog of everything at DEST: DEST/catalog.json, a catalog per
    /// order and an item per deliverable, relative hrefs (items already up to date are not read).
    Catalog {
        /// The destination a sync wrote to (a folder or a sink URL).
        dest: String,
        /// Also give each band of an extracted multi-band GeoTIFF an asset of its own (a GDAL VRT
        /// of that band, in DEST/<order>/<deliverable>.bands/), for tools that take an asset to be
        /// one band, such as stackstac.
        #[arg(long)]
        band_assets: bool,
    },
    /// Write one self-contained HTML page of everything at DEST: thumbnails, a map of the
    /// footprints, dates, platforms, levels, cloud cover, bands, sizes, verdicts and checksums.
    Report {
        /// The destination a sync wrote to (a folder or a sink URL).
        dest: String,
        /// The page to write (replaced whole once it is complete).
        #[arg(short, long, value_name = "FILE", default_value = "report.html")]
        output: std::path::PathBuf,
    },
    /// Log in and store a token.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the wyvern(1) man page, or write it and a page per command (wyvern-order-download(1)
    /// ...) into DIR.
    Man {
        /// The folder to write every page to (created if missing), e.g. /usr/local/share/man/man1.
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrderCommand {
    /// List the account's orders: id, status, reason, deliverables, time window (a line each, or
    /// with --json the object `order show --json` prints), following the listing's pages.
    List,
    /// Show an order: status, reason and deliverables.
    Show {
        /// The order id.
        order_id: OrderId,
    },
    /// Wait until an order is completed (exit 0) or can no longer be (exit 4).
    Wait {
        /// The order id.
        order_id: OrderId,
        /// Time between polls.
        #[arg(long, value_parser = parse_positive_duration, default_value = "30s")]
        interval: Duration,
        /// Give up after this long (exit 4); no limit by default.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Write the HTML page `wyvern report` makes (thumbnails, footprints map, dates, cloud
    /// cover, bands, what a full download costs) of the deliverables of orders still at the API,
    /// downloading none: each read with a few ranged requests.
    Report {
        /// Order ids.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        order_ids: Vec<OrderId>,
        /// Every order the account lists (those not ready are left out, with a warning).
        #[arg(long)]
        all: bool,
        /// The page to write (replaced whole once it is complete).
        #[arg(short, long, value_name = "FILE", default_value = "report.html")]
        output: std::path::PathBuf,
    },
    /// Download every deliverable of fulfilled orders to DEST/<order_id>/<deliverable_id>.zip.
    Download {
        /// One or more order ids.
        #[arg(required = true)]
        order_ids: Vec<OrderId>,
        #[command(flatten)]
        destination: Destination,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeliverableCommand {
    /// Download deliverables to DEST/<deliverable_id>.zip.
    Download {
        /// Deliverable ids, or deliverable URLs on the API.
        #[arg(required = true, value_name = "DELIVERABLE_ID_OR_URL")]
        deliverables: Vec<String>,
        #[command(flatten)]
        destination: Destination,
    },
    /// Show what a deliverable at the API holds without downloading it: its members, STAC items
    /// and GeoTIFF headers, read with a few ranged requests (the same facts and JSON as
    /// `inspect` of the zip; a server that ignores ranges is read whole, once).
    Inspect {
        /// A deliverable id, or its URL on the API.
        #[arg(value_name = "DELIVERABLE_ID_OR_URL")]
        deliverable: String,
        /// Also draw its thumbnail in the terminal (read with ranged requests too; 24-bit
        /// colour; a note instead when stdout is not a terminal or NO_COLOR is set).
        #[arg(long)]
        preview: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Exchange a username and password for a token, stored in the config dir (mode 0600).
    /// The password is read from the terminal, or from stdin when it is not one.
    Login {
        /// The account's username (asked for when not given).
        #[arg(long)]
        username: Option<String>,
    },
    /// Forget the stored token for this API.
    Logout,
}

/// `wyvern sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// Orders to sync.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub order_ids: Vec<OrderId>,

    /// Sync every order the account can list.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub destination: Destination,

    /// Deliverables (and orders) in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Deliverable bodies streaming at once from one host.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_per_host: u16,

    /// Only the deliverables whose id hashes to shard K of N (0 <= K < N), for N machines sharing
    /// one sync.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,

    /// Stop at the first failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Print what would be fetched, skipped or is not ready, and fetch nothing (with --json, a
    /// line each, for orchestrators to split the work).
    #[arg(long, conflicts_with = "fail_fast")]
    pub plan: bool,

    /// Also keep a STAC catalog of the destination: DEST/catalog.json, a catalog per order and an
    /// item per deliverable (see `wyvern catalog`). With --shard, only this shard's items are
    /// written: run `wyvern catalog DEST` once the last shard is done to link them.
    #[arg(long, conflicts_with = "plan")]
    pub catalog: bool,

    /// With --catalog: an asset per band of each extracted multi-band GeoTIFF (see `wyvern catalog
    /// --band-assets`).
    #[arg(long, requires = "catalog")]
    pub band_assets: bool,

    /// Keep DEST in step: a round every --interval, each fetching what is new, until SIGTERM
    /// (exit 0) or Ctrl-C. Rounds that fail (the API down, say) are waited out, never fatal.
    #[arg(long, conflicts_with_all = ["plan", "fail_fast"])]
    pub watch: bool,

    /// The time between rounds of --watch, e.g. 10m.
    #[arg(long, value_name = "DURATION", default_value = "5m", requires = "watch", value_parser = parse_positive_duration)]
    pub interval: Duration,

    /// Serve Prometheus metrics at http://ADDR/metrics and a health check at /healthz while
    /// the command runs, e.g. 0.0.0.0:9090.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

impl SyncArgs {
    /// What the library's sync is asked to do.
    pub(crate) fn request(&self) -> Request {
        let wanted = if self.all { Wanted::Account } else { Wanted::Orders(self.order_ids.clone()) };
        Request {
            concurrency: usize::from(self.concurrency),
            shard: self.shard,
            fail_fast: self.fail_fast,
            catalog: self.catalog,
            band_assets: self.band_assets,
            plan: self.plan,
            hook: self.destination.hook(),
            ..Request::new(wanted)
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct Destination {
    /// Where to write: a folder, file:///path, s3://bucket/prefix, gs://bucket/prefix,
    /// az://container/prefix, or a URL of another registered sink scheme.
    #[arg(long = "to", value_name = "DEST", default_value = ".")]
    pub to: String,

    /// What to do when a deliverable is already at the destination: skip it when its receipt
    /// and size match (download it again otherwise), overwrite it, or fail.
    #[arg(long, value_parser = if_exists(), default_value = "skip")]
    pub if_exists: IfExists,

    /// Write each deliverable's members to DEST/.../<deliverable_id>/<member path> instead of
    /// the zip (streamed, verified, no temporary copy).
    #[arg(long, conflicts_with = "no_verify")]
    pub extract: bool,

    /// Skip the zip verification done while downloading.
    #[arg(long)]
    pub no_verify: bool,

    /// Fetch only the members this glob matches (repeatable), laid out as --extract lays them
    /// out, each verified: with ranged requests, not the whole zip. A glob without "/" matches
    /// a member's name in any folder ('*.json'); one with "/" its whole path; ** crosses folders.
    #[arg(long, value_name = "GLOB", value_parser = glob)]
    pub include: Vec<String>,

    /// Leave out the members this glob matches (repeatable; as --include, which it overrides).
    #[arg(long, value_name = "GLOB", value_parser = glob)]
    pub exclude: Vec<String>,

    /// Run this shell command (sh -c) after each deliverable delivered (not skipped), with
    /// WYVERN_ORDER_ID, WYVERN_DELIVERABLE_ID, WYVERN_DESTINATION, WYVERN_SHA256 and
    /// WYVERN_BYTES in its environment and never the token or password. A hook that fails is
    /// reported and counted (exit 7); the delivery stands.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Kill a hook that runs longer than this (and count it as failed).
    #[arg(long, value_name = "DURATION", default_value = "10m", requires = "exec", value_parser = parse_positive_duration)]
    pub exec_timeout: Duration,
}

impl Destination {
    /// How deliverables are delivered.
    pub(crate) fn options(&self) -> Options {
        // The globs were each read when parsed: together they cannot fail.
        let members = Members::new(self.include.clone(), self.exclude.clone()).ok().flatten();
        Options {
            if_exists: self.if_exists,
            verify: !self.no_verify,
            extract: self.extract,
            members: members.map(std::sync::Arc::new),
        }
    }

    /// The hook of `--exec`.
    pub(crate) fn hook(&self) -> Option<Hook> {
        self.exec.clone().map(|command| Hook { command, timeout: self.exec_timeout })
    }
}

/// The global options only the commands that talk to the API use (by their ids).
const API_OPTIONS: [&str; 13] = [
    "api_url",
    "sandbox",
    "token_file",
    "password_file",
    "allow_http",
    "retries",
    "read_timeout",
    "speed_limit",
    "limit_rate",
    "speed_time",
    "ca_cert",
    "connections",
    "segment_size",
];

/// The commands that never talk to the API: their help leaves [`API_OPTIONS`] out.
const LOCAL_COMMANDS: [&str; 7] = ["inspect", "verify", "extract", "catalog", "report", "completions", "man"];

impl Cli {
    /// Parses a command line (the program name first).
    pub(crate) fn parse_args(
        args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
    ) -> clap::error::Result<Self> {
        Self::from_arg_matches(&Self::shown().try_get_matches_from(args)?)
    }

    /// The command as `--help` shows it: each command with the options it uses. The API's
    /// options stay accepted anywhere, but are hidden where nothing reads them.
    pub(crate) fn shown() -> clap::Command {
        let command = Self::command();
        // A subcommand's own (hidden, not global) copy of an option keeps the global one from
        // being copied into it; the command does not read it.
        let hidden: Vec<clap::Arg> = command
            .get_arguments()
            .filter(|arg| API_OPTIONS.contains(&arg.get_id().as_str()))
            .map(|arg| arg.clone().global(false).hide(true))
            .collect();
        LOCAL_COMMANDS
            .into_iter()
            .fold(command, |command, name| command.mut_subcommand(name, |sub| sub.args(hidden.clone())))
    }
}

/// `--if-exists`: one of the library's names, listed in `--help`.
fn if_exists() -> impl TypedValueParser<Value = IfExists> {
    clap::builder::PossibleValuesParser::new(["skip", "overwrite", "fail"]).try_map(|text| text.parse::<IfExists>())
}

/// A default duration as the flags and the docs spell it (`60s`).
fn duration(value: Duration) -> String {
    match value.subsec_nanos() {
        0 => format!("{}s", value.as_secs()),
        _ => humantime::format_duration(value).to_string(),
    }
}

/// A default size as the flags and the docs spell it (`8MiB`, `1KiB`): the largest binary unit
/// that divides it.
fn size(value: u64) -> String {
    let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match units.into_iter().find(|(unit, _)| value >= *unit && value.is_multiple_of(*unit)) {
        Some((unit, name)) => format!("{}{name}", value / unit),
        None => format!("{value}B"),
    }
}

/// A size such as `8MiB`, at most 1 TiB (so that nothing built from it overflows).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = text.parse().map_err(|e| format!("{e} (examples: 8MiB, 512KiB, 1GiB)"))?;
    // The parser saturates on overflow; a number that large was not meant.
    let digits: f64 = text
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0.0);
    if size.as_u64() > 1 << 40 || (digits > 0.0 && size.as_u64() == u64::MAX) {
        return Err("sizes above 1TiB are not accepted".to_owned());
    }
    Ok(size.as_u64())
}

fn parse_size(text: &str) -> Result<u64, String> {
    let size = parse_bytes(text)?;
    if size < 64 << 10 {
        return Err("segments smaller than 64KiB would spend more on requests than on bytes".to_owned());
    }
    if size > 1 << 30 {
        return Err("segments larger than 1GiB would hold too much in memory (3 x segment)".to_owned());
    }
    Ok(size)
}

fn parse_speed(text: &str) -> Result<u64, String> {
    parse_bytes(text.trim_end_matches("/s"))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 30s, 5m, 1h30m)"))
}

/// A member glob (`--include`, `--exclude`) that can be read.
fn glob(text: &str) -> Result<String, String> {
    match Members::new(vec![text.to_owned()], Vec::new()) {
        Ok(_) => Ok(text.to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        zero if zero.is_zero() => Err("must be longer than zero".to_owned()),
        duration => Ok(duration),
    }
}
