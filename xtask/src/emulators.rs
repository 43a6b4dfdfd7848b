//! Real storage servers on loopback for `cargo xtask test`: s3s-fs for S3 (checks SigV4, disk
//! backed), Azurite for Azure, moto's XML API for the GCS client path, and WsgiDAV for the
//! WebDAV sink crate. Installed on first use under `target/emulators/` (s3s-fs, Azurite) and in
//! the shared Python venv (moto, WsgiDAV: see `corpus.rs`), pinned versions that build and run
//! here; started on free ports, stopped when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const S3S_FS: &str = "s3s-fs@0.14.0";
const AZURITE: &str = "azurite@3.35.0";
/// Azurite's well-known development account key (public, from Microsoft's docs).
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The running servers and the environment that points tests at them.
#[derive(Debug)]
pub(crate) struct Emulators {
    children: Vec<(&'static str, Child)>,
    pub env: Vec<(String, String)>,
    run_dir: PathBuf,
}

impl Drop for Emulators {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

fn run(step: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("==> {step}");
    let output = crate::timed(step, || command.output()).with_context(|| format!("starting: {step}"))?;
    if !output.status.success() {
        bail!("failed: {step}\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for(name: &str, port: u16, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited ({status}) before listening on {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{name} did not listen on {port} within 60 s")
}

/// Installs the servers that are missing (s3s-fs with cargo, Azurite with npm; moto and WsgiDAV
/// come with the venv).
pub(crate) fn install(root: &Path, venv: &Path) -> anyhow::Result<()> {
    Tools::install(&root.join("target").join("emulators"), venv).map(drop)
}

impl Emulators {
    /// Installs what is missing and starts every server.
    pub(crate) fn start(root: &Path) -> anyhow::Result<Self> {
        let dir = root.join("target").join("emulators");
        let tools = Tools::install(&dir, &crate::corpus::venv(root)?)?;
        let run_dir = dir.join(format!("run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)?;
        let mut emulators = Self { children: Vec::new(), env: Vec::new(), run_dir };
        emulators.s3(&tools)?;
        emulators.azure(&tools, root)?;
        emulators.gcs(&tools)?;
        emulators.webdav(&tools)?;
        Ok(emulators)
    }

    /// Points the tests at a server.
    fn set(&mut self, vars: &[(&str, String)]) {
        self.env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    }

    /// S3: s3s-fs serves buckets as folders under its root.
    fn s3(&mut self, tools: &Tools) -> anyhow::Result<()> {
        let port = free_port()?;
        let s3_root = self.run_dir.join("s3");
        std::fs::create_dir_all(s3_root.join("test-bucket"))?;
        self.spawn(
            "s3s-fs",
            port,
            Command::new(&tools.s3s_fs)
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "test"])
                .args(["--secret-key", "test"])
                .arg(&s3_root),
        )?;
        self.set(&[
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("WYVERN_TEST_S3_URL", "s3://test-bucket/wyvern".into()),
            ("WYVERN_TEST_S3_DATA_DIR", s3_root.display().to_string()),
        ]);
        Ok(())
    }

    /// Azure: Azurite, with the container made by one signed request.
    fn azure(&mut self, tools: &Tools, root: &Path) -> anyhow::Result<()> {
        let port = free_port()?;
        let data = self.run_dir.join("azurite");
        self.spawn(
            "azurite",
            port,
            Command::new(&tools.azurite)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "-l"])
                .arg(data)
                .args(["--skipApiVersionCheck", "--disableTelemetry", "--silent"]),
        )?;
        let endpoint = format!("http://127.0.0.1:{port}");
        run(
            "create the Azurite container",
            Command::new("python3")
                .arg(root.join("xtask/scripts/azurite_mkcontainer.py"))
                .args([&endpoint, "test-bucket"]),
        )?;
        self.set(&[
            ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1".into()),
            ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY.into()),
            ("AZURE_STORAGE_ENDPOINT", format!("{endpoint}/devstoreaccount1")),
            ("AZURE_ALLOW_HTTP", "true".into()),
            ("WYVERN_TEST_AZURE_URL", "az://test-bucket/wyvern".into()),
        ]);
        Ok(())
    }

    /// The GCS client path: moto speaks the XML API object_store's GCS client uses.
    fn gcs(&mut self, tools: &Tools) -> anyhow::Result<()> {
        let port = free_port()?;
        self.spawn("moto", port, Command::new(&tools.moto).args(["-H", "127.0.0.1", "-p", &port.to_string()]))?;
        let base = format!("http://127.0.0.1:{port}");
        run(
            "create the GCS-path bucket",
            Command::new("python3").args([
                "-c",
                "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='PUT'))",
                &format!("{base}/testbucket"),
            ]),
        )?;
        let service_account = gcs_service_account(&self.run_dir, &base)?;
        self.set(&[
            ("GOOGLE_SERVICE_ACCOUNT", service_account.display().to_string()),
            ("WYVERN_TEST_GCS_URL", "gs://testbucket/wyvern".into()),
        ]);
        Ok(())
    }

    /// WebDAV, for the example third-party sink crate.
    fn webdav(&mut self, tools: &Tools) -> anyhow::Result<()> {
        let port = free_port()?;
        let dav_root = self.run_dir.join("webdav");
        std::fs::create_dir_all(&dav_root)?;
        self.spawn(
            "wsgidav",
            port,
            Command::new(&tools.wsgidav)
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--auth", "anonymous", "--no-config"])
                .arg("--root")
                .arg(&dav_root),
        )?;
        self.set(&[("WYVERN_TEST_WEBDAV_URL", format!("webdav://127.0.0.1:{port}/wyvern"))]);
        Ok(())
    }

    fn spawn(&mut self, name: &'static str, port: u16, command: &mut Command) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.run_dir.join(format!("{name}.log")))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let ready = wait_for(name, port, &mut child);
        self.children.push((name, child));
        ready?;
        eprintln!("==> {name} listening on 127.0.0.1:{port}");
        Ok(())
    }
}

/// A service account whose key signs JWTs locally (no token server is asked), pointed at moto.
fn gcs_service_account(run_dir: &Path, base_url: &str) -> anyhow::Result<PathBuf> {
    let key_path = run_dir.join("gcs-key.pem");
    run(
        "generate a throwaway RSA key for the GCS service account",
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&key_path),
    )?;
    let key = std::fs::read_to_string(&key_path)?;
    let account = serde_json::json!({
        "type": "service_account",
        "private_key": key,
        "private_key_id": "wyvern-test",
        "client_email": "wyvern-test@example.iam.gserviceaccount.com",
        "gcs_base_url": base_url,
    });
    let path = run_dir.join("gcs-service-account.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&account)?)?;
    Ok(path)
}

/// The emulators' executables, installed under `target/emulators/` when missing.
struct Tools {
    s3s_fs: PathBuf,
    azurite: PathBuf,
    moto: PathBuf,
    wsgidav: PathBuf,
}

impl Tools {
    fn install(dir: &Path, venv: &Path) -> anyhow::Result<Self> {
        let tools = Self {
            s3s_fs: dir.join("cargo/bin/s3s-fs"),
            azurite: dir.join("azurite/node_modules/.bin/azurite-blob"),
            moto: venv.join("bin/moto_server"),
            wsgidav: venv.join("bin/wsgidav"),
        };
        if !tools.s3s_fs.exists() {
            run(
                &format!("install {S3S_FS} (once; about 90 s)"),
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                    .args(["install", "--quiet", "--locked", "--features", "binary", "--root"])
                    .arg(dir.join("cargo"))
                    // Optimised a little, and its big protocol crate (s3s) not at all: its build
                    // takes 187 s of CPU instead of about 300 at the release profile's level 3,
                    // and it still takes a GiB in the tests in seconds (28 s for the 1 GiB test,
                    // 30 s before).
                    .args(["--config", "profile.release.opt-level=1", "--config", "profile.release.debug=0"])
                    .args(["--config", "profile.release.package.s3s.opt-level=0"])
                    .arg(S3S_FS),
            )?;
        }
        if !tools.azurite.exists() {
            let prefix = dir.join("azurite");
            std::fs::create_dir_all(&prefix)?;
            run(
                &format!("install {AZURITE} (once; needs node and npm)"),
                Command::new("npm").args(["install", "--no-audit", "--no-fund", "--prefix"]).arg(&prefix).arg(AZURITE),
            )?;
        }
        Ok(tools)
    }
}
