//! The forwarder proper: the AWS SDK for Rust's clients, made on first use and kept (the `forward`
//! feature, on by default; see [`super`]).

mod iot;
mod kafka;
mod web;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use base64::Engine as _;
use serde_json::Value;

use super::ForwardTarget;
use tokio::sync::OnceCell;

/// The log stream cloudwatchLogs actions write to.
const LOG_STREAM: &str = "thingbox-rules";

/// The SDK's configuration and clients.
#[derive(Debug)]
pub struct Forwarder {
    target: ForwardTarget,
    region: String,
    account: String,
    config: OnceCell<SdkConfig>,
    sqs: OnceCell<aws_sdk_sqs::Client>,
    sns: OnceCell<aws_sdk_sns::Client>,
    kinesis: OnceCell<aws_sdk_kinesis::Client>,
    firehose: OnceCell<aws_sdk_firehose::Client>,
    cloudwatch: OnceCell<aws_sdk_cloudwatch::Client>,
    logs: OnceCell<aws_sdk_cloudwatchlogs::Client>,
    sfn: OnceCell<aws_sdk_sfn::Client>,
    timestream: OnceCell<aws_sdk_timestreamwrite::Client>,
    iotevents: OnceCell<aws_sdk_ioteventsdata::Client>,
    iotanalytics: OnceCell<aws_sdk_iotanalytics::Client>,
    sitewise: OnceCell<aws_sdk_iotsitewise::Client>,
    location: OnceCell<aws_sdk_location::Client>,
    /// For the actions that name their own URL (search domains, Salesforce).
    http: reqwest::Client,
    kafka: kafka::KafkaClients,
}

fn s<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// An SDK error as a person reads it: the service's code and message, or why the endpoint was not
/// reached.
fn err<E, R>(e: aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sqs::error::SdkError;
    let innermost = |e: &dyn std::error::Error| {
        let mut cur = e;
        while let Some(next) = cur.source() {
            cur = next;
        }
        cur.to_string()
    };
    match &e {
        SdkError::ServiceError(se) => match (se.err().code(), se.err().message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => format!("the service answered with an error it did not name ({})", innermost(&e)),
        },
        SdkError::DispatchFailure(_) => format!("could not reach the endpoint: {}", innermost(&e)),
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        _ => innermost(&e),
    }
}

/// A request the SDK refused to build.
fn build(e: impl std::error::Error) -> String {
    format!("the request could not be built: {e}")
}

impl Forwarder {
    /// A forwarder to `target`, signing for `region`; `account` names Step Functions state machines.
    pub fn new(target: ForwardTarget, region: String, account: String) -> Self {
        Self {
            target,
            region,
            account,
            config: OnceCell::new(),
            sqs: OnceCell::new(),
            sns: OnceCell::new(),
            kinesis: OnceCell::new(),
            firehose: OnceCell::new(),
            cloudwatch: OnceCell::new(),
            logs: OnceCell::new(),
            sfn: OnceCell::new(),
            timestream: OnceCell::new(),
            iotevents: OnceCell::new(),
            iotanalytics: OnceCell::new(),
            sitewise: OnceCell::new(),
            location: OnceCell::new(),
            http: super::super::actions::http_client(),
            kafka: kafka::KafkaClients::default(),
        }
    }

    /// Timestream's client. AWS's Timestream endpoints are discovered (the SDK keeps them fresh in
    /// a task on the rules engine's runtime); an emulator's URL is used as it is.
    async fn timestream(&self) -> Result<&aws_sdk_timestreamwrite::Client, String> {
        self.timestream
            .get_or_try_init(|| async {
                let client = aws_sdk_timestreamwrite::Client::new(self.config().await);
                match self.target {
                    ForwardTarget::Endpoint(_) => Ok(client),
                    ForwardTarget::Aws => {
                        let (client, reload) = client
                            .with_endpoint_discovery_enabled()
                            .await
                            .map_err(|e| format!("Timestream endpoint discovery failed: {e}"))?;
                        tokio::spawn(reload.reload_task());
                        Ok(client)
                    }
                }
            })
            .await
    }

    /// Where it sends, for messages.
    pub fn describe(&self) -> String {
        self.target.describe(&self.region)
    }

    async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                let loader =
                    aws_config::defaults(BehaviorVersion::latest()).region(Region::new(self.region.clone()));
                match &self.target {
                    ForwardTarget::Aws => loader.load().await,
                    ForwardTarget::Endpoint(url) => {
                        let loader = loader.endpoint_url(url);
                        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
                            loader.load().await
                        } else {
                            loader
                                .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                                    "test", "test", None, None, "thingbox",
                                ))
                                .load()
                                .await
                        }
                    }
                }
            })
            .await
    }

    /// Sends one action; `Ok` carries what to show (a message id, a sequence number).
    pub async fn send(&self, kind: &str, body: &Value, payload: &[u8]) -> Result<String, String> {
        let text = String::from_utf8_lossy(payload).into_owned();
        let blob = || aws_sdk_kinesis::primitives::Blob::new(payload.to_vec());
        match kind {
            "sqs" => {
                let c =
                    self.sqs.get_or_init(|| async { aws_sdk_sqs::Client::new(self.config().await) }).await;
                let message = if body.get("useBase64").and_then(Value::as_bool) == Some(true) {
                    base64::engine::general_purpose::STANDARD.encode(payload)
                } else {
                    text
                };
                let out = c
                    .send_message()
                    .queue_url(s(body, "queueUrl"))
                    .message_body(message)
                    .send()
                    .await
                    .map_err(err)?;
                Ok(format!("SendMessage: message id {}", out.message_id().unwrap_or("?")))
            }
            "sns" => {
                let c =
                    self.sns.get_or_init(|| async { aws_sdk_sns::Client::new(self.config().await) }).await;
                let mut req = c.publish().target_arn(s(body, "targetArn")).message(text);
                if s(body, "messageFormat") == "JSON" {
                    req = req.message_structure("json");
                }
                let out = req.send().await.map_err(err)?;
                Ok(format!("Publish: message id {}", out.message_id().unwrap_or("?")))
            }
            "kinesis" => {
                let c = self
                    .kinesis
                    .get_or_init(|| async { aws_sdk_kinesis::Client::new(self.config().await) })
                    .await;
                let key = match s(body, "partitionKey") {
                    "" => uuid::Uuid::new_v4().to_string(),
                    k => k.to_owned(),
                };
                let out = c
                    .put_record()
                    .stream_name(s(body, "streamName"))
                    .partition_key(key)
                    .data(blob())
                    .send()
                    .await
                    .map_err(err)?;
                Ok(format!("PutRecord: shard {}, sequence {}", out.shard_id(), out.sequence_number()))
            }
            "firehose" => {
                let c = self
                    .firehose
                    .get_or_init(|| async { aws_sdk_firehose::Client::new(self.config().await) })
                    .await;
                let mut data = payload.to_vec();
                data.extend_from_slice(s(body, "separator").replace("\\n", "\n").as_bytes());
                let record = aws_sdk_firehose::types::Record::builder()
                    .data(aws_sdk_firehose::primitives::Blob::new(data))
                    .build()
                    .map_err(build)?;
                let out = c
                    .put_record()
                    .delivery_stream_name(s(body, "deliveryStreamName"))
                    .record(record)
                    .send()
                    .await
                    .map_err(err)?;
                Ok(format!("PutRecord: record id {}", out.record_id()))
            }
            "cloudwatchMetric" => {
                use aws_sdk_cloudwatch::types::{MetricDatum, StandardUnit};
                let c = self
                    .cloudwatch
                    .get_or_init(|| async { aws_sdk_cloudwatch::Client::new(self.config().await) })
                    .await;
                let raw = s(body, "metricValue");
                let value: f64 =
                    raw.trim().parse().map_err(|_| format!("metricValue '{raw}' is not a number"))?;
                let mut datum = MetricDatum::builder()
                    .metric_name(s(body, "metricName"))
                    .value(value)
                    .unit(StandardUnit::from(s(body, "metricUnit")));
                if let Ok(secs) = s(body, "metricTimestamp").trim().parse::<i64>() {
                    datum = datum.timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(secs));
                }
                c.put_metric_data()
                    .namespace(s(body, "metricNamespace"))
                    .metric_data(datum.build())
                    .send()
                    .await
                    .map_err(err)?;
                Ok(format!("PutMetricData: {} = {value}", s(body, "metricName")))
            }
            "cloudwatchAlarm" => {
                use aws_sdk_cloudwatch::types::StateValue;
                let c = self
                    .cloudwatch
                    .get_or_init(|| async { aws_sdk_cloudwatch::Client::new(self.config().await) })
                    .await;
                c.set_alarm_state()
                    .alarm_name(s(body, "alarmName"))
                    .state_value(StateValue::from(s(body, "stateValue")))
                    .state_reason(s(body, "stateReason"))
                    .send()
                    .await
                    .map_err(err)?;
                Ok(format!("SetAlarmState: {}", s(body, "stateValue")))
            }
            "cloudwatchLogs" => {
                use aws_sdk_cloudwatchlogs::types::InputLogEvent;
                let c = self
                    .logs
                    .get_or_init(|| async { aws_sdk_cloudwatchlogs::Client::new(self.config().await) })
                    .await;
                let group = s(body, "logGroupName");
                // The stream is made on first use; "already exists" is fine.
                let _ = c.create_log_stream().log_group_name(group).log_stream_name(LOG_STREAM).send().await;
                let event = InputLogEvent::builder()
                    .timestamp(crate::broker::now_ms())
                    .message(text)
                    .build()
                    .map_err(build)?;
                c.put_log_events()
                    .log_group_name(group)
                    .log_stream_name(LOG_STREAM)
                    .log_events(event)
                    .send()
                    .await
                    .map_err(err)?;
                Ok(format!("PutLogEvents: {group}/{LOG_STREAM}"))
            }
            "stepFunctions" => {
                let c =
                    self.sfn.get_or_init(|| async { aws_sdk_sfn::Client::new(self.config().await) }).await;
                let arn = format!(
                    "arn:aws:states:{}:{}:stateMachine:{}",
                    self.region,
                    self.account,
                    s(body, "stateMachineName")
                );
                let name = format!("{}{}", s(body, "executionNamePrefix"), uuid::Uuid::new_v4());
                let out = c
                    .start_execution()
                    .state_machine_arn(arn)
                    .name(name)
                    .input(text)
                    .send()
                    .await
                    .map_err(err)?;
                Ok(format!("StartExecution: {}", out.execution_arn()))
            }
            "timestream" => self.timestream_records(body, payload).await,
            "iotEvents" => self.iot_events(body, payload).await,
            "iotAnalytics" => self.iot_analytics(body, payload).await,
            "iotSiteWise" => self.sitewise(body).await,
            "location" => self.location(body).await,
            "elasticsearch" | "openSearch" => self.search_document(kind, body, payload).await,
            "salesforce" => self.salesforce(body, payload).await,
            "kafka" => self.kafka(body, payload).await,
            other => Err(format!("{other} actions are not forwarded")),
        }
    }
}

impl Forwarder {
    /// AWS IoT's Timestream action: every attribute of the output object is one measure, with the
    /// action's dimensions, at the action's `timestamp` (or now).
    async fn timestream_records(&self, body: &Value, payload: &[u8]) -> Result<String, String> {
        use aws_sdk_timestreamwrite::types::{Dimension, MeasureValueType, Record, TimeUnit};
        let c = self.timestream().await?;
        let output: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let Some(attributes) = output.as_object() else {
            return Err("the timestream action writes the output's attributes as measures, and the output is not a JSON object".into());
        };
        let mut dimensions = Vec::new();
        for d in body.get("dimensions").and_then(Value::as_array).into_iter().flatten() {
            dimensions
                .push(Dimension::builder().name(s(d, "name")).value(s(d, "value")).build().map_err(build)?);
        }
        let (time, unit) = match body.get("timestamp") {
            Some(t) => (s(t, "value").to_owned(), TimeUnit::from(s(t, "unit"))),
            None => (crate::broker::now_ms().to_string(), TimeUnit::Milliseconds),
        };
        let mut records = Vec::new();
        for (name, v) in attributes {
            let (value, kind) = match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => (n.to_string(), MeasureValueType::Bigint),
                Value::Number(n) => (n.to_string(), MeasureValueType::Double),
                Value::String(t) => (t.clone(), MeasureValueType::Varchar),
                Value::Bool(b) => (b.to_string(), MeasureValueType::Boolean),
                _ => continue,
            };
            records.push(
                Record::builder().measure_name(name).measure_value(value).measure_value_type(kind).build(),
            );
        }
        if records.is_empty() {
            return Err("the output has no number, string or boolean attribute to write as a measure".into());
        }
        let common = Record::builder().set_dimensions(Some(dimensions)).time(time).time_unit(unit).build();
        let n = records.len();
        c.write_records()
            .database_name(s(body, "databaseName"))
            .table_name(s(body, "tableName"))
            .common_attributes(common)
            .set_records(Some(records))
            .send()
            .await
            .map_err(err)?;
        Ok(format!("WriteRecords: {n} measure{}", if n == 1 { "" } else { "s" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(ForwardTarget::parse("aws"), Some(ForwardTarget::Aws));
        assert_eq!(
            ForwardTarget::parse("http://localhost:4566/"),
            Some(ForwardTarget::Endpoint("http://localhost:4566".into()))
        );
        assert_eq!(ForwardTarget::parse("localhost:4566"), None);
    }
}
