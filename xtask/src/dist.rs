//! `cargo xtask dist [--check]`: what a user installs without Rust, built into `target/dist/`:
//! an abi3 wheel of the Python package tagged `manylinux_2_28` (maturin's `--zig`, checked with
//! `auditwheel show`), a `.tar.gz` of the `wyvern` binary for x86_64 Linux with glibc 2.28 or
//! older (cargo-zigbuild), its shell completions, man pages and the licence, and `SHA256SUMS` of
//! both. `--check` then installs each where no Rust toolchain is on `PATH` and downloads the
//! sandbox order through it (`xtask/dist-check.py`). The zig toolchain, cargo-zigbuild and
//! auditwheel come from PyPI into the tests' virtual environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::{root, run};

/// The packages `dist` adds to the venv (ziglang is the zig compiler as a wheel).
const DIST_PACKAGES: &[&str] = &["ziglang==0.15.2", "cargo-zigbuild==0.22.3", "auditwheel==6.8.2"];
/// The one target built here: x86_64 Linux (the release workflow builds the others).
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The oldest glibc the artifacts run on: manylinux_2_28 (RHEL 8, Debian 10, Ubuntu 18.10).
const GLIBC: (u32, u32) = (2, 28);
/// What builds the `wyvern` binary, after `cargo build` (or `cargo zigbuild`): the Containerfile
/// builds the same (a test holds it to that).
const BUILD_ARGS: &str = "--release --locked -p wyvern-cli --bin wyvern";
/// The shells whose completions the tarball carries, with the file names their loaders expect.
const COMPLETIONS: [(&str, &str); 3] = [("bash", "wyvern.bash"), ("zsh", "_wyvern"), ("fish", "wyvern.fish")];

/// Builds the artifacts into `target/dist/`; with `check`, installs and runs each.
pub(crate) fn dist(check: bool) -> anyhow::Result<()> {
    let venv = crate::corpus::venv(&root())?;
    let tools = "install zig, cargo-zigbuild and auditwheel into target/venv (once)";
    crate::corpus::pip_install_once(&venv, ".wyvern-dist-packages", DIST_PACKAGES, tools)?;
    let path = crate::corpus::venv_path(&venv)?;
    let out = root().join("target/dist");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let binary = build_binary(&path)?;
    let tarball = package_binary(&binary, &out)?;
    let wheel = build_wheel(&venv, &path, &out)?;
    let names = [&wheel, &tarball].map(|file| file.file_name().expect("a file").to_os_string());
    let sums = Command::new("sha256sum").current_dir(&out).args(names).output().context("sha256sum")?;
    if !sums.status.success() {
        bail!("sha256sum failed: {}", String::from_utf8_lossy(&sums.stderr));
    }
    std::fs::write(out.join("SHA256SUMS"), &sums.stdout)?;
    eprintln!("\n{}:\n{}", out.display(), String::from_utf8_lossy(&sums.stdout));
    if check {
        self::check(&out, &wheel, &tarball)?;
    }
    Ok(())
}

/// `cargo zigbuild` of the binary against glibc 2.28; checks the symbol versions it needs.
fn build_binary(path: &OsString) -> anyhow::Result<PathBuf> {
    let (major, minor) = GLIBC;
    run(
        &format!("cargo zigbuild {BUILD_ARGS} --target {TARGET}.{major}.{minor}"),
        crate::cargo()
            .arg("zigbuild")
            .args(BUILD_ARGS.split(' '))
            .args(["--target", &format!("{TARGET}.{major}.{minor}")])
            .env("PATH", path),
    )?;
    let binary = root().join("target").join(TARGET).join("release/wyvern");
    let symbols = Command::new("objdump").arg("-T").arg(&binary).output().context("objdump -T (binutils)")?;
    let needed = versions(&String::from_utf8_lossy(&symbols.stdout), "GLIBC_", '.')
        .max()
        .context("the binary names no glibc symbol version: is it dynamically linked?")?;
    if needed > GLIBC {
        bail!("{} needs glibc {}.{}, newer than {major}.{minor}", binary.display(), needed.0, needed.1);
    }
    eprintln!("the binary needs glibc {}.{} at most", needed.0, needed.1);
    Ok(binary)
}

/// The `.tar.gz`: `wyvern-<version>-<target>/` holding the binary, the licence, the README,
/// `completions/` and `man/man1/`, the pages and scripts made by the binary itself.
fn package_binary(binary: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let version = String::from_utf8(Command::new(binary).arg("--version").output()?.stdout)?;
    let version = version.trim().strip_prefix("wyvern ").context("wyvern --version")?.to_owned();
    let name = format!("wyvern-{version}-{TARGET}");
    let staging = root().join("target/dist-staging");
    let _ = std::fs::remove_dir_all(&staging);
    let folder = staging.join(&name);
    std::fs::create_dir_all(folder.join("completions"))?;
    std::fs::copy(binary, folder.join("wyvern"))?;
    for file in ["LICENSE", "README.md"] {
        std::fs::copy(root().join(file), folder.join(file)).with_context(|| format!("copying {file}"))?;
    }
    for (shell, file) in COMPLETIONS {
        let script = Command::new(binary).args(["completions", shell]).output()?;
        std::fs::write(folder.join("completions").join(file), script.stdout)?;
    }
    run("the man pages (wyvern man)", Command::new(binary).arg("man").arg(folder.join("man/man1")))?;
    let tarball = out.join(format!("{name}.tar.gz"));
    run(
        &format!("pack {}", tarball.display()),
        Command::new("tar")
            .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-czf"])
            .arg(&tarball)
            .arg("-C")
            .arg(&staging)
            .arg(&name),
    )?;
    std::fs::remove_dir_all(&staging)?;
    Ok(tarball)
}

/// maturin's `--zig` build of the abi3 wheel, tagged `manylinux_2_28`; `auditwheel show` must
/// find it consistent with that tag or an older one.
fn build_wheel(venv: &Path, path: &OsString, out: &Path) -> anyhow::Result<PathBuf> {
    let (major, minor) = GLIBC;
    let tag = format!("manylinux_{major}_{minor}");
    run(
        &format!("maturin build --release --zig --compatibility {tag} (the wheel)"),
        Command::new(venv.join("bin/maturin"))
            .current_dir(root())
            .args(["build", "--release", "--locked", "--zig", "--target", TARGET, "--compatibility", &tag])
            .args(["--manifest-path", "python/Cargo.toml", "--out"])
            .arg(out)
            // Apart from the binary's build: sharing a target folder, each build's other
            // features and zig settings made the other one compile much of the graph again.
            .arg("--target-dir")
            .arg(root().join("target/dist-wheel"))
            .env("PATH", path),
    )?;
    let wheel = std::fs::read_dir(out)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin wrote no wheel")?;
    let file = wheel.file_name().and_then(|n| n.to_str()).context("wheel name")?.to_owned();
    if !file.contains("-cp39-abi3-") || versions(&file, "manylinux_", '_').next().is_none_or(|tagged| tagged > GLIBC) {
        bail!("{file} is not an abi3 (CPython >= 3.9) wheel tagged {tag} or older");
    }
    let show = Command::new(venv.join("bin/auditwheel")).arg("show").arg(&wheel).output()?;
    let said = String::from_utf8_lossy(&show.stdout).into_owned();
    let consistent = said.split_once("consistent with").map(|(_, rest)| rest).unwrap_or_default();
    match versions(consistent, "manylinux_", '_').next() {
        Some(policy) if show.status.success() && policy <= GLIBC => {
            eprintln!("auditwheel show: {file} is consistent with manylinux_{}_{}", policy.0, policy.1);
            Ok(wheel)
        }
        _ => bail!("auditwheel show {file}:\n{said}{}", String::from_utf8_lossy(&show.stderr)),
    }
}

/// Each `<marker><major><separator><minor>` in `text`, in order: the glibc symbol versions
/// `objdump -T` lists (`GLIBC_2.28`), or platform tags (`manylinux_2_28`).
fn versions<'a>(text: &'a str, marker: &'a str, separator: char) -> impl Iterator<Item = (u32, u32)> + 'a {
    text.match_indices(marker).filter_map(move |(at, _)| {
        let rest = &text[at + marker.len()..];
        let (major, rest) = rest.split_once(separator)?;
        let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((major.parse().ok()?, minor.parse().ok()?))
    })
}

/// Installs the wheel into a fresh venv whose `PATH` holds no `cargo` or `rustc`, unpacks the
/// tarball, and runs `xtask/dist-check.py` there: the Python API, the wheel's `wyvern` and the
/// tarball's each download the sandbox order from the wheel's own replica, verified.
fn check(out: &Path, wheel: &Path, tarball: &Path) -> anyhow::Result<()> {
    run("sha256sum -c SHA256SUMS", Command::new("sha256sum").current_dir(out).args(["-c", "SHA256SUMS"]))?;
    let work = root().join("target/dist-check");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let venv = work.join("venv");
    run("a fresh venv for the wheel", without_rust(Command::new("python3").args(["-m", "venv"]).arg(&venv))?)?;
    run(
        "pip install --no-index the wheel (no Rust on PATH)",
        without_rust(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--no-index"]).arg(wheel))?,
    )?;
    run("unpack the tarball", Command::new("tar").arg("-xzf").arg(tarball).arg("-C").arg(&work))?;
    let name = tarball.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".tar.gz")).context("name")?;
    let unpacked = work.join(name);
    let completions = COMPLETIONS.map(|(_, file)| format!("completions/{file}"));
    for file in std::iter::once("LICENSE").chain(completions.iter().map(String::as_str)) {
        let size = std::fs::metadata(unpacked.join(file)).with_context(|| format!("the tarball lacks {file}"))?.len();
        anyhow::ensure!(size > 0, "the tarball's {file} is empty");
    }
    let page = std::fs::read_to_string(unpacked.join("man/man1/wyvern.1")).context("the tarball's wyvern.1")?;
    anyhow::ensure!(page.contains(".TH wyvern 1"), "wyvern.1 is not a man page");
    run(
        "the wheel and the tarball's binary download the sandbox order (xtask/dist-check.py)",
        without_rust(
            Command::new(venv.join("bin/python"))
                .arg(root().join("xtask/dist-check.py"))
                .arg(unpacked.join("wyvern"))
                .arg(work.join("downloads"))
                .current_dir(&work),
        )?,
    )
}

/// `command` with no Rust toolchain in reach: `PATH` without the folders that hold `cargo` or
/// `rustc`, and no `CARGO*` or `RUST*` variables (cargo sets them for xtask).
fn without_rust(command: &mut Command) -> anyhow::Result<&mut Command> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept = std::env::split_paths(&path).filter(|dir| !dir.join("cargo").exists() && !dir.join("rustc").exists());
    command.env("PATH", std::env::join_paths(kept)?);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("CARGO") || k.starts_with("RUST")) {
            command.env_remove(key);
        }
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_containerfile_builds_the_binary_dist_builds() {
        let containerfile = std::fs::read_to_string(root().join("Containerfile")).expect("Containerfile");
        let joined = containerfile.replace("\\\n", " ").split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(joined.contains(&format!("RUN cargo build {BUILD_ARGS} ")), "{containerfile}");
        assert!(joined.contains("target/release/wyvern /out/wyvern"), "{containerfile}");
    }

    #[test]
    fn versions_are_read_from_symbol_tables_and_platform_tags() {
        let objdump = "0000 DF *UND* 0000 (GLIBC_2.2.5) memcpy\n0000 DF *UND* 0000 (GLIBC_2.28) fcntl64\n\
                       0000 DF *UND* 0000 (GLIBC_2.17) clock_gettime\n0000 DF *UND* 0000 (GLIBC_2.3.4) x\n";
        assert_eq!(versions(objdump, "GLIBC_", '.').max(), Some((2, 28)));
        assert_eq!(versions("0000 DF *UND* 0000 (GCC_4.2.0) _Unwind", "GLIBC_", '.').max(), None);
        let said = "\nwyvern-0.1.0-cp39-abi3-manylinux_2_28_x86_64.whl is consistent with\nthe following \
                    platform tag: \"manylinux_2_17_x86_64\".\n";
        assert_eq!(versions(said, "manylinux_", '_').next(), Some((2, 28)));
        let consistent = said.split_once("consistent with").map(|(_, rest)| rest).unwrap_or_default();
        assert_eq!(versions(consistent, "manylinux_", '_').next(), Some((2, 17)));
    }
}
