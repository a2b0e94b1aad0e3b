//! `thingbox trust`: adds the data dir's local root CA to the operating system's trust store (as
//! `mkcert -install` does), so programs that trust only the system store — such as the AWS IoT
//! Device SDK v2 samples, which take no CA argument — connect unchanged; `--uninstall` removes it.
//!
//! Per OS: Debian/Ubuntu copy it to `/usr/local/share/ca-certificates/` and run
//! `update-ca-certificates`; Fedora/RHEL use `/etc/pki/ca-trust/source/anchors/` and
//! `update-ca-trust extract`; macOS runs `security add-trusted-cert` on the System keychain;
//! Windows runs `certutil -addstore ROOT`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Ensures the CA exists (a new data dir gets one) and returns the root certificate's path.
fn root_ca(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let names = ["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let ca = thingbox_engine::ca::LocalCa::open(data_dir, &names, time::OffsetDateTime::now_utc())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(ca.root_path())
}

/// A file name unique to this root: `thingbox-<first 12 hex of its SHA-256>.crt`.
fn anchor_name(pem: &str) -> String {
    let digest = hex::encode(Sha256::digest(pem.trim().as_bytes()));
    format!("thingbox-{}.crt", &digest[..12])
}

/// On Linux, the effective user owns `/proc/self`: the trust store can only be changed as root.
#[cfg(unix)]
fn require_root(uninstall: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
    if uid != 0 {
        let flag = if uninstall { " --uninstall" } else { "" };
        bail!("changing the system trust store needs root: run `sudo thingbox trust{flag}`");
    }
    Ok(())
}

/// Installs (or with `uninstall`, removes) the root CA of `data_dir` in the system trust store.
pub fn trust(data_dir: &Path, uninstall: bool) -> anyhow::Result<()> {
    let root = root_ca(data_dir)?;
    let pem = std::fs::read_to_string(&root).with_context(|| format!("cannot read {}", root.display()))?;
    let name = anchor_name(&pem);

    if cfg!(target_os = "linux") {
        #[cfg(unix)]
        require_root(uninstall)?;
        let (dir, update): (&str, &[&str]) = if Path::new("/usr/local/share/ca-certificates").is_dir() {
            ("/usr/local/share/ca-certificates", &["update-ca-certificates", "--fresh"])
        } else if Path::new("/etc/pki/ca-trust/source/anchors").is_dir() {
            ("/etc/pki/ca-trust/source/anchors", &["update-ca-trust", "extract"])
        } else {
            bail!(
                "no known trust store on this Linux (looked for /usr/local/share/ca-certificates and \
                 /etc/pki/ca-trust/source/anchors); add {} to your system's trust store by hand",
                root.display()
            );
        };
        let target = Path::new(dir).join(&name);
        if uninstall {
            match std::fs::remove_file(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    println!(
                        "The Thingbox root CA of {} was not installed; nothing to do.",
                        data_dir.display()
                    );
                    return Ok(());
                }
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", target.display())),
            }
        } else {
            std::fs::write(&target, &pem).with_context(|| format!("cannot write {}", target.display()))?;
        }
        run(Command::new(update[0]).args(&update[1..]).stdout(std::process::Stdio::null()))?;
        println!(
            "{} the system trust store: {} ({})",
            if uninstall { "Removed from" } else { "Added to" },
            target.display(),
            root.display()
        );
        return Ok(());
    }
    if cfg!(target_os = "macos") {
        if uninstall {
            run(Command::new("security").args(["remove-trusted-cert", "-d"]).arg(&root))?;
        } else {
            run(Command::new("security")
                .args([
                    "add-trusted-cert",
                    "-d",
                    "-r",
                    "trustRoot",
                    "-k",
                    "/Library/Keychains/System.keychain",
                ])
                .arg(&root))?;
        }
        println!(
            "{} the System keychain: {}",
            if uninstall { "Removed from" } else { "Added to" },
            root.display()
        );
        return Ok(());
    }
    if cfg!(windows) {
        if uninstall {
            let serial = name.trim_start_matches("thingbox-").trim_end_matches(".crt").to_owned();
            bail!(
                "remove the 'Thingbox Local Root CA' certificate ({serial}) with certmgr.msc (Trusted Root Certification Authorities)"
            );
        }
        run(Command::new("certutil").args(["-addstore", "-f", "ROOT"]).arg(&root))?;
        println!("Added to the Windows ROOT store: {}", root.display());
        return Ok(());
    }
    bail!(
        "`thingbox trust` does not know this operating system's trust store; add {} by hand",
        root.display()
    )
}
