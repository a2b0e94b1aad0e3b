//! Strings on their way to AWS: the local account and region inside ARNs become the deploying
//! account's and region's (`${AWS::AccountId}`/`${AWS::Region}` in CloudFormation, the
//! `aws_caller_identity`/`aws_region` data sources in Terraform), and what the target language would
//! read as its own interpolation — IoT policy variables like `${iot:ClientId}` — is escaped.

use serde_json::Value;

/// A piece of a rewritten string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as written.
    Lit(String),
    /// The deploying region.
    Region,
    /// The deploying account.
    Account,
}

/// `text` with the account — and the region, when it is the local one — of every
/// `arn:<partition>:<service>:<region>:<account>:` of the local account split out.
pub fn parts(text: &str, account: &str, region: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("arn:") {
        let (before, arn) = rest.split_at(at);
        lit.push_str(before);
        // arn:partition:service:region:account:
        let fields: Vec<&str> = arn.splitn(6, ':').collect();
        // Only ARNs of the local account: a foreign account's resource stays where it is.
        if fields.len() == 6 && fields[4] == account {
            lit.push_str(&format!("arn:{}:{}:", fields[1], fields[2]));
            if fields[3] == region {
                out.push(Part::Lit(std::mem::take(&mut lit)));
                out.push(Part::Region);
            } else {
                lit.push_str(fields[3]);
            }
            lit.push(':');
            out.push(Part::Lit(std::mem::take(&mut lit)));
            out.push(Part::Account);
            lit.push(':');
            rest = fields[5];
        } else {
            lit.push_str("arn:");
            rest = &arn[4..];
        }
    }
    lit.push_str(rest);
    out.push(Part::Lit(lit));
    out.retain(|p| !matches!(p, Part::Lit(s) if s.is_empty()));
    out
}

/// A string for CloudFormation: the text itself, or `{"Fn::Sub": …}` when it names the account or
/// region (then `${…}` already in the text is written `${!…}`, which Fn::Sub turns back).
pub fn cfn(text: &str, account: &str, region: &str) -> Value {
    let p = parts(text, account, region);
    if p.iter().all(|x| matches!(x, Part::Lit(_))) {
        return Value::String(text.to_owned());
    }
    let mut s = String::new();
    for x in p {
        match x {
            Part::Lit(l) => s.push_str(&l.replace("${", "${!")),
            Part::Region => s.push_str("${AWS::Region}"),
            Part::Account => s.push_str("${AWS::AccountId}"),
        }
    }
    serde_json::json!({ "Fn::Sub": s })
}

/// Every string leaf of `v` through [`cfn`].
pub fn cfn_value(v: &Value, account: &str, region: &str) -> Value {
    match v {
        Value::String(s) => cfn(s, account, region),
        Value::Array(items) => Value::Array(items.iter().map(|i| cfn_value(i, account, region)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), cfn_value(v, account, region))).collect())
        }
        other => other.clone(),
    }
}

/// The Terraform data sources the rewritten strings read.
pub const TF_REGION: &str = "${data.aws_region.current.name}";
/// See [`TF_REGION`].
pub const TF_ACCOUNT: &str = "${data.aws_caller_identity.current.account_id}";

/// A quoted HCL string: escapes, `${`/`%{` written `$${`/`%%{`, the local account and region as
/// the data sources.
pub fn hcl_string(text: &str, account: &str, region: &str) -> String {
    let mut s = String::from("\"");
    for x in parts(text, account, region) {
        match x {
            Part::Lit(l) => s.push_str(&hcl_escape(&l)),
            Part::Region => s.push_str(TF_REGION),
            Part::Account => s.push_str(TF_ACCOUNT),
        }
    }
    s.push('"');
    s
}

/// The text escaped for inside an HCL quoted string.
pub fn hcl_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as an HCL expression (for `jsonencode(…)`), `indent` spaces deep.
pub fn hcl_value(v: &Value, account: &str, region: &str, indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let end = " ".repeat(indent);
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => hcl_string(s, account, region),
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Array(items) => {
            let inner: Vec<String> =
                items.iter().map(|i| format!("{pad}{}", hcl_value(i, account, region, indent + 2))).collect();
            format!("[\n{},\n{end}]", inner.join(",\n"))
        }
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Object(m) => {
            let inner: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    format!("{pad}\"{}\" = {}", hcl_escape(k), hcl_value(v, account, region, indent + 2))
                })
                .collect();
            format!("{{\n{}\n{end}}}", inner.join("\n"))
        }
    }
}

/// `someName` → `SomeName`, recursively over object keys — AWS's API members to CloudFormation's
/// property names — except inside `keep`'s members (named as the API names them), whose keys are
/// the user's (Kafka client properties).
pub fn pascal_keys(v: &Value, keep: &[&str]) -> Value {
    rekey(v, keep, pascal)
}

/// `SomeName` → `someName`, recursively: [`pascal_keys`] undone.
pub fn camel_keys(v: &Value, keep: &[&str]) -> Value {
    rekey(v, keep, camel)
}

fn rekey(v: &Value, keep: &[&str], to: fn(&str) -> String) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| rekey(i, keep, to)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let value =
                        if keep.contains(&camel(k).as_str()) { v.clone() } else { rekey(v, keep, to) };
                    (to(k), value)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Upper-cases the first letter.
pub fn pascal(k: &str) -> String {
    let mut c = k.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Lower-cases the first letter.
pub fn camel(k: &str) -> String {
    let mut c = k.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

/// `someName` → `some_name` (Terraform's attribute names).
pub fn snake(k: &str) -> String {
    let mut out = String::new();
    for (i, c) in k.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000000000000";
    const R: &str = "us-east-1";

    #[test]
    fn local_account_and_region_become_the_deploying_ones() {
        let arn = "arn:aws:iot:us-east-1:000000000000:topic/things/${iot:ClientId}/x";
        assert_eq!(
            cfn(arn, A, R),
            serde_json::json!({"Fn::Sub": "arn:aws:iot:${AWS::Region}:${AWS::AccountId}:topic/things/${!iot:ClientId}/x"})
        );
        assert_eq!(
            hcl_string(arn, A, R),
            format!("\"arn:aws:iot:{TF_REGION}:{TF_ACCOUNT}:topic/things/$${{iot:ClientId}}/x\"")
        );
        // Nothing local: the text stays as written, variables and all.
        assert_eq!(cfn("things/${iot:ClientId}", A, R), Value::String("things/${iot:ClientId}".into()));
        assert_eq!(cfn("*", A, R), Value::String("*".into()));
        // A role in IAM (no region) names the account only; another account is left alone.
        assert_eq!(
            cfn("arn:aws:iam::000000000000:role/r", A, R),
            serde_json::json!({"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/r"})
        );
        assert_eq!(
            cfn("arn:aws:iam::123456789012:role/r", A, R),
            Value::String("arn:aws:iam::123456789012:role/r".into())
        );
        assert_eq!(parts("xarn:bad", A, R), vec![Part::Lit("xarn:bad".into())]);
        assert_eq!(
            cfn("arn:aws:sqs:us-east-1:123456789012:q", A, R),
            Value::String("arn:aws:sqs:us-east-1:123456789012:q".into())
        );
    }

    #[test]
    fn keys_change_case_and_back() {
        let api = serde_json::json!({"republish": {"topic": "t", "roleArn": "r", "headers": {"userProperties": [{"key": "k", "value": "v"}]}},
                                      "kafka": {"clientProperties": {"bootstrap.servers": "b"}}});
        let c = pascal_keys(&api, &["clientProperties"]);
        assert_eq!(c["Republish"]["Headers"]["UserProperties"][0]["Key"], "k");
        assert_eq!(c["Kafka"]["ClientProperties"]["bootstrap.servers"], "b");
        assert_eq!(camel_keys(&c, &["clientProperties"]), api);
        assert_eq!(snake("confirmationUrl"), "confirmation_url");
        assert_eq!(hcl_escape("a\"b\\c%{x}"), "a\\\"b\\\\c%%{x}");
    }
}
