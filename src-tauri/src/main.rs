//! The Thingbox desktop app: starts the engine in-process (same settings, data dir and files as
//! `thingbox serve`; a port in use is replaced by a free one), opens the console in a window on
//! the engine's own URL — the console talks to the engine over HTTP and its event stream exactly as
//! it does in a browser — and stops the engine cleanly when the window closes.
//!
//! Native niceties: downloads (device bundles) are saved to the Downloads folder and announced,
//! the File menu opens the data folder and copies the console URL for a browser.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tauri::menu::{Menu, MenuItem, Submenu};
use tauri::webview::DownloadEvent;
use tauri::{RunEvent, WebviewUrl, WebviewWindowBuilder};
use thingbox_server::config::{ServeArgs, Settings};

/// Opens a folder (file manager) or a URL (browser) with the platform's handler.
fn open_with_system(dir: &Path) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(program).arg(dir).spawn() {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot open it");
    }
}

/// Where a download named `name` goes: the Downloads folder, without overwriting anything.
fn download_path(name: &str) -> PathBuf {
    let dir = dirs::download_dir().or_else(dirs::home_dir).unwrap_or_else(std::env::temp_dir);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s.to_owned(), format!(".{e}")),
        None => (name.to_owned(), String::new()),
    };
    let mut path = dir.join(name);
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{stem} ({n}){ext}"));
        n += 1;
    }
    path
}

fn run() -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // The same data dir rules as `thingbox serve` (THINGBOX_DATA_DIR, else the platform's), and the
    // same thingbox.toml inside it.
    let args = ServeArgs {
        data_dir: std::env::var_os("THINGBOX_DATA_DIR").map(PathBuf::from),
        ..ServeArgs::default()
    };
    let settings = Settings::resolve(args)?;
    let (engine, stop) = runtime.block_on(thingbox_server::start(&settings, true))?;
    let endpoints = engine.endpoints().clone();
    let console = endpoints.console.clone().unwrap_or_else(|| endpoints.api.clone());
    let data_dir = settings.data_dir.canonicalize().unwrap_or_else(|_| settings.data_dir.clone());
    println!("Thingbox desktop: engine at {} (data dir {})", endpoints.api, data_dir.display());
    println!("  Console    {console}");

    let url: tauri::Url = console.parse()?;
    let menu_dir = data_dir.clone();
    let menu_console = console.clone();
    let app = tauri::Builder::default()
        .setup(move |app| {
            let open_dir = MenuItem::with_id(app, "open-data-dir", "Open data folder", true, None::<&str>)?;
            let open_browser =
                MenuItem::with_id(app, "open-in-browser", "Open console in browser", true, None::<&str>)?;
            let quit = MenuItem::with_id(app, "quit", "Quit", true, Some("CmdOrCtrl+Q"))?;
            let file = Submenu::with_items(app, "File", true, &[&open_dir, &open_browser, &quit])?;
            app.set_menu(Menu::with_items(app, &[&file])?)?;
            WebviewWindowBuilder::new(app, "main", WebviewUrl::External(url.clone()))
                .title("Thingbox")
                .inner_size(1280.0, 860.0)
                .min_inner_size(720.0, 480.0)
                .on_download(|webview, event| {
                    match event {
                        DownloadEvent::Requested { destination, url } => {
                            let name = destination
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .filter(|n| !n.is_empty())
                                .unwrap_or_else(|| "thingbox-download".into());
                            *destination = download_path(&name);
                            tracing::info!(%url, to = %destination.display(), "saving download");
                        }
                        DownloadEvent::Finished { path, success, .. } => {
                            let msg = match (success, path) {
                                (true, Some(p)) => format!("Saved to {}", p.display()),
                                _ => "The download failed".to_owned(),
                            };
                            let js = format!("console.info({})", serde_json::Value::from(msg.as_str()));
                            let _ = webview.eval(&js);
                            tracing::info!("{msg}");
                        }
                        _ => {}
                    }
                    true
                })
                .build()?;
            Ok(())
        })
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "open-data-dir" => open_with_system(&menu_dir),
            "open-in-browser" => open_with_system(Path::new(&menu_console)),
            "quit" => app.exit(0),
            _ => {}
        })
        .build(tauri::generate_context!())?;
    let main_window_closed = |app: &tauri::AppHandle, event: RunEvent| {
        if let RunEvent::WindowEvent { label, event: tauri::WindowEvent::Destroyed, .. } = &event
            && label == "main"
        {
            app.exit(0);
        }
    };
    // Ctrl-C or SIGTERM close the app as the window's close button does.
    let handle = app.handle().clone();
    runtime.spawn(async move {
        thingbox_server::wait_for_signal().await;
        handle.exit(0);
    });
    let code = app.run_return(main_window_closed);
    // The window is gone: stop the engine and wait until its data is on disk.
    let _ = stop.send(());
    runtime.block_on(engine.wait())?;
    println!("Thingbox desktop: stopped cleanly");
    Ok(code)
}

fn main() -> ExitCode {
    thingbox_server::init_tracing();
    match run() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code.clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
