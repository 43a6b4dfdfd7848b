//! A userspace TCP proxy on loopback that behaves like a distant link, for `cargo xtask bench`:
//! every byte is delayed by half the round-trip time in each direction, and each connection's
//! bandwidth is capped (the kernel's netem is not available everywhere). It also counts the
//! bytes and the HTTP responses it carries from the server, which measures what a client read
//! and how many requests it made.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes read from a socket at once; also the pacing granularity.
const PIECE: usize = 16 << 10;
/// How far behind its schedule a paced direction may fall and still catch up.
const SLACK: Duration = Duration::from_millis(5);
/// Pieces queued per direction: enough for the bandwidth-delay product of the links simulated.
const QUEUE: usize = 512;

/// How the link behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub rtt: Duration,
    /// Bytes per second per connection and direction; `None` for no cap.
    pub rate: Option<u64>,
}

/// A running proxy; it stops with the process (its threads are detached).
pub(crate) struct Link {
    pub addr: SocketAddr,
    from_server: Arc<Counts>,
}

/// What came from the server.
#[derive(Debug, Default)]
struct Counts {
    bytes: AtomicU64,
    responses: AtomicU64,
}

impl Link {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub(crate) fn start(upstream: SocketAddr, shape: Shape) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let from_server = Arc::new(Counts::default());
        let counter = from_server.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else { continue };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else { continue };
                pipe(client, server, shape, None);
                pipe(server2, client2, shape, Some(counter.clone()));
            }
        });
        Ok(Self { addr, from_server })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes carried from the server to clients so far.
    pub(crate) fn bytes_from_server(&self) -> u64 {
        self.from_server.bytes.load(Ordering::Relaxed)
    }

    /// HTTP responses carried from the server so far (requests answered).
    pub(crate) fn responses(&self) -> u64 {
        self.from_server.responses.load(Ordering::Relaxed)
    }
}

/// `cargo xtask link UPSTREAM [--rtt MS] [--rate MB_PER_S]`: the bench's link in front of
/// `UPSTREAM`, for trying a download by hand; runs until interrupted.
pub(crate) fn serve(args: &[String]) -> anyhow::Result<()> {
    let mut shape = Shape { rtt: Duration::from_millis(50), rate: Some(40_000_000) };
    let mut upstream = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow::anyhow!("{arg} takes a value"));
        match arg.as_str() {
            "--rtt" => shape.rtt = Duration::from_millis(value()?.parse()?),
            "--rate" => shape.rate = Some(value()?.parse::<u64>()? * 1_000_000),
            other => upstream = Some(other.trim_start_matches("http://").parse::<SocketAddr>()?),
        }
    }
    let upstream =
        upstream.ok_or_else(|| anyhow::anyhow!("usage: cargo xtask link HOST:PORT [--rtt MS] [--rate MB_PER_S]"))?;
    let link = Link::start(upstream, shape)?;
    println!("{}", link.url());
    loop {
        std::thread::park();
    }
}

/// The length of a status line's start: `HTTP/1.1 200 `.
const STATUS_LINE: usize = 13;

/// Whether `bytes` start a status line.
fn is_status_line(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/1.1 ") && bytes[9..12].iter().all(u8::is_ascii_digit) && bytes[12] == b' '
}

/// Copies `from` to `to` through a delay line, paced to the rate.
fn pipe(mut from: TcpStream, mut to: TcpStream, shape: Shape, counter: Option<Arc<Counts>>) {
    let (sender, receiver) = mpsc::sync_channel::<(Instant, Vec<u8>)>(QUEUE);
    std::thread::spawn(move || {
        loop {
            let mut piece = vec![0; PIECE];
            match from.read(&mut piece) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    piece.truncate(n);
                    if sender.send((Instant::now(), piece)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        let delay = shape.rtt / 2;
        let mut next = Instant::now();
        // Responses start with a status line (`HTTP/1.1 200 `), right after the body before it
        // (which need not end a line); the tail of each piece is kept for lines split across
        // pieces.
        let mut tail = Vec::new();
        for (read_at, piece) in receiver {
            sleep_until(read_at + delay);
            if let Some(rate) = shape.rate {
                // A piece that was waiting goes at its time on the schedule, which a thread of
                // this proxy woken late (the machine is busy) catches up within SLACK, as a
                // link's queue would; an idle link earns no credit: its schedule starts again
                // when the piece is due. The rate over any stretch stays the cap.
                next = next.max(read_at + delay).max(Instant::now() - SLACK);
                sleep_until(next);
                next += Duration::from_secs_f64(piece.len() as f64 / rate as f64);
            }
            if to.write_all(&piece).is_err() {
                break;
            }
            if let Some(counter) = &counter {
                counter.bytes.fetch_add(piece.len() as u64, Ordering::Relaxed);
                let mut seen = std::mem::take(&mut tail);
                seen.extend_from_slice(&piece);
                // (memchr's search: a byte-by-byte scan in this unoptimised binary would make
                // the proxy the slowest part of the link it stands for.)
                let responses = memchr::memmem::find_iter(&seen, b"HTTP/1.1 ")
                    .filter(|&at| seen.get(at..at + STATUS_LINE).is_some_and(is_status_line))
                    .count();
                counter.responses.fetch_add(responses as u64, Ordering::Relaxed);
                tail = seen[seen.len().saturating_sub(STATUS_LINE - 1)..].to_vec();
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}
