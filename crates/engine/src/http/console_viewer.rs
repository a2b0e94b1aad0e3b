//! The topic viewer's part of the console API (behind the console token, see `console`): the
//! live message stream (`/console/api/messages`, a WebSocket of [`ViewerFrame`]s), the message
//! history, publishing as the console, saved payloads, recordings and replays. Wire types are in
//! `thingbox_api::viewer`; the work is done by [`crate::viewer`].

use axum::body::Body;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use thingbox_api::viewer::{
    HistoryPage, HistoryStats, PublishRequest, RecordRequest, Recording, Replay, ReplayRequest, SavedMessage,
    TopicStat, ViewedMessage, ViewerCommand, ViewerFrame,
};

use super::AppState;
use super::error::ApiError;
use super::extract::{AwsJson, AwsJsonArray, Params};
use crate::Error;
use crate::viewer::{check_filters, history, record};

/// The file (in the data dir) holding the console's saved payloads.
pub const COLLECTIONS_FILE: &str = "collections.json";
/// Most saved payloads.
const MAX_SAVED: usize = 1_000;

/// The viewer's routes (the caller adds the token check).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/messages", get(messages))
        .route("/console/api/history", get(history_page))
        .route("/console/api/history/stats", get(history_stats))
        .route("/console/api/history/topics", get(history_topics))
        .route("/console/api/history/{id}", get(history_one))
        .route("/console/api/publish", post(publish))
        .route("/console/api/collections", get(collections).put(save_collections))
        .route("/console/api/recordings", get(recordings).post(start_recording))
        .route("/console/api/recordings/{name}", get(download_recording).delete(delete_recording))
        .route("/console/api/recordings/{name}/stop", post(stop_recording))
        .route(
            "/console/api/replays",
            get(replays).post(start_replay).layer(DefaultBodyLimit::max(super::extract::MAX_RECORDING)),
        )
        .route("/console/api/replays/{id}/stop", post(stop_replay))
        .route("/console/api/retained", get(retained))
        .route("/console/api/retained/delete", post(delete_retained))
}

/// Most retained messages the console lists at once.
const MAX_RETAINED_LISTED: usize = 10_000;

/// `GET /console/api/retained`: every retained message (payloads cut as in the live view).
async fn retained(State(s): State<AppState>) -> Json<Vec<ViewedMessage>> {
    let (page, _) = s.broker.retained_page(None, MAX_RETAINED_LISTED);
    Json(page.iter().map(|m| crate::viewer::view(0, m, thingbox_api::viewer::LIVE_PAYLOAD_LIMIT)).collect())
}

/// `POST /console/api/retained/delete` `{"topics": […]}`: clears each (an empty retained publish
/// as the console, as on AWS); every topic is checked before any is cleared.
async fn delete_retained(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<DeleteRetained>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if req.topics.is_empty() {
        return Err(Error::InvalidRequest("name at least one topic".into()).into());
    }
    if let Some(missing) = req.topics.iter().find(|t| s.broker.retained(t).is_none()) {
        return Err(Error::NotFound(format!("No retained message exists for topic '{missing}'")).into());
    }
    for topic in &req.topics {
        s.viewer
            .publish(PublishRequest { topic: topic.clone(), retain: true, ..PublishRequest::default() })
            .await?;
    }
    Ok(Json(serde_json::json!({ "deleted": req.topics.len() })))
}

#[derive(Debug, Default, serde::Deserialize)]
struct DeleteRetained {
    #[serde(default)]
    topics: Vec<String>,
}

async fn messages(State(s): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| stream_messages(s, socket))
}

fn frame(f: &ViewerFrame) -> WsMessage {
    WsMessage::Text(serde_json::to_string(f).unwrap_or_default().into())
}

/// One viewer socket: commands in, batches out, until either side closes or the engine stops.
async fn stream_messages(s: AppState, mut socket: WebSocket) {
    let mut viewer = s.viewer.attach();
    let mut stop = s.gateway.shutdown.clone();
    loop {
        // Decide first, then await the send: nothing of `select!` lives across an await.
        let out = tokio::select! {
            out = viewer.rx.recv() => match out {
                Some(text) => WsMessage::Text(text.into()),
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => frame(&match serde_json::from_str::<ViewerCommand>(&text) {
                    Ok(ViewerCommand::Subscribe { filters }) => match viewer.set_filters(filters.clone()) {
                        Ok(()) => ViewerFrame::Subscribed { filters },
                        Err(e) => ViewerFrame::Error { message: e.to_string() },
                    },
                    Err(e) => ViewerFrame::Error { message: format!("not a viewer command: {e}") },
                }),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        if socket.send(out).await.is_err() {
            break;
        }
    }
    let _ = socket.send(WsMessage::Close(None)).await;
}

/// `GET /console/api/history?filter=…&filter=…&from=&to=&text=&before=&limit=`: newest first.
async fn history_page(State(s): State<AppState>, q: Params) -> Result<Json<HistoryPage>, ApiError> {
    let filters = q.all("filter");
    check_filters(&filters)?;
    let query = history::Query {
        filters,
        from: q.int("from", 0, i64::MAX)?,
        to: q.int("to", 0, i64::MAX)?,
        text: q.str("text").map(str::to_owned),
        before: q.int("before", 1, i64::MAX)?.map(|b| b as u64),
        limit: q.int("limit", 1, 1000)?.unwrap_or(200) as usize,
    };
    Ok(Json(s.viewer.history.page(&query).await?))
}

async fn history_stats(State(s): State<AppState>) -> Json<HistoryStats> {
    Json(s.viewer.history.stats(s.viewer.tap_dropped()))
}

async fn history_topics(State(s): State<AppState>, q: Params) -> Result<Json<Vec<TopicStat>>, ApiError> {
    let filters = q.all("filter");
    check_filters(&filters)?;
    Ok(Json(s.viewer.history.topics(&filters).await?))
}

async fn history_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ViewedMessage>, ApiError> {
    let missing =
        || Error::NotFound(format!("Message {id} is not in the history (it may have been trimmed)"));
    let n: u64 = id.parse().map_err(|_| missing())?;
    Ok(Json(s.viewer.history.get(n).await?.ok_or_else(missing)?))
}

/// `POST /console/api/publish`: routed like any client's publish, as the console.
async fn publish(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<PublishRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.viewer.publish(req).await?;
    Ok(Json(serde_json::json!({ "message": "OK", "clientId": thingbox_api::viewer::CONSOLE_CLIENT_ID })))
}

fn collections_path(s: &AppState) -> std::path::PathBuf {
    s.data_dir.join(COLLECTIONS_FILE)
}

async fn collections(State(s): State<AppState>) -> Result<Json<Vec<SavedMessage>>, ApiError> {
    match std::fs::read(collections_path(&s)) {
        Ok(bytes) => Ok(Json(serde_json::from_slice(&bytes).map_err(|e| {
            Error::InvalidRequest(format!("{COLLECTIONS_FILE} in the data dir is not readable: {e}"))
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Json(Vec::new())),
        Err(e) => Err(Error::InvalidRequest(format!("cannot read {COLLECTIONS_FILE}: {e}")).into()),
    }
}

/// `PUT /console/api/collections`: replaces the saved payloads (all checked first).
async fn save_collections(
    State(s): State<AppState>,
    AwsJsonArray(list): AwsJsonArray<SavedMessage>,
) -> Result<Json<Vec<SavedMessage>>, ApiError> {
    if list.len() > MAX_SAVED {
        return Err(Error::InvalidRequest(format!("at most {MAX_SAVED} saved messages are kept")).into());
    }
    for m in &list {
        if m.name.trim().is_empty() {
            return Err(Error::InvalidRequest("every saved message needs a name".into()).into());
        }
        crate::viewer::console_message(PublishRequest {
            topic: m.topic.clone(),
            payload: m.payload.clone(),
            qos: m.qos,
            retain: m.retain,
            ..PublishRequest::default()
        })
        .map_err(|e| Error::InvalidRequest(format!("saved message '{}': {e}", m.name)))?;
    }
    let json = serde_json::to_vec_pretty(&list).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    crate::write_atomic(&collections_path(&s), &json)
        .map_err(|e| Error::InvalidRequest(format!("cannot write {COLLECTIONS_FILE}: {e}")))?;
    Ok(Json(list))
}

async fn recordings(State(s): State<AppState>) -> Result<Json<Vec<Recording>>, ApiError> {
    // Counting a new recording's lines reads the whole file: off the runtime's workers, which
    // move device traffic (one worker by default on small machines).
    let viewer = s.viewer.clone();
    let list = tokio::task::spawn_blocking(move || viewer.recorders().list())
        .await
        .map_err(|e| Error::InvalidRequest(format!("listing the recordings failed: {e}")))?;
    Ok(Json(list))
}

async fn start_recording(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<RecordRequest>,
) -> Result<Json<Recording>, ApiError> {
    Ok(Json(s.viewer.start_recording(req.filters)?))
}

async fn stop_recording(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Recording>, ApiError> {
    Ok(Json(s.viewer.stop_recording(&name)?))
}

async fn download_recording(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let path = s.viewer.recorders().path_of(&name)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::InvalidRequest(format!("cannot read '{name}': {e}")))?;
    // Streamed in 64 KB chunks: a long recording never sits in memory whole.
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let body = Body::from_stream(chunks);
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

async fn delete_recording(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.viewer.delete_recording(&name)?;
    Ok(Json(serde_json::json!({})))
}

async fn replays(State(s): State<AppState>) -> Json<Vec<Replay>> {
    Json(s.viewer.replays.list())
}

/// `POST /console/api/replays`: checks every line first; nothing is published if one is bad.
async fn start_replay(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<ReplayRequest>,
) -> Result<Json<Replay>, ApiError> {
    if !(req.speed.is_finite() && (0.0..=1000.0).contains(&req.speed)) {
        return Err(Error::InvalidRequest(format!(
            "speed {} is not between 0 (as fast as possible) and 1000",
            req.speed
        ))
        .into());
    }
    let (source, text) = match (req.recording, req.lines) {
        (Some(name), None) => {
            let path = s.viewer.recorders().path_of(&name)?;
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| Error::InvalidRequest(format!("cannot read '{name}': {e}")))?;
            (name, text)
        }
        (None, Some(lines)) => ("upload".to_owned(), lines),
        _ => {
            return Err(Error::InvalidRequest(
                "give either recording (a file name) or lines (its contents)".into(),
            )
            .into());
        }
    };
    // Up to a million lines to check: off the runtime's workers.
    let messages = tokio::task::spawn_blocking(move || record::parse_recording(&text))
        .await
        .map_err(|e| Error::InvalidRequest(format!("reading the recording failed: {e}")))??;
    Ok(Json(s.viewer.start_replay(source, messages, req.speed, s.gateway.shutdown.clone())))
}

async fn stop_replay(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Replay>, ApiError> {
    let n: u64 = id.parse().map_err(|_| Error::NotFound(format!("There is no replay {id}")))?;
    Ok(Json(s.viewer.replays.stop(n)?))
}
