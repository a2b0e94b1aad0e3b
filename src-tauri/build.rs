//! The Tauri configuration and the icons live at the top of the repository (`tauri.conf.json`,
//! `assets/icons/`), beside the other assets; tauri-build is told where.

fn main() {
    let attributes = tauri_build::Attributes::new().config_path("../tauri.conf.json");
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri-build: {e:#}");
    }
}
