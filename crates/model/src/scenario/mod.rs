//! Scenarios for simulated devices: a fleet (N devices from a template, their thing type, groups,
//! attributes and policy), what each device does (telemetry, shadow sync, a jobs agent, command
//! replies, a connection pattern, faults) and timed steps (set desired state, start a job, inject a
//! fault, create a rule, store an OTA file, stop).
//!
//! A scenario is YAML (or JSON, which YAML reads too); [`parse`] checks it whole and names the line
//! of the first problem. The schema is documented in `docs/simulator.md`; the examples in
//! `assets/scenarios/` are parsed by the tests. Pure: the engine's simulator runs what this
//! describes.

pub mod template;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

pub use template::{GenState, Rng, Template, Text, Vars};

/// At most this many devices in one scenario.
pub const MAX_DEVICES: usize = 100_000;
/// The largest OTA file a `file` step makes.
pub const MAX_FILE: u64 = 64 << 20;

/// A scenario that could not be read: what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ScenarioError {
    /// The line (from 1), when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// A duration in milliseconds, written `250ms`, `5s`, `2m`, `1h` or as a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(try_from = "Value")]
pub struct Dur(pub i64);

impl TryFrom<Value> for Dur {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        parse_duration(&v).map(Dur)
    }
}

/// Parses a duration (see [`Dur`]); negative ones are allowed (a clock skew).
pub fn parse_duration(v: &Value) -> Result<i64, String> {
    if let Some(n) = v.as_f64() {
        return Ok((n * 1000.0).round() as i64);
    }
    let s = v.as_str().ok_or_else(|| format!("{v} is not a duration (write 500ms, 5s, 2m or 1h)"))?.trim();
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 =
        num.trim().parse().map_err(|_| format!("'{s}' is not a duration (write 500ms, 5s, 2m or 1h)"))?;
    let scale = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (ms, s, m or h)")),
    };
    Ok((n * scale).round() as i64)
}

/// A ratio in `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(try_from = "f64")]
pub struct Ratio(pub f64);

impl TryFrom<f64> for Ratio {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&v) {
            Ok(Self(v))
        } else {
            Err(format!("'{v}' is not a ratio between 0 and 1"))
        }
    }
}

/// A JSON template (see [`template`]) with its generator count.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
pub struct Payload {
    /// The template.
    pub template: Template,
    /// How many generator state slots it uses.
    pub slots: usize,
}

impl TryFrom<Value> for Payload {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        let mut slots = 0;
        let template = Template::parse(&v, &mut slots)?;
        Ok(Self { template, slots })
    }
}

/// A topic name template (`lamps/${thing}/telemetry`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct TopicTemplate(pub Text);

impl TryFrom<String> for TopicTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = Text::parse(&s)?;
        crate::topic::check_name(&t.sample()).map_err(|e| format!("topic '{s}': {e}"))?;
        Ok(Self(t))
    }
}

/// A topic filter template (`cmd/${thing}/+`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct FilterTemplate(pub Text);

impl TryFrom<String> for FilterTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = Text::parse(&s)?;
        crate::topic::check_filter(&t.sample()).map_err(|e| format!("topic filter '{s}': {e}"))?;
        Ok(Self(t))
    }
}

/// A scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    /// Its name (`[a-zA-Z0-9_-]`, 1–64).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The random seed (the same seed, the same values).
    #[serde(default)]
    pub seed: u64,
    /// How long it runs (absent: until stopped).
    #[serde(default)]
    pub duration: Option<Dur>,
    /// The fleets.
    pub devices: Vec<Fleet>,
    /// Timed steps.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// N devices made from one template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fleet {
    /// The fleet's name; its devices are things `<name>-1` … `<name>-<count>`.
    pub name: String,
    /// How many devices.
    #[serde(default = "one")]
    pub count: usize,
    /// The thing type (made if missing).
    #[serde(default)]
    pub thing_type: Option<String>,
    /// Static thing groups the things join (made if missing).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Thing attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The IoT policy document attached to the devices' certificates (absent: connect as the
    /// thing's own client id, publish, subscribe and receive anything).
    #[serde(default)]
    pub policy: Option<Value>,
    /// Online all the time, or a pattern.
    #[serde(default)]
    pub connection: Connection,
    /// Messages sent on a timer.
    #[serde(default)]
    pub telemetry: Vec<Telemetry>,
    /// Applying desired shadow state.
    #[serde(default)]
    pub shadow: Option<ShadowSync>,
    /// Taking and running jobs.
    #[serde(default)]
    pub jobs: Option<JobsAgent>,
    /// Replying to commands.
    #[serde(default)]
    pub commands: Vec<Command>,
    /// Faults from the start.
    #[serde(default)]
    pub faults: Faults,
}

fn one() -> usize {
    1
}

/// When a device is connected.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Connection {
    /// Online this long, then offline for `offline`, and again (absent: always online).
    #[serde(default)]
    pub online: Option<Dur>,
    /// How long each outage lasts.
    #[serde(default)]
    pub offline: Option<Dur>,
    /// MQTT keep-alive (default 30 s).
    #[serde(default)]
    pub keep_alive: Option<Dur>,
}

/// Messages on a timer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Telemetry {
    /// Where.
    pub topic: TopicTemplate,
    /// How often.
    pub every: Dur,
    /// Up to this much earlier or later each time.
    #[serde(default)]
    pub jitter: Dur,
    /// QoS 0 or 1.
    #[serde(default)]
    pub qos: u8,
    /// Retained.
    #[serde(default)]
    pub retain: bool,
    /// What.
    pub payload: Payload,
}

/// Applying desired shadow state, as a device does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ShadowSync {
    /// A named shadow (absent: the classic one).
    #[serde(default)]
    pub name: Option<String>,
    /// The state reported at the first connection.
    #[serde(default)]
    pub reported: Option<Payload>,
    /// How long applying a change takes (default 500 ms).
    #[serde(default)]
    pub apply_after: Option<Dur>,
    /// The share of changes never applied (the device "fails").
    #[serde(default)]
    pub fail: Ratio,
    /// Keys the device never applies (a partial apply).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// Taking and running jobs, as the AWS IoT jobs agent does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobsAgent {
    /// Progress reports (IN_PROGRESS with `statusDetails.progress`) before the end (default 2).
    #[serde(default = "two")]
    pub steps: u32,
    /// Time between them (default 1 s).
    #[serde(default)]
    pub step_every: Option<Dur>,
    /// The share of jobs that end FAILED.
    #[serde(default)]
    pub fail: Ratio,
    /// The share of jobs that end REJECTED.
    #[serde(default)]
    pub reject: Ratio,
    /// Jobs whose document has this `operation` are rejected.
    #[serde(default)]
    pub reject_operations: Vec<String>,
    /// Download the URLs found in the job document (OTA files; default true).
    #[serde(default = "yes")]
    pub download: bool,
}

fn two() -> u32 {
    2
}

fn yes() -> bool {
    true
}

/// A reply to messages on a topic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Command {
    /// The topic filter commands come on.
    pub topic: FilterTemplate,
    /// Where the reply goes.
    pub reply: TopicTemplate,
    /// The reply (absent: the command echoed).
    #[serde(default)]
    pub payload: Option<Payload>,
    /// How long answering takes.
    #[serde(default)]
    pub delay: Dur,
}

/// Faults a device shows.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Faults {
    /// The share of outgoing messages lost.
    #[serde(default)]
    pub drop: Ratio,
    /// Every outgoing message this much late.
    #[serde(default)]
    pub delay: Dur,
    /// The device's clock is this far off (timestamps it writes).
    #[serde(default)]
    pub clock_skew: Dur,
    /// The share of telemetry messages padded past AWS's 128 KB payload limit.
    #[serde(default)]
    pub oversize: Ratio,
}

/// A timed step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    /// When, from the scenario's start.
    pub at: Dur,
    /// What.
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Sets desired shadow state for the devices.
    Desired { devices: String, shadow: Option<String>, state: Value },
    /// Creates a job over the targets (`group:<name>`, `thing:<name>` or a fleet's device name).
    Job { id: String, targets: Vec<String>, document: Value, rollout_per_minute: Option<u32> },
    /// Changes the devices' faults; `disconnect` drops their connections (for a while).
    Fault { devices: String, faults: FaultChange },
    /// Creates a topic rule.
    Rule { name: String, sql: String, actions: Value },
    /// Stores an OTA file of `size` bytes (jobs' presigned links point at it).
    File { bucket: String, key: String, size: u64 },
    /// Ends the scenario.
    Stop,
}

/// A fault change.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultChange {
    /// The share of outgoing messages lost.
    #[serde(default)]
    pub drop: Option<Ratio>,
    /// Outgoing messages this much late.
    #[serde(default)]
    pub delay: Option<Dur>,
    /// The clock this far off.
    #[serde(default)]
    pub clock_skew: Option<Dur>,
    /// The share of oversize telemetry.
    #[serde(default)]
    pub oversize: Option<Ratio>,
    /// Drop the connection, and stay offline this long (0: reconnect at once).
    #[serde(default)]
    pub disconnect: Option<Dur>,
    /// Revoke the device's certificate (it can no longer connect).
    #[serde(default)]
    pub revoke_certificate: bool,
    /// Give the device a certificate that expires after this long (a few seconds); it reconnects
    /// with it once it has expired.
    #[serde(default)]
    pub expire_certificate: Option<Dur>,
    /// Every fault off.
    #[serde(default)]
    pub clear: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStep {
    at: Dur,
    #[serde(default)]
    desired: Option<RawDesired>,
    #[serde(default)]
    job: Option<RawJob>,
    #[serde(default)]
    fault: Option<Value>,
    #[serde(default)]
    rule: Option<RawRule>,
    #[serde(default)]
    file: Option<RawFile>,
    #[serde(default)]
    stop: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    bucket: String,
    key: String,
    size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDesired {
    devices: String,
    #[serde(default)]
    shadow: Option<String>,
    state: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawJob {
    id: String,
    targets: Vec<String>,
    document: Value,
    #[serde(default)]
    rollout_per_minute: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    sql: String,
    actions: Value,
}

impl TryFrom<RawStep> for Step {
    type Error = String;
    fn try_from(r: RawStep) -> Result<Self, String> {
        let mut actions = Vec::new();
        if let Some(d) = r.desired {
            if !d.state.is_object() {
                return Err("desired: 'state' must be an object of desired values".into());
            }
            actions.push(Action::Desired { devices: d.devices, shadow: d.shadow, state: d.state });
        }
        if let Some(j) = r.job {
            crate::jobs::config::check_job_id("id", &j.id).map_err(|e| format!("job: {e}"))?;
            if j.targets.is_empty() {
                return Err("job: give at least one target (group:<name> or thing:<name>)".into());
            }
            actions.push(Action::Job {
                id: j.id,
                targets: j.targets,
                document: j.document,
                rollout_per_minute: j.rollout_per_minute,
            });
        }
        if let Some(mut f) = r.fault {
            let devices = f
                .as_object_mut()
                .and_then(|o| o.remove("devices"))
                .and_then(|d| d.as_str().map(str::to_owned))
                .ok_or("fault: 'devices' names the devices (a name, a fleet, a pattern like lamp-* or *)")?;
            let faults = serde_json::from_value(f).map_err(|e| format!("fault: {e}"))?;
            actions.push(Action::Fault { devices, faults });
        }
        if let Some(rule) = r.rule {
            thingbox_sql::parse(&rule.sql, thingbox_sql::SqlVersion::V2016_03_23)
                .map_err(|e| format!("rule '{}': {e}", rule.name))?;
            actions.push(Action::Rule { name: rule.name, sql: rule.sql, actions: rule.actions });
        }
        if let Some(f) = r.file {
            let bucket_ok = (3..=63).contains(&f.bucket.len())
                && f.bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !bucket_ok {
                return Err(format!(
                    "file: bucket '{}' is not an S3 bucket name (3–63 of a-z, 0-9, '.', '-')",
                    f.bucket
                ));
            }
            if f.size > MAX_FILE {
                return Err(format!("file: {} bytes is over {MAX_FILE}", f.size));
            }
            actions.push(Action::File { bucket: f.bucket, key: f.key, size: f.size });
        }
        if r.stop {
            actions.push(Action::Stop);
        }
        match actions.len() {
            1 => Ok(Step { at: r.at, action: actions.remove(0) }),
            0 => Err("a step needs one of desired, job, fault, rule, file or stop".into()),
            _ => {
                Err("a step does one thing: give one of desired, job, fault, rule, file or stop per step"
                    .into())
            }
        }
    }
}

/// Reads a scenario (YAML or JSON) and checks it whole.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let s: Scenario = serde_yaml_ng::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let message = e.to_string();
        // The library appends " at line L column C"; the line is ours to say.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        ScenarioError { line: line.map(|l| refine(text, l, &message)), message }
    })?;
    check(&s).map_err(|Problem(message, anchors)| ScenarioError { line: locate(text, &anchors), message })?;
    Ok(s)
}

/// The parser places a value's own error at the start of the mapping holding it; the line at or
/// after it that holds the value the message quotes ('…') is the one to show.
fn refine(text: &str, line: usize, message: &str) -> usize {
    let Some(quoted) = message.split('\'').nth(1).filter(|q| !q.is_empty()) else { return line };
    text.lines()
        .enumerate()
        .skip(line.saturating_sub(1))
        .take(50)
        .find(|(_, l)| l.contains(quoted))
        .map_or(line, |(i, _)| i + 1)
}

fn check_name(what: &str, name: &str, max: usize) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(format!("{what} '{name}' must be 1–{max} letters, digits, '_', '-' or ':'"))
    }
}

/// A problem found in the whole scenario, and the text to look for, in order, to find its line
/// (the fleet's name, then the field).
struct Problem(String, Vec<String>);

fn problem(message: String, anchors: &[&str]) -> Problem {
    Problem(message, anchors.iter().map(|a| (*a).to_owned()).collect())
}

/// The line of the last anchor, each found at or after the line of the one before.
fn locate(text: &str, anchors: &[String]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0;
    for (i, a) in anchors.iter().enumerate() {
        // The same text twice means its next occurrence.
        let from = if i > 0 && anchors[i - 1] == *a { at + 1 } else { at };
        at = from + lines.get(from..)?.iter().position(|l| l.contains(a.as_str()))?;
    }
    (!anchors.is_empty()).then_some(at + 1)
}

fn check_fleet(f: &Fleet) -> Result<(), Problem> {
    let at = |field: &str| vec![f.name.clone(), field.to_owned()];
    let fail = |message: String, field: &str| Problem(message, at(field));
    check_name("fleet name", &f.name, 100).map_err(|m| fail(m, "name"))?;
    if f.count == 0 {
        return Err(fail(format!("fleet '{}': count must be at least 1", f.name), "count"));
    }
    if let Some(t) = &f.thing_type {
        check_name("thing type", t, 128).map_err(|m| fail(m, "thingType"))?;
    }
    for g in &f.groups {
        check_name("thing group", g, 128).map_err(|m| fail(m, g))?;
    }
    for t in &f.telemetry {
        if t.every.0 < 10 {
            return Err(fail(
                format!("fleet '{}': telemetry every {} ms is under 10 ms", f.name, t.every.0),
                "every",
            ));
        }
        if t.qos > 1 {
            return Err(fail(format!("fleet '{}': qos {} (AWS IoT takes 0 or 1)", f.name, t.qos), "qos"));
        }
    }
    let c = f.connection;
    if c.online.is_some() != c.offline.is_some() {
        let m = format!("fleet '{}': connection needs both 'online' and 'offline', or neither", f.name);
        return Err(fail(m, "connection"));
    }
    if c.online.is_some_and(|d| d.0 < 100) || c.offline.is_some_and(|d| d.0 < 0) {
        let m = format!("fleet '{}': a connection is online at least 100 ms at a time", f.name);
        return Err(fail(m, "connection"));
    }
    if let Some(j) = &f.jobs
        && j.fail.0 + j.reject.0 > 1.0
    {
        return Err(fail(format!("fleet '{}': jobs fail + reject is over 1", f.name), "reject"));
    }
    Ok(())
}

fn check(s: &Scenario) -> Result<(), Problem> {
    check_name("scenario name", &s.name, 64).map_err(|m| problem(m, &["name"]))?;
    if s.devices.is_empty() {
        return Err(problem("'devices' lists no fleet".into(), &["devices"]));
    }
    let mut total = 0usize;
    let mut names = std::collections::BTreeSet::new();
    for f in &s.devices {
        check_fleet(f)?;
        if !names.insert(f.name.as_str()) {
            let first = format!("name: {}", f.name);
            return Err(problem(format!("fleet '{}' is named twice", f.name), &[&first, &first]));
        }
        total += f.count;
    }
    if total > MAX_DEVICES {
        return Err(problem(
            format!("the scenario has {total} devices; at most {MAX_DEVICES}"),
            &["devices"],
        ));
    }
    for step in &s.steps {
        if step.at.0 < 0 {
            return Err(problem("a step's 'at' cannot be negative".into(), &["steps", "at: -"]));
        }
        if let Action::Job { targets, .. } = &step.action {
            for t in targets {
                if !(t.starts_with("group:") || t.starts_with("thing:")) {
                    let m = format!("job target '{t}' must be group:<name> or thing:<name>");
                    return Err(problem(m, &["steps", t]));
                }
            }
        }
    }
    Ok(())
}

/// Whether `name` matches a device selector: a device name, a fleet name, `*`, or a pattern with
/// `*` standing for any text (`lamp-*`).
pub fn selects(selector: &str, device: &str, fleet: &str) -> bool {
    selector == "*" || selector == fleet || glob(selector, device)
}

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else { return false };
            if !tail.contains('*') {
                return rest.len() >= tail.len() && rest.ends_with(tail);
            }
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

impl Scenario {
    /// Every device: (fleet index, number in the fleet from 1, thing name).
    pub fn device_names(&self) -> impl Iterator<Item = (usize, usize, String)> + '_ {
        self.devices
            .iter()
            .enumerate()
            .flat_map(|(fi, f)| (1..=f.count).map(move |i| (fi, i, format!("{}-{i}", f.name))))
    }
}

#[cfg(test)]
mod tests;
