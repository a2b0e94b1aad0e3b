//! The Thingbox desktop app: starts the engine in-process (same settings, data dir and files as
//! `thingbox serve`; a port in use is replaced by a free one), opens the console in a window on
//! the engine's own URL — the console talks to the engine over HTTP and its event stream exactly as
//! it does in a browser — and stops the engine cleanly when the window closes.
//!
//! Native niceties: a download (a device bundle, a recording) is written to a private staging
//! folder and then saved where the user picks in the system's save dialog (the Downloads folder
//! and the file's own name suggested; cancelling deletes it — a bundle holds a private key); the
//! File menu opens the data folder, or the console in the system browser.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tauri::menu::{Menu, MenuItem, Submenu};
use tauri::webview::DownloadEvent;
use tauri::{Manager as _, RunEvent, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_dialog::DialogExt as _;
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

/// The save-dialog side of downloads: WebKit writes each file under `staging` (inside the data
/// dir, owner-only); once it is complete the user picks its place and it is moved there.
struct Downloads {
    staging: PathBuf,
    next: AtomicU64,
    /// Staged file → the name the console gave it.
    names: Mutex<HashMap<PathBuf, String>>,
}

impl Downloads {
    /// Makes (or empties) the staging folder.
    fn new(data_dir: &Path) -> std::io::Result<Self> {
        let staging = data_dir.join("downloads-staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        let mut dir = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&staging)?;
        Ok(Self { staging, next: AtomicU64::new(1), names: Mutex::new(HashMap::new()) })
    }

    /// Where WebKit writes a download the console named `name`.
    fn stage(&self, name: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.staging.join(format!("{n}.part"));
        self.names.lock().unwrap_or_else(|e| e.into_inner()).insert(path.clone(), name.to_owned());
        path
    }

    /// The console's name for a staged file.
    fn name_of(&self, staged: &Path) -> String {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(staged)
            .unwrap_or_else(|| "thingbox-download".into())
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

/// The file name a download asked for, made safe to use as one (no folders).
fn download_name(suggested: &Path) -> String {
    suggested
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "thingbox-download".into())
}

/// Moves a finished download to where the user chose (a copy when that is another file system).
fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)?;
    std::fs::remove_file(from)
}

/// Shows `text` in the console for a few seconds (a small status toast over the page).
fn toast<R: tauri::Runtime>(webview: &tauri::Webview<R>, text: &str) {
    let js = format!(
        r#"(() => {{
  let t = document.getElementById('desktop-toast');
  if (!t) {{
    t = document.createElement('div');
    t.id = 'desktop-toast';
    t.setAttribute('role', 'status');
    t.style.cssText = 'position:fixed;right:16px;bottom:16px;z-index:1000;max-width:520px;padding:10px 14px;' +
      'border-radius:6px;background:#1f2937;color:#f3f4f6;border:1px solid #5b8cff;font:13px system-ui,sans-serif;' +
      'box-shadow:0 4px 16px rgba(0,0,0,.4);word-break:break-all';
    document.body.appendChild(t);
  }}
  t.textContent = {text};
  clearTimeout(window.__thingboxToast);
  window.__thingboxToast = setTimeout(() => t.remove(), 10000);
}})()"#,
        text = serde_json::Value::from(text)
    );
    let _ = webview.eval(&js);
}

/// A download is complete in the staging folder: ask where it goes, then move it (or drop it).
fn save_download<R: tauri::Runtime>(
    webview: &tauri::Webview<R>,
    downloads: &Arc<Downloads>,
    staged: PathBuf,
) {
    let name = downloads.name_of(&staged);
    let start_dir = dirs::download_dir().or_else(dirs::home_dir).unwrap_or_else(std::env::temp_dir);
    let webview2 = webview.clone();
    let mut dialog = webview
        .app_handle()
        .dialog()
        .file()
        .set_title(format!("Save {name}"))
        .set_file_name(&name)
        .set_directory(&start_dir);
    let window = webview.window();
    dialog = dialog.set_parent(&window);
    dialog.save_file(move |choice| {
        let msg = match choice.map(|c| c.into_path()) {
            Some(Ok(dest)) => match move_file(&staged, &dest) {
                Ok(()) => format!("Saved {name} to {}", dest.display()),
                Err(e) => {
                    let _ = std::fs::remove_file(&staged);
                    format!("Could not save {name} to {}: {e}", dest.display())
                }
            },
            Some(Err(e)) => {
                let _ = std::fs::remove_file(&staged);
                format!("Could not save {name}: {e}")
            }
            None => {
                let _ = std::fs::remove_file(&staged);
                format!("{name} was not saved (cancelled)")
            }
        };
        tracing::info!("{msg}");
        toast(&webview2, &msg);
    });
}

fn run() -> anyhow::Result<i32> {
    // The same data dir rules as `thingbox serve` (THINGBOX_DATA_DIR, else the platform's), and the
    // same thingbox.toml inside it (worker_threads included).
    let args = ServeArgs {
        data_dir: std::env::var_os("THINGBOX_DATA_DIR").map(PathBuf::from),
        ..ServeArgs::default()
    };
    let settings = Settings::resolve(args)?;
    let runtime = settings.runtime()?;
    let (engine, stop) = runtime.block_on(thingbox_server::start(&settings, true))?;
    let endpoints = engine.endpoints().clone();
    let console = endpoints.console.clone().unwrap_or_else(|| endpoints.api.clone());
    let data_dir = settings.data_dir.canonicalize().unwrap_or_else(|_| settings.data_dir.clone());
    println!("Thingbox desktop: engine at {} (data dir {})", endpoints.api, data_dir.display());
    println!("  Console    {console}");

    let url: tauri::Url = console.parse()?;
    let downloads = Arc::new(Downloads::new(&data_dir)?);
    let staging = downloads.clone();
    let menu_dir = data_dir.clone();
    let menu_console = console.clone();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
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
                .on_download(move |webview, event| {
                    match event {
                        DownloadEvent::Requested { destination, url } => {
                            let name = download_name(destination);
                            *destination = downloads.stage(&name);
                            tracing::info!(%url, %name, staged = %destination.display(), "download started");
                        }
                        DownloadEvent::Finished { path, success, url } => match (success, path) {
                            (true, Some(staged)) => save_download(&webview, &downloads, staged),
                            (_, staged) => {
                                if let Some(staged) = staged {
                                    let _ = std::fs::remove_file(&staged);
                                }
                                tracing::warn!(%url, "download failed");
                                toast(&webview, "The download failed");
                            }
                        },
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
        .build(tauri::generate_context!("../tauri.conf.json"))?;
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
    staging.remove();
    println!("Thingbox desktop: stopped cleanly");
    Ok(code)
}

/// Ends the process at once, without the C libraries' exit handlers. tao (0.37) runs an X11
/// device-event thread that is never stopped; when an X event (the release of Ctrl+Q, say) reaches
/// it while libXext's destructors run at exit, it crashes (SIGSEGV in `XextFindDisplay`). By the
/// time this runs the engine has stopped, its data is on disk and the window is gone; standard
/// output and error are flushed here: nothing is lost by skipping the handlers.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn exit_now(code: i32) -> ! {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` has no preconditions; it ends the process without running atexit handlers
    // or library destructors, which is what is wanted here.
    unsafe { libc::_exit(code) }
}

fn main() -> ExitCode {
    thingbox_server::init_tracing();
    let code = match run() {
        Ok(code) => code.clamp(0, 255),
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    #[cfg(target_os = "linux")]
    exit_now(code);
    #[cfg(not(target_os = "linux"))]
    ExitCode::from(code as u8)
}
