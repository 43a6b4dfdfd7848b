//! What the tests need beyond Rust, installed on first use and reused: one Python virtual
//! environment under `target/venv` (the storage emulators moto and WsgiDAV, rasterio with its
//! GDAL, stream-zip, pystac, pytest), the zip writers of the differential corpus (Debian's
//! Info-ZIP, libarchive and 7-Zip, npm's yazl; Java's jar when the machine has a JDK), Debian's
//! Chromium (which opens `wyvern report`'s page), and the corpora themselves, written anew each
//! run under `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Every Python package the tests use, pinned (versions that install on CPython 3.11 here).
pub(crate) const PYTHON_PACKAGES: &[&str] = &[
    "moto[server]==5.2.5",
    "wsgidav==4.4.0",
    "cheroot==11.1.2",
    "rasterio==1.4.3",
    "stream-zip==0.0.83",
    "pystac==1.12.1",
    "pytest==8.3.5",
    "maturin==1.16.0",
    "tqdm==4.70.1",
    "kubernetes-validate==1.37.0",
    "prometheus-client==0.21.1",
    "odc-stac==0.5.3",
    "stackstac==0.5.1",
    "check-jsonschema==0.33.3",
];
/// Debian packages of the zip writers and readers, and of the browser that opens `wyvern
/// report`'s page (command, package).
const DEBIAN: &[(&str, &str)] = &[
    ("zip", "zip"),
    ("unzip", "unzip"),
    ("bsdtar", "libarchive-tools"),
    ("7zz", "7zip"),
    ("chromium", "chromium"),
    ("script", "bsdutils"),
];
const YAZL: &str = "yazl@3.3.1";

/// The shared virtual environment, with [`PYTHON_PACKAGES`] installed.
pub(crate) fn venv(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join("target/venv");
    if !dir.join("bin/python").exists() {
        crate::run("create the Python venv under target/venv", Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    }
    pip_install_once(
        &dir,
        ".wyvern-packages",
        PYTHON_PACKAGES,
        "install the tests' Python packages (once; about 30 s)",
    )?;
    Ok(dir)
}

/// Installs `packages` into `venv` unless its file `marker` lists exactly them (written after).
pub(crate) fn pip_install_once(venv: &Path, marker: &str, packages: &[&str], step: &str) -> anyhow::Result<()> {
    let marker = venv.join(marker);
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    crate::run(
        step,
        Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check"]).args(packages),
    )?;
    std::fs::write(&marker, wanted)?;
    Ok(())
}

/// Installs the Python package into `venv` with the documented command, `pip install ./python`
/// (`release`: an optimised build, as users get; else a debug one, quicker to build). Both share
/// `target/` with cargo, built with `env` added (the test run's build settings, so that the
/// workspace's crates are not compiled again). Returns the `PATH` that puts the venv first, for
/// what runs in it.
pub(crate) fn install_package(
    root: &Path,
    venv: &Path,
    release: bool,
    env: &[(String, std::ffi::OsString)],
) -> anyhow::Result<std::ffi::OsString> {
    // maturin's build backend runs the `maturin` the venv holds.
    let path = venv_path(venv)?;
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.current_dir(root)
        .args(["install", "--quiet", "--disable-pip-version-check", "--no-build-isolation", "--force-reinstall"])
        .args(["--no-deps", "./python"])
        .env("PATH", &path)
        .envs(env.iter().cloned());
    if !release {
        pip.env("MATURIN_PEP517_ARGS", "--profile dev");
    }
    let build = if release { "an optimised build" } else { "a debug build" };
    crate::run(&format!("pip install ./python (the Python package, {build})"), &mut pip)?;
    Ok(path)
}

/// `PATH` with the venv's `bin` first, as an activated venv has it.
pub(crate) fn venv_path(venv: &Path) -> anyhow::Result<std::ffi::OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    Ok(std::env::join_paths(std::iter::once(venv.join("bin")).chain(std::env::split_paths(&path)))?)
}

/// Installs the Debian packages above that are missing (`apt-get`, as root).
fn debian_tools() -> anyhow::Result<()> {
    let missing: Vec<&str> = DEBIAN.iter().filter(|(command, _)| which(command).is_none()).map(|(_, p)| *p).collect();
    if missing.is_empty() {
        return Ok(());
    }
    crate::run("apt-get update (for the zip writers and Chromium)", Command::new("apt-get").args(["update", "-qq"]))?;
    crate::run(
        &format!("install the zip writers and Chromium: {}", missing.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn which(command: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(command)).find(|p| p.is_file())
}

/// Writes the zip corpus and the GeoTIFF deliverables; returns the tests' environment.
pub(crate) fn build(root: &Path, venv: &Path) -> anyhow::Result<Vec<(String, String)>> {
    debian_tools()?;
    let node = root.join("target/corpus-node");
    let yazl = node.join("node_modules/yazl");
    if !yazl.exists() {
        std::fs::create_dir_all(&node)?;
        crate::run(
            &format!("install {YAZL} (a streaming zip writer for the corpus)"),
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&node)
                .arg(YAZL),
        )?;
    }
    if which("jar").is_none() {
        eprintln!("note: no JDK here (jar): the corpus goes without Java's ZipOutputStream");
    }
    let python = venv.join("bin/python");
    let zips = root.join("target/zip-corpus");
    crate::run(
        "write the differential zip corpus",
        Command::new(&python).arg(root.join("tests/corpus/zips.py")).arg(&zips).env("WYVERN_CORPUS_YAZL", &yazl),
    )?;
    let geotiffs = root.join("target/geotiffs");
    crate::run(
        "write deliverables holding GDAL's GeoTIFFs",
        Command::new(&python).arg(root.join("tests/corpus/geotiffs.py")).arg(&geotiffs),
    )?;
    let text =
        |path: &Path| path.to_str().map(str::to_owned).with_context(|| format!("{} is not UTF-8", path.display()));
    if !zips.join("manifest.json").exists() || !geotiffs.join("manifest.json").exists() {
        bail!("the corpus scripts wrote no manifest");
    }
    Ok(vec![
        ("WYVERN_TEST_ZIP_CORPUS".to_owned(), text(&zips)?),
        ("WYVERN_TEST_GEOTIFFS".to_owned(), text(&geotiffs)?),
        ("WYVERN_TEST_PYTHON".to_owned(), text(&python)?),
    ])
}
