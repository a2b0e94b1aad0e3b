//! `thingbox trust`: adds the data dir's local root CA to the operating system's trust store (as
//! `mkcert -install` does), so programs that trust only the system store — such as the AWS IoT
//! Device SDK v2 samples, which take no CA argument — connect unchanged; `--uninstall` removes it.
//!
//! Per OS: Debian/Ubuntu copy it to `/usr/local/share/ca-certificates/` and run
//! `update-ca-certificates`; Fedora/RHEL use `/etc/pki/ca-trust/source/anchors/` and
//! `update-ca-trust extract`; macOS runs `security add-trusted-cert` on the System keychain;
//! Windows runs `certutil -addstore ROOT`.
//!
//! On Linux it also lets this binary bind ports below 1024, so the Device SDK's default port 443
//! can be served without running as root: `setcap cap_net_bind_service=+ep` on the binary file
//! (one file capability, nothing else on the system; a rebuilt binary loses it). `--uninstall`
//! removes it again (`setcap -r`).

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

/// Grants (or with `uninstall`, takes back) this binary the right to bind ports below 1024. Not
/// fatal: the trust store is what `trust` is for; port 443 is a convenience that `--https-port`
/// can replace.
fn low_ports(uninstall: bool) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("note: cannot find this binary ({e}); port 443 stays root-only");
            return;
        }
    };
    let mut cmd = Command::new("setcap");
    if uninstall {
        cmd.arg("-r");
    } else {
        cmd.arg("cap_net_bind_service=+ep");
    }
    let status = cmd.arg(&exe).stderr(std::process::Stdio::null()).status();
    match status {
        Ok(s) if s.success() => println!(
            "{} {} (cap_net_bind_service: it may serve port 443 without root)",
            if uninstall { "Took back from" } else { "Granted to" },
            exe.display()
        ),
        // `setcap -r` on a file without capabilities fails: nothing to take back.
        Ok(_) if uninstall => {}
        Ok(s) => eprintln!(
            "note: `setcap cap_net_bind_service=+ep {}` failed ({s}); port 443 stays root-only",
            exe.display()
        ),
        Err(e) => eprintln!(
            "note: cannot run setcap ({e}; on Debian it is in the libcap2-bin package); port 443 stays root-only"
        ),
    }
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
                    low_ports(uninstall);
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
        low_ports(uninstall);
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
