//! Embeds the built console: every file of `ui/dist` (or of `$THINGBOX_UI_DIST`) becomes an
//! `Asset`. Without a built console the list is empty and the server says how to build it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            out.push((rel.to_string_lossy().replace('\\', "/"), p.clone()));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=THINGBOX_UI_DIST");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist = std::env::var_os("THINGBOX_UI_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../ui/dist"));
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut found = Vec::new();
    if dist.join("index.html").is_file() {
        files(&dist, &dist, &mut found);
        for (_, p) in &found {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    } else {
        println!(
            "cargo:warning=the console is not built ({} has no index.html): run scripts/build-ui first",
            dist.display()
        );
    }
    found.sort();
    let mut code = String::from("/// The console's files.\npub static ASSETS: &[Asset] = &[\n");
    for (rel, path) in &found {
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        let _ = writeln!(
            code,
            "    Asset {{ path: {rel:?}, body: include_bytes!({:?}) }},",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
