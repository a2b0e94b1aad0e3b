use std::collections::BTreeMap;

use serde_json::json;

use super::config::*;
use super::device::{DeviceRequest, parse_request};
use super::*;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

fn spec(extra: serde_json::Value) -> JobSpec {
    let mut v =
        json!({"targets": ["arn:aws:iot:us-east-1:123456789012:thing/a"], "document": "{\"op\":\"reboot\"}"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn things(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn create(jobs: &mut Jobs, id: &str, extra: serde_json::Value, on: &[&str], now: i64) -> Effects {
    jobs.create_job(id, spec(extra), things(on), &[], format!("arn:aws:iot:us-east-1:1:job/{id}"), t(now))
        .unwrap()
}

fn req(v: serde_json::Value) -> DeviceRequest {
    parse_request(v.to_string().as_bytes()).unwrap()
}

fn topics(jobs: &Jobs, fx: &Effects, now: i64) -> Vec<String> {
    jobs.notifications(fx, t(now), &|u, _| u.to_owned()).into_iter().map(|(t, _)| t).collect()
}

#[test]
fn a_job_queues_every_target_and_notifies() {
    let mut jobs = Jobs::default();
    let fx = create(&mut jobs, "j1", json!({}), &["a", "b"], 100);
    assert_eq!(jobs.counts("j1").of(ExecStatus::Queued), 2);
    let e = jobs.current("a", "j1").unwrap();
    assert_eq!((e.number, e.version, e.status), (1, 1, ExecStatus::Queued));
    let n = jobs.notifications(&fx, t(100), &|u, _| u.to_owned());
    assert_eq!(n.len(), 4, "notify and notify-next for each thing: {n:?}");
    let (topic, next) = &n.iter().find(|(t, _)| t.ends_with("a/jobs/notify-next")).unwrap();
    assert!(topic.starts_with("$aws/things/a/"));
    assert_eq!(next["execution"]["jobDocument"], json!({"op": "reboot"}));
    assert_eq!(next["execution"]["status"], "QUEUED");
    let notify = &n.iter().find(|(t, _)| t.ends_with("a/jobs/notify")).unwrap().1;
    assert_eq!(notify["jobs"]["QUEUED"][0]["jobId"], "j1");
    assert_eq!(notify["timestamp"], 100);
}

#[test]
fn start_next_then_succeed_completes_a_snapshot_job() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({}), &["a"], 100);
    let (e, fx) = jobs.start_next("a", &req(json!({"statusDetails": {"step": "1"}})), t(101)).unwrap();
    let e = e.unwrap();
    assert_eq!((e.status, e.version, e.started_at), (ExecStatus::InProgress, 2, Some(t(101))));
    assert!(topics(&jobs, &fx, 101).is_empty(), "QUEUED → IN_PROGRESS of the head notifies nobody");
    // Start-next again returns the same execution untouched.
    let (again, fx) = jobs.start_next("a", &req(json!({"statusDetails": {"x": "y"}})), t(102)).unwrap();
    assert_eq!(again.unwrap().status_details["step"], "1");
    assert!(fx.is_empty());
    let (done, fx) = jobs
        .update_execution("a", "j1", &req(json!({"status": "SUCCEEDED", "expectedVersion": 2})), t(103))
        .unwrap();
    assert_eq!((done.status, done.version), (ExecStatus::Succeeded, 3));
    assert_eq!(topics(&jobs, &fx, 103), ["$aws/things/a/jobs/notify", "$aws/things/a/jobs/notify-next"]);
    let notify = jobs.notifications(&fx, t(103), &|u, _| u.to_owned());
    assert_eq!(notify[0].1["jobs"], json!({}));
    assert_eq!(notify[1].1, json!({"timestamp": 103}));
    let job = jobs.job("j1").unwrap();
    assert_eq!((job.status, job.completed_at), (JobStatus::Completed, Some(t(103))));
}

#[test]
fn device_update_errors() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({}), &["a"], 100);
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("no status", json!({}), "InvalidRequest"),
        ("service status", json!({"status": "CANCELED"}), "InvalidRequest"),
        (
            "bad details key",
            json!({"status": "IN_PROGRESS", "statusDetails": {"a b": "x"}}),
            "InvalidRequest",
        ),
        (
            "empty detail value",
            json!({"status": "IN_PROGRESS", "statusDetails": {"a": ""}}),
            "InvalidRequest",
        ),
        ("version", json!({"status": "IN_PROGRESS", "expectedVersion": 7}), "VersionMismatch"),
        ("step range", json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": 0}), "InvalidRequest"),
    ];
    for (name, body, code) in cases {
        let err = jobs.update_execution("a", "j1", &req(body), t(101)).unwrap_err();
        assert_eq!(err.device_code(), code, "{name}: {err}");
    }
    assert_eq!(
        jobs.update_execution("b", "j1", &req(json!({"status": "IN_PROGRESS"})), t(101))
            .unwrap_err()
            .device_code(),
        "ResourceNotFound"
    );
    let err = jobs
        .update_execution("a", "j1", &req(json!({"status": "IN_PROGRESS", "expectedVersion": 7})), t(101))
        .unwrap_err();
    let doc = err.rejected_json(Some("tok"), t(101));
    assert_eq!(doc["executionState"], json!({"status": "QUEUED", "statusDetails": {}, "versionNumber": 1}));
    assert_eq!(doc["clientToken"], "tok");
    // Nothing changed.
    assert_eq!(jobs.current("a", "j1").unwrap().version, 1);
    jobs.update_execution("a", "j1", &req(json!({"status": "REJECTED"})), t(102)).unwrap();
    let err = jobs.update_execution("a", "j1", &req(json!({"status": "IN_PROGRESS"})), t(103)).unwrap_err();
    assert_eq!(err.device_code(), "InvalidStateTransition");
    assert_eq!(jobs.describe_for_device("a", "j1", None).unwrap_err().device_code(), "TerminalStateReached");
}

#[test]
fn a_later_job_going_in_progress_jumps_ahead() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({}), &["a"], 100);
    create(&mut jobs, "j2", json!({}), &["a"], 101);
    let (queued_a, queued_b) = jobs.pending("a");
    assert!(queued_a.is_empty());
    assert_eq!(queued_b.iter().map(|e| e.job_id.as_str()).collect::<Vec<_>>(), ["j1", "j2"]);
    let (_, fx) = jobs.update_execution("a", "j2", &req(json!({"status": "IN_PROGRESS"})), t(102)).unwrap();
    assert_eq!(topics(&jobs, &fx, 102), ["$aws/things/a/jobs/notify-next"]);
    assert_eq!(jobs.describe_for_device("a", "$next", None).unwrap().unwrap().job_id, "j2");
}

#[test]
fn cancel_leaves_in_progress_alone_unless_forced() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({}), &["a", "b"], 100);
    jobs.start_next("a", &DeviceRequest::default(), t(101)).unwrap();
    jobs.cancel_job("j1", false, Some("NO_MORE".into()), None, t(102)).unwrap();
    assert_eq!(jobs.current("a", "j1").unwrap().status, ExecStatus::InProgress);
    assert_eq!(jobs.current("b", "j1").unwrap().status, ExecStatus::Canceled);
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::Canceled);
    assert!(matches!(jobs.delete_job("j1", false), Err(JobsError::InvalidStateTransition { .. })));
    jobs.cancel_job("j1", true, None, None, t(103)).unwrap();
    let a = jobs.current("a", "j1").unwrap();
    assert_eq!((a.status, a.force_canceled), (ExecStatus::Canceled, true));
    assert!(jobs.job("j1").unwrap().force_canceled);
    let fx = jobs.delete_job("j1", false).unwrap();
    assert_eq!(fx.changes, vec![JobChange::DeleteJob("j1".into())]);
    assert!(jobs.current("a", "j1").is_none());
    assert!(matches!(jobs.job("j1"), Err(JobsError::NotFound(_))));
}

#[test]
fn job_creation_refusals_change_nothing() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({}), &["a"], 100);
    let bad: Vec<(&str, &str, serde_json::Value)> = vec![
        ("taken", "j1", json!({})),
        ("bad id", "a b", json!({})),
        ("no targets", "j2", json!({"targets": []})),
        ("doc not json", "j2", json!({"document": "{nope"})),
        ("doc not object", "j2", json!({"document": "[1]"})),
        ("rollout", "j2", json!({"jobExecutionsRolloutConfig": {"maximumPerMinute": 0}})),
        (
            "factor",
            "j2",
            json!({"jobExecutionsRolloutConfig": {"exponentialRate": {"baseRatePerMinute": 5, "incrementFactor": 9.0, "rateIncreaseCriteria": {"numberOfNotifiedThings": 1}}}}),
        ),
        ("timeout", "j2", json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 10081}})),
        (
            "retries",
            "j2",
            json!({"jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 11}]}}),
        ),
        (
            "abort pct",
            "j2",
            json!({"abortConfig": {"criteriaList": [{"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 101.0, "minNumberOfExecutedThings": 1}]}}),
        ),
    ];
    for (name, id, extra) in bad {
        let before = jobs.all().count();
        let r = jobs.create_job(id, spec(extra), things(&["a"]), &[], "arn".into(), t(101));
        assert!(r.is_err(), "{name} was accepted");
        assert_eq!(jobs.all().count(), before, "{name} changed the jobs");
    }
    assert_eq!(jobs.executions_of_thing("a").len(), 1);
}

#[test]
fn timeouts_and_retries() {
    let mut jobs = Jobs { minute_ms: 1000, ..Jobs::default() };
    create(
        &mut jobs,
        "j1",
        json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 5},
               "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 1}]}}),
        &["a"],
        100,
    );
    jobs.start_next("a", &req(json!({"stepTimeoutInMinutes": 2})), t(100)).unwrap();
    assert!(jobs.tick(t(101)).is_empty());
    let fx = jobs.tick(t(102));
    assert!(!fx.is_empty());
    let attempts = jobs.attempts_of_job("j1");
    assert_eq!(
        attempts.iter().map(|e| (e.number, e.status)).collect::<Vec<_>>(),
        [(1, ExecStatus::TimedOut), (2, ExecStatus::Queued)]
    );
    assert_eq!(attempts[1].retry_attempt, 1);
    // The retry times out on the in-progress timer and is not retried again.
    jobs.start_next("a", &DeviceRequest::default(), t(110)).unwrap();
    jobs.tick(t(115));
    assert_eq!(jobs.current("a", "j1").unwrap().status, ExecStatus::TimedOut);
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::Completed);
}

#[test]
fn abort_cancels_the_queued_rest() {
    let mut jobs = Jobs::default();
    create(
        &mut jobs,
        "j1",
        json!({"abortConfig": {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50.0, "minNumberOfExecutedThings": 2}]}}),
        &["a", "b", "c", "d"],
        100,
    );
    jobs.update_execution("a", "j1", &req(json!({"status": "FAILED"})), t(101)).unwrap();
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::InProgress, "below minNumberOfExecutedThings");
    jobs.update_execution("b", "j1", &req(json!({"status": "IN_PROGRESS"})), t(101)).unwrap();
    jobs.update_execution("c", "j1", &req(json!({"status": "SUCCEEDED"})), t(102)).unwrap();
    let job = jobs.job("j1").unwrap();
    assert_eq!(job.status, JobStatus::Canceled);
    assert!(job.comment.as_deref().unwrap().contains("1 of 2"), "{:?}", job.comment);
    assert_eq!(jobs.current("d", "j1").unwrap().status, ExecStatus::Canceled);
    assert_eq!(jobs.current("b", "j1").unwrap().status, ExecStatus::InProgress);
}

#[test]
fn rollout_paces_creation() {
    let mut jobs = Jobs::default();
    create(
        &mut jobs,
        "j1",
        json!({"jobExecutionsRolloutConfig": {"maximumPerMinute": 60}}),
        &["a", "b", "c", "d"],
        100,
    );
    assert_eq!(jobs.counts("j1").total(), 1, "the first at once");
    jobs.tick(Timestamp::from_millis(100_500));
    assert_eq!(jobs.counts("j1").total(), 1);
    jobs.tick(t(101));
    assert_eq!(jobs.counts("j1").total(), 2);
    jobs.tick(t(110));
    assert_eq!(jobs.counts("j1").total(), 3, "at most one second's worth is banked");
    jobs.tick(t(111));
    assert_eq!(jobs.counts("j1").total(), 4);
    assert!(jobs.job("j1").unwrap().rollout.waiting.is_empty());
}

#[test]
fn a_rollout_ceiling_paces_every_job() {
    let mut jobs = Jobs { rollout_ceiling: Some(60.0), ..Jobs::default() };
    create(&mut jobs, "free", json!({}), &["a", "b", "c"], 100);
    create(
        &mut jobs,
        "fast",
        json!({"jobExecutionsRolloutConfig": {"maximumPerMinute": 600}}),
        &["a", "b", "c"],
        100,
    );
    create(
        &mut jobs,
        "slow",
        json!({"jobExecutionsRolloutConfig": {"maximumPerMinute": 30}}),
        &["a", "b", "c"],
        100,
    );
    assert_eq!(jobs.rollout_rate("free"), Some(60.0), "an unpaced job takes the ceiling");
    assert_eq!(jobs.rollout_rate("fast"), Some(60.0), "a faster one is slowed to it");
    assert_eq!(jobs.rollout_rate("slow"), Some(30.0), "a slower one keeps its own pace");
    assert!(jobs.rollout_capped("free") && jobs.rollout_capped("fast") && !jobs.rollout_capped("slow"));
    assert_eq!(jobs.counts("free").total(), 1, "the first at once, the rest paced");
    jobs.tick(t(101));
    assert_eq!(jobs.counts("free").total(), 2);
    jobs.rollout_ceiling = None;
    jobs.tick(t(101));
    assert_eq!(jobs.counts("free").total(), 3, "lifted, the rest go at once");
    assert!(!jobs.rollout_capped("free"));
}

#[test]
fn exponential_rate_grows() {
    let mut jobs = Jobs::default();
    let names: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let on: Vec<&str> = names.iter().map(String::as_str).collect();
    create(
        &mut jobs,
        "j1",
        json!({"jobExecutionsRolloutConfig": {"exponentialRate": {"baseRatePerMinute": 60, "incrementFactor": 2.0,
               "rateIncreaseCriteria": {"numberOfNotifiedThings": 2}}}}),
        &on,
        0,
    );
    assert_eq!(jobs.rollout_rate("j1"), Some(60.0));
    jobs.tick(t(1));
    assert_eq!(jobs.counts("j1").total(), 2);
    assert_eq!(jobs.rollout_rate("j1"), Some(120.0));
}

#[test]
fn continuous_jobs_follow_their_groups() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({"targetSelection": "CONTINUOUS"}), &["a"], 100);
    let fx = jobs.follow_all(t(101), |_| things(&["a", "b"]));
    assert_eq!(jobs.current("b", "j1").unwrap().status, ExecStatus::Queued);
    assert_eq!(fx.things().collect::<Vec<_>>(), ["b"]);
    jobs.follow_all(t(102), |_| things(&["b"]));
    assert_eq!(jobs.current("a", "j1").unwrap().status, ExecStatus::Removed);
    jobs.follow_all(t(103), |_| things(&["a", "b"]));
    let a = jobs.current("a", "j1").unwrap();
    assert_eq!((a.status, a.number), (ExecStatus::Queued, 2), "a thing that comes back gets a new execution");
    jobs.update_execution("b", "j1", &req(json!({"status": "SUCCEEDED"})), t(104)).unwrap();
    jobs.update_execution("a", "j1", &req(json!({"status": "SUCCEEDED"})), t(104)).unwrap();
    assert_eq!(
        jobs.job("j1").unwrap().status,
        JobStatus::InProgress,
        "a continuous job never completes by itself"
    );
    let err = jobs.associate_targets("j9", vec![], vec![], None, t(105)).unwrap_err();
    assert!(matches!(err, JobsError::NotFound(_)));
}

#[test]
fn notify_lists_at_most_ten() {
    let mut jobs = Jobs::default();
    for i in 0..12 {
        create(&mut jobs, &format!("j{i:02}"), json!({}), &["a"], 100 + i);
    }
    let fx = create(&mut jobs, "j12", json!({}), &["a"], 200);
    let n = jobs.notifications(&fx, t(200), &|u, _| u.to_owned());
    assert_eq!(n.len(), 1, "the head did not change: {n:?}");
    assert_eq!(n[0].1["jobs"]["QUEUED"].as_array().unwrap().len(), 10);
}

#[test]
fn load_resumes_a_rollout() {
    let mut jobs = Jobs::default();
    create(
        &mut jobs,
        "j1",
        json!({"jobExecutionsRolloutConfig": {"maximumPerMinute": 1}}),
        &["a", "b", "c"],
        100,
    );
    let job = jobs.job("j1").unwrap().clone();
    let execs: Vec<Execution> = jobs.attempts_of_job("j1").into_iter().cloned().collect();
    let back = Jobs::load(vec![job], execs, vec![], t(200), 60_000);
    assert_eq!(back.job("j1").unwrap().rollout.waiting, ["b", "c"]);
    assert_eq!(back.counts("j1").of(ExecStatus::Queued), 1);
}

#[test]
fn parameters_and_presigned_urls() {
    let params: BTreeMap<String, String> = [("v".to_owned(), "2.0".to_owned())].into();
    assert_eq!(
        substitute_parameters("{\"v\":\"${aws:iot:parameter:v}\"}", &params).unwrap(),
        "{\"v\":\"2.0\"}"
    );
    assert!(substitute_parameters("${aws:iot:parameter:w}", &params).is_err());
    assert_eq!(
        parameter_names(
            "${aws:iot:parameter:b} ${aws:iot:parameter:a} ${aws:iot:parameter:b} ${aws:iot:parameter:c"
        ),
        ["b", "a"]
    );
    let doc = "{\"url\":\"${aws:iot:s3-presigned-url:https://s3.amazonaws.com/b/fw.bin}\"}";
    assert_eq!(
        substitute_presigned(doc, &|u| format!("local:{u}")),
        "{\"url\":\"local:https://s3.amazonaws.com/b/fw.bin\"}"
    );
}

#[test]
fn cancel_and_delete_executions() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({}), &["a", "b"], 100);
    jobs.start_next("a", &DeviceRequest::default(), t(101)).unwrap();
    let err = jobs.cancel_execution("j1", "a", false, None, None, t(102)).unwrap_err();
    assert!(matches!(err, JobsError::InvalidStateTransition { .. }));
    let err = jobs.cancel_execution("j1", "b", false, Some(5), None, t(102)).unwrap_err();
    assert!(matches!(err, JobsError::VersionConflict { .. }));
    jobs.cancel_execution("j1", "b", false, Some(1), None, t(102)).unwrap();
    assert_eq!(jobs.current("b", "j1").unwrap().status, ExecStatus::Canceled);
    assert!(jobs.delete_execution("j1", "a", 1, false, t(103)).is_err());
    jobs.delete_execution("j1", "b", 1, false, t(103)).unwrap();
    assert!(jobs.current("b", "j1").is_none());
    jobs.delete_execution("j1", "a", 1, true, t(104)).unwrap();
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::Completed);
}

#[test]
fn links_live_as_long_as_the_job_says_in_every_document() {
    let mut jobs = Jobs::default();
    let doc = "{\"url\":\"${aws:iot:s3-presigned-url:https://s3.amazonaws.com/b/fw.bin}\"}";
    let fx = create(
        &mut jobs,
        "j1",
        json!({"document": doc, "presignedUrlConfig": {"expiresInSec": 60}}),
        &["a"],
        100,
    );
    create(&mut jobs, "j2", json!({"document": doc}), &["b"], 100);
    let presign = |url: &str, ttl: i64| format!("{url}#{ttl}");
    let notes = jobs.notifications(&fx, t(100), &presign);
    let next = &notes.iter().find(|(t, _)| t.ends_with("/notify-next")).unwrap().1;
    assert_eq!(next["execution"]["jobDocument"]["url"], "https://s3.amazonaws.com/b/fw.bin#60");
    let e = jobs.current("b", "j2").unwrap();
    let v = jobs.execution_json(e, true, false, t(100), &presign);
    assert_eq!(v["jobDocument"]["url"], "https://s3.amazonaws.com/b/fw.bin#3600", "the default is an hour");
}

fn event_topics(fx: &Effects) -> Vec<String> {
    fx.events.iter().map(JobEvent::topic).collect()
}

#[test]
fn job_events_follow_the_lifecycle() {
    let mut jobs = Jobs::default();
    let fx = create(&mut jobs, "j1", json!({}), &["a", "b"], 100);
    assert!(fx.events.is_empty(), "creating a job is not an event");
    jobs.start_next("a", &req(json!({})), t(101)).unwrap();
    let (_, fx) = jobs
        .update_execution(
            "a",
            "j1",
            &req(json!({"status": "FAILED", "statusDetails": {"why": "disk"}})),
            t(102),
        )
        .unwrap();
    assert_eq!(event_topics(&fx), ["$aws/events/jobExecution/j1/failed"]);
    let JobEvent::Execution { execution, job_arn, deleted } = &fx.events[0] else { panic!() };
    assert_eq!(
        (execution.status, execution.status_details["why"].as_str(), *deleted),
        (ExecStatus::Failed, "disk", false)
    );
    assert_eq!(job_arn, "arn:aws:iot:us-east-1:1:job/j1");
    // Canceling: in progress, every QUEUED execution canceled, then canceled with the counts after.
    let fx = jobs.cancel_job("j1", false, None, Some("stop".into()), t(103)).unwrap();
    assert_eq!(
        event_topics(&fx),
        [
            "$aws/events/job/j1/cancellation_in_progress",
            "$aws/events/jobExecution/j1/canceled",
            "$aws/events/job/j1/canceled"
        ]
    );
    let JobEvent::Job { counts, job, .. } = fx.events.last().unwrap() else { panic!() };
    assert_eq!((counts.of(ExecStatus::Canceled), counts.of(ExecStatus::Failed)), (1, 1));
    assert_eq!(job.comment.as_deref(), Some("stop"));
    // Canceling again changes nothing and says nothing.
    assert!(jobs.cancel_job("j1", false, None, None, t(104)).unwrap().events.is_empty());
    // Deleting: in progress, each thing's execution deleted (with the status it had), deleted.
    let fx = jobs.delete_job("j1", false).unwrap();
    assert_eq!(
        event_topics(&fx),
        [
            "$aws/events/job/j1/deletion_in_progress",
            "$aws/events/jobExecution/j1/deleted",
            "$aws/events/jobExecution/j1/deleted",
            "$aws/events/job/j1/deleted"
        ]
    );
    let statuses: Vec<ExecStatus> = fx
        .events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Execution { execution, .. } => Some(execution.status),
            JobEvent::Job { .. } => None,
        })
        .collect();
    assert_eq!(statuses, [ExecStatus::Failed, ExecStatus::Canceled]);
}

#[test]
fn a_snapshot_job_completing_is_an_event() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", json!({}), &["a"], 100);
    let (_, fx) = jobs.update_execution("a", "j1", &req(json!({"status": "SUCCEEDED"})), t(101)).unwrap();
    assert_eq!(event_topics(&fx), ["$aws/events/jobExecution/j1/succeeded", "$aws/events/job/j1/completed"]);
    let JobEvent::Job { operation, counts, .. } = &fx.events[1] else { panic!() };
    assert_eq!((operation.status(), counts.of(ExecStatus::Succeeded)), ("COMPLETED", 1));
}

fn minute_jobs() -> Jobs {
    // One-second job minutes, as `--jobs-minute-ms 1000` would make them.
    Jobs::load(Vec::new(), Vec::new(), Vec::new(), t(0), 1000)
}

/// `secs` seconds after 2026-01-01T00:00Z, as a schedule writes it.
fn at(secs: i64) -> String {
    format!("2026-01-01T{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn base() -> i64 {
    crate::time::parse_utc_minute("2026-01-01T00:00").unwrap().millis() / 1000
}

#[test]
fn a_scheduled_job_waits_for_its_start_and_stops_at_its_end() {
    let mut jobs = minute_jobs();
    let b = base();
    let sched =
        json!({"schedulingConfig": {"startTime": at(60), "endTime": at(120), "endBehavior": "CANCEL"}});
    let fx = create(&mut jobs, "j1", sched, &["a", "b"], b);
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::Scheduled);
    assert!(jobs.current("a", "j1").is_none() && topics(&jobs, &fx, b).is_empty(), "nothing queued yet");
    assert!(jobs.has_timers());
    assert!(jobs.tick(t(b + 59)).is_empty());
    let fx = jobs.tick(t(b + 60));
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::InProgress);
    assert_eq!(jobs.counts("j1").of(ExecStatus::Queued), 2);
    assert!(topics(&jobs, &fx, b + 60).contains(&"$aws/things/a/jobs/notify-next".to_owned()));
    jobs.start_next("a", &req(json!({})), t(b + 61)).unwrap();
    let fx = jobs.tick(t(b + 120));
    let job = jobs.job("j1").unwrap();
    assert_eq!(job.status, JobStatus::Canceled);
    assert!(job.comment.as_deref().unwrap().contains("schedulingConfig.endTime"));
    assert_eq!(jobs.current("b", "j1").unwrap().status, ExecStatus::Canceled);
    assert_eq!(
        jobs.current("a", "j1").unwrap().status,
        ExecStatus::InProgress,
        "CANCEL leaves IN_PROGRESS alone"
    );
    assert!(event_topics(&fx).contains(&"$aws/events/job/j1/canceled".to_owned()));
}

#[test]
fn stop_rollout_ends_creation_but_not_the_running_executions() {
    let mut jobs = minute_jobs();
    let b = base();
    let extra = json!({
        "schedulingConfig": {"endTime": at(40)},
        "jobExecutionsRolloutConfig": {"maximumPerMinute": 1}
    });
    create(&mut jobs, "j1", extra, &["a", "b", "c"], b);
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::InProgress, "no startTime: starts at once");
    assert_eq!(jobs.counts("j1").of(ExecStatus::Queued), 1);
    jobs.tick(t(b + 40));
    assert_eq!(jobs.job("j1").unwrap().rollout.waiting.len(), 0, "the rollout stopped");
    assert_eq!(jobs.counts("j1").of(ExecStatus::Queued), 1);
    let (_, fx) = jobs.update_execution("a", "j1", &req(json!({"status": "SUCCEEDED"})), t(b + 41)).unwrap();
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::Completed, "the job ends with its last execution");
    assert!(event_topics(&fx).contains(&"$aws/events/job/j1/completed".to_owned()));
}

#[test]
fn schedules_are_checked() {
    let b = base();
    for (cfg, says) in [
        (json!({"startTime": "tomorrow"}), "UTC date and time"),
        (json!({"startTime": at(10)}), "at least 30 minutes from now"),
        (json!({"startTime": at(60), "endTime": at(80)}), "at least 30 minutes after the startTime"),
        (json!({"endTime": at(10)}), "at least 30 minutes after the current time"),
        (json!({"startTime": "2028-01-01T00:00"}), "within a year"),
        (json!({"startTime": at(60), "endBehavior": "CANCEL"}), "needs an endTime"),
    ] {
        let mut jobs = minute_jobs();
        let err = jobs
            .create_job("j", spec(json!({"schedulingConfig": cfg})), things(&["a"]), &[], "arn".into(), t(b))
            .unwrap_err();
        assert!(err.to_string().contains(says), "{cfg}: {err}");
        assert_eq!(jobs.all().count(), 0);
    }
}
