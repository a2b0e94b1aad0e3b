//! A scenario's timed steps through the AWS API — desired shadow state for the selected devices,
//! a job, a topic rule, an OTA file — and fault changes on devices (from a step or the console).

use std::time::Duration;

use futures_util::StreamExt as _;
use thingbox_model::scenario::{Action, FaultChange, Faults};

use super::api::Api;
use super::cell::DeviceCell;
use super::expire::Certifier;
use super::{PROVISIONING, Run};

/// Takes one step; what it did, for the log.
pub(super) async fn take_step(
    run: &Run,
    action: &Action,
    api: &Api,
    certifier: &Certifier,
) -> Result<String, String> {
    match action {
        Action::Desired { devices, shadow, state } => {
            let cells = run.selected(devices);
            let mut calls = Vec::with_capacity(cells.len());
            for c in &cells {
                let (api, name, shadow, state) = (api.clone(), c.name.clone(), shadow.clone(), state.clone());
                calls.push(async move { api.set_desired(&name, shadow.as_deref(), &state).await });
            }
            let results =
                futures_util::stream::iter(calls).buffer_unordered(PROVISIONING).collect::<Vec<_>>().await;
            let failed: Vec<String> =
                results.into_iter().filter_map(Result::err).map(|e| e.to_string()).collect();
            match failed.first() {
                None => Ok(format!("desired {state} for {} devices", cells.len())),
                Some(e) => Err(format!("desired state: {} of {} refused ({e})", failed.len(), cells.len())),
            }
        }
        Action::Job { id, targets, document, rollout_per_minute } => {
            let mut arns = Vec::new();
            for t in targets {
                arns.push(api.arn_of(t).await.map_err(|e| format!("job {id}: target {t}: {e}"))?);
            }
            api.create_job(id, arns, document, *rollout_per_minute)
                .await
                .map_err(|e| format!("job {id}: {e}"))?;
            Ok(format!("job {id} created over {}", targets.join(", ")))
        }
        Action::Fault { devices, faults } => {
            let cells = run.selected(devices);
            for c in &cells {
                apply_fault(c, faults, Some(api), certifier).await?;
            }
            Ok(format!("fault {} on {} devices", describe_fault(faults), cells.len()))
        }
        Action::Rule { name, sql, actions } => match api.create_rule(name, sql, actions).await {
            Ok(()) => Ok(format!("rule {name} created")),
            Err(e) if e.code == "ResourceAlreadyExistsException" => Ok(format!("rule {name} exists; kept")),
            Err(e) => Err(format!("rule {name}: {e}")),
        },
        Action::File { bucket, key, size } => {
            let bytes: Vec<u8> = (0..*size).map(|i| (i % 251) as u8).collect();
            api.put_file(bucket, key, bytes).await.map_err(|e| format!("file {bucket}/{key}: {e}"))?;
            Ok(format!("OTA file {bucket}/{key} stored ({size} bytes)"))
        }
        Action::Stop => Ok("stop".into()),
    }
}

fn describe_fault(f: &FaultChange) -> String {
    serde_json::to_value(FaultView::from(f)).map(|v| v.to_string()).unwrap_or_default()
}

/// A fault change as the log writes it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct FaultView {
    #[serde(skip_serializing_if = "Option::is_none")]
    drop: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clock_skew_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oversize: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disconnect_ms: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    revoke_certificate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_certificate_ms: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    clear: bool,
}

impl From<&FaultChange> for FaultView {
    fn from(f: &FaultChange) -> Self {
        Self {
            drop: f.drop.map(|r| r.0),
            delay_ms: f.delay.map(|d| d.0),
            clock_skew_ms: f.clock_skew.map(|d| d.0),
            oversize: f.oversize.map(|r| r.0),
            disconnect_ms: f.disconnect.map(|d| d.0),
            revoke_certificate: f.revoke_certificate,
            expire_certificate_ms: f.expire_certificate.map(|d| d.0),
            clear: f.clear,
        }
    }
}

pub(super) async fn apply_fault(
    cell: &DeviceCell,
    f: &FaultChange,
    api: Option<&Api>,
    certifier: &Certifier,
) -> Result<(), String> {
    cell.change_faults(|faults| {
        if f.clear {
            *faults = Faults::default();
        }
        if let Some(r) = f.drop {
            faults.drop = r;
        }
        if let Some(d) = f.delay {
            faults.delay = d;
        }
        if let Some(d) = f.clock_skew {
            faults.clock_skew = d;
        }
        if let Some(r) = f.oversize {
            faults.oversize = r;
        }
    });
    cell.log(format!("fault: {}", describe_fault(f)));
    if f.revoke_certificate {
        let api = api.ok_or("revoking a certificate needs the AWS API")?;
        let id = cell
            .certificate
            .lock()
            .clone()
            .ok_or_else(|| format!("{} has no certificate of its own", cell.name))?;
        api.set_certificate_status(&id, "REVOKED").await.map_err(|e| format!("revoking {id}: {e}"))?;
        cell.set_revoked();
        cell.disconnect(Some(Duration::ZERO));
    } else if let Some(life) = f.expire_certificate {
        let api = api.ok_or("an expiring certificate needs the AWS API")?;
        let life = Duration::from_millis(life.0.clamp(0, 3_600_000) as u64);
        let policy = super::provision::policy_name(&cell.scenario, &cell.fleet);
        let (id, tls) = certifier.short_lived(api, &cell.name, &policy, life).await?;
        cell.log(format!(
            "new certificate {} expires in {} ms; reconnecting once it has",
            &id[..12.min(id.len())],
            life.as_millis()
        ));
        *cell.certificate.lock() = Some(id);
        cell.set_identity(tls);
        cell.disconnect(Some(life + Duration::from_secs(1)));
    } else if let Some(d) = f.disconnect {
        cell.disconnect(Some(Duration::from_millis(d.0.max(0) as u64)));
    }
    Ok(())
}
