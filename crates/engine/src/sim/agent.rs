//! The jobs agent of a simulated device, as the AWS IoT jobs agent behaves: `start-next` when it
//! connects, when `notify-next` names a job and after each job; progress reports
//! (IN_PROGRESS with `statusDetails.progress`); the OTA files its document links to downloaded;
//! then SUCCEEDED, FAILED or REJECTED by the fleet's ratios and rejected operations.

use std::time::Duration;

use rumqttc::AsyncClient;
use serde_json::{Value, json};

use super::device::{Device, Due};

impl Device {
    pub(super) fn jobs_message(&mut self, client: &AsyncClient, rest: &str, json: &Value) {
        let start_next = format!("$aws/things/{}/jobs/start-next", self.cell.name);
        match rest {
            "notify-next" if json.get("execution").is_some() && self.job.is_none() => {
                self.send(client, start_next, b"{}".to_vec(), 1);
            }
            "start-next/accepted" => {
                let Some(e) = json.get("execution") else { return };
                let Some(agent) = self.fleet().jobs.clone() else { return };
                if self.job.is_some() {
                    return;
                }
                let id = e.get("jobId").and_then(Value::as_str).unwrap_or_default().to_owned();
                let doc = e.get("jobDocument").cloned().unwrap_or(Value::Null);
                self.cell.log(format!("job {id}: started"));
                *self.cell.job.lock() = Some(id.clone());
                if agent.download {
                    let urls = urls_in(&doc);
                    if !urls.is_empty() {
                        let http = self.spec.http.clone();
                        self.download = Some(tokio::spawn(download(http, urls)));
                    }
                }
                self.job = Some((id.clone(), doc));
                let every = step_every(&agent);
                self.at(every, Due::JobStep { job: id, step: 1 });
            }
            "start-next/rejected" => {
                let m = json.get("message").and_then(Value::as_str).unwrap_or("?");
                self.cell.error(format!("start-next rejected: {m}"));
            }
            r if r.ends_with("/update/rejected") => {
                let m = json.get("message").and_then(Value::as_str).unwrap_or("?");
                self.cell.error(format!("job update rejected: {m}"));
            }
            _ => {}
        }
    }

    pub(super) fn job_step(&mut self, client: &AsyncClient, job: String, step: u32) {
        let Some(agent) = self.fleet().jobs.clone() else { return };
        if self.job.as_ref().map(|j| &j.0) != Some(&job) {
            return;
        }
        if step > agent.steps {
            return self.job_end(client, job);
        }
        let body = json!({"status": "IN_PROGRESS", "statusDetails": {"progress": format!("{step}/{}", agent.steps)}});
        self.send(
            client,
            format!("$aws/things/{}/jobs/{job}/update", self.cell.name),
            body.to_string().into_bytes(),
            1,
        );
        self.at(step_every(&agent), Due::JobStep { job, step: step + 1 });
    }

    pub(super) fn job_end(&mut self, client: &AsyncClient, job: String) {
        let Some(agent) = self.fleet().jobs.clone() else { return };
        let Some((_, doc)) = self.job.clone() else { return };
        let mut downloaded = None;
        if let Some(h) = &self.download {
            if !h.is_finished() {
                self.at(Duration::from_millis(250), Due::JobEnd { job });
                return;
            }
            downloaded = self.download.take().and_then(|h| h.now_or_never_result());
        }
        let operation = doc.get("operation").and_then(Value::as_str).unwrap_or_default();
        let (status, reason) = if agent.reject_operations.iter().any(|o| o == operation) {
            ("REJECTED", format!("operation '{operation}' is not supported"))
        } else if self.rng.chance(agent.reject.0) {
            ("REJECTED", "rejected (reject ratio)".to_owned())
        } else if let Some(Err(e)) = &downloaded {
            ("FAILED", format!("download failed: {e}"))
        } else if self.rng.chance(agent.fail.0) {
            ("FAILED", "failed (fail ratio)".to_owned())
        } else {
            let how = match downloaded {
                Some(Ok(n)) => format!("done; downloaded {n} bytes"),
                _ => "done".to_owned(),
            };
            ("SUCCEEDED", how)
        };
        self.cell.log(format!("job {job}: {status} — {reason}"));
        let body = json!({"status": status, "statusDetails": {"reason": reason}});
        let t = self.cell.name.clone();
        self.send(client, format!("$aws/things/{t}/jobs/{job}/update"), body.to_string().into_bytes(), 1);
        self.job = None;
        *self.cell.job.lock() = None;
        self.send(client, format!("$aws/things/{t}/jobs/start-next"), b"{}".to_vec(), 1);
    }
}

trait NowOrNever {
    fn now_or_never_result(self) -> Option<Result<u64, String>>;
}

impl NowOrNever for tokio::task::JoinHandle<Result<u64, String>> {
    /// The result of a finished download task.
    fn now_or_never_result(self) -> Option<Result<u64, String>> {
        use futures_util::FutureExt;
        match self.now_or_never() {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => Some(Err(e.to_string())),
            None => None,
        }
    }
}

fn step_every(agent: &thingbox_model::scenario::JobsAgent) -> Duration {
    Duration::from_millis(agent.step_every.map_or(1000, |d| d.0.max(0)) as u64)
}

/// The http(s) URLs in a job document (OTA files).
fn urls_in(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => out.push(s.clone()),
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    out
}

async fn download(http: reqwest::Client, urls: Vec<String>) -> Result<u64, String> {
    let mut total = 0;
    for url in urls {
        let res = http.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("{url}: HTTP {}", res.status()));
        }
        total += res.bytes().await.map_err(|e| format!("{url}: {e}"))?.len() as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_urls_in_a_job_document() {
        let doc = json!({"url": "https://x/f.bin", "more": [{"u": "http://y/g"}], "n": "ftp://no"});
        let mut urls = urls_in(&doc);
        urls.sort();
        assert_eq!(urls, ["http://y/g", "https://x/f.bin"]);
    }
}
