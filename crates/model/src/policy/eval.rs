//! The evaluator: one request against a set of policies, with the statements that decided and the
//! variable bindings it used.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::doc::{Condition, Effect, Operator, Policy, SetQualifier};

/// The data-plane actions Thingbox checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// CONNECT (resource `client/<clientId>`).
    Connect,
    /// PUBLISH (resource `topic/<topic>`).
    Publish,
    /// PUBLISH with RETAIN (resource `topic/<topic>`).
    RetainPublish,
    /// SUBSCRIBE, per filter (resource `topicfilter/<filter>`).
    Subscribe,
    /// A delivery (resource `topic/<topic>`).
    Receive,
    /// GetRetainedMessage.
    GetRetainedMessage,
    /// ListRetainedMessages.
    ListRetainedMessages,
    /// GetThingShadow (HTTP).
    GetThingShadow,
    /// UpdateThingShadow (HTTP).
    UpdateThingShadow,
    /// DeleteThingShadow (HTTP).
    DeleteThingShadow,
}

impl Action {
    /// The policy name, e.g. `iot:Publish`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "iot:Connect",
            Self::Publish => "iot:Publish",
            Self::RetainPublish => "iot:RetainPublish",
            Self::Subscribe => "iot:Subscribe",
            Self::Receive => "iot:Receive",
            Self::GetRetainedMessage => "iot:GetRetainedMessage",
            Self::ListRetainedMessages => "iot:ListRetainedMessages",
            Self::GetThingShadow => "iot:GetThingShadow",
            Self::UpdateThingShadow => "iot:UpdateThingShadow",
            Self::DeleteThingShadow => "iot:DeleteThingShadow",
        }
    }
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The action.
    pub action: Action,
    /// The resource ARN.
    pub resource: &'a str,
}

/// What the evaluator knows about the caller: policy variables and condition keys by name
/// (`iot:ClientId`, `iot:Connection.Thing.ThingName`, `iot:Connection.Thing.Attributes[color]`,
/// `iot:Certificate.Subject.CommonName`, `aws:SourceIp`, …). Multi-valued keys have several values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.into(), vec![value.into()]);
        self
    }

    /// Sets a multi-valued key.
    pub fn set_all(&mut self, key: impl Into<String>, values: Vec<String>) -> &mut Self {
        self.values.insert(key.into(), values);
        self
    }

    /// Every key with a value.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The values of `key`, if known.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(key).map(Vec::as_slice)
    }
}

/// A named policy version to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRef<'a> {
    /// Policy name.
    pub name: &'a str,
    /// Version id in force.
    pub version: &'a str,
    /// The document.
    pub policy: &'a Policy,
}

/// A statement that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// Policy name.
    pub policy: String,
    /// Version id.
    pub version: String,
    /// Statement index (0-based).
    pub index: usize,
    /// Its `Sid`.
    pub sid: Option<String>,
}

/// How one variable resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The variable, e.g. `iot:ClientId`.
    pub variable: String,
    /// Its value (`None`: unresolved, so its statement could not match).
    pub value: Option<String>,
}

/// Allowed, explicitly denied or implicitly denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    /// An Allow matched and no Deny did.
    Allowed,
    /// A Deny matched.
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

impl DecisionKind {
    /// TestAuthorization's `authDecision`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "ALLOWED",
            Self::ExplicitDeny => "EXPLICIT_DENY",
            Self::ImplicitDeny => "IMPLICIT_DENY",
        }
    }
}

/// A decision with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The outcome.
    pub kind: DecisionKind,
    /// Allow statements that matched.
    pub allowed_by: Vec<StatementRef>,
    /// Deny statements that matched.
    pub denied_by: Vec<StatementRef>,
    /// Every variable met, and how it resolved.
    pub bindings: Vec<Binding>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.kind == DecisionKind::Allowed
    }

    /// Variables that could not be resolved.
    pub fn missing(&self) -> Vec<&str> {
        self.bindings.iter().filter(|b| b.value.is_none()).map(|b| b.variable.as_str()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Run,
    One,
}

fn value_ok(v: &str) -> bool {
    v.len() <= 1024 && !v.contains(['*', '$', '+', '?', '#'])
}

/// Expands `${...}` variables in `template`. `wild`: `*` and `?` outside variables are wildcards.
/// Returns `None` if a variable is unresolved (its binding is recorded either way).
fn expand(template: &str, ctx: &Context, wild: bool, bindings: &mut Vec<Binding>) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(template.len());
    let mut ok = true;
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("${")
            && let Some(end) = after.find('}')
        {
            let var = &after[..end];
            rest = &after[end + 1..];
            match var {
                "*" => out.push(Tok::Lit('*')),
                "?" => out.push(Tok::Lit('?')),
                "$" => out.push(Tok::Lit('$')),
                _ => {
                    let value = ctx.get(var).and_then(|v| v.first()).filter(|v| value_ok(v)).cloned();
                    if !bindings.iter().any(|b| b.variable == var) {
                        bindings.push(Binding { variable: var.to_owned(), value: value.clone() });
                    }
                    match value {
                        Some(v) => out.extend(v.chars().map(Tok::Lit)),
                        None => ok = false,
                    }
                }
            }
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        rest = &rest[c.len_utf8()..];
        out.push(match c {
            '*' if wild => Tok::Run,
            '?' if wild => Tok::One,
            c => Tok::Lit(c),
        });
    }
    ok.then_some(out)
}

fn matches_toks(pat: &[Tok], text: &[char], fold: bool) -> bool {
    // Iterative glob matching with backtracking on the last `*`.
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    let eq = |a: char, b: char| if fold { a.eq_ignore_ascii_case(&b) } else { a == b };
    while t < text.len() {
        match pat.get(p) {
            Some(Tok::Run) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if eq(*c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|t| *t == Tok::Run)
}

/// A pattern's tokens: `*` and `?` as wildcards, everything else literal.
fn tokens(pattern: &str) -> Vec<Tok> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Tok::Run,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

/// IAM wildcard match of `text` against `pattern` (`*` any run, `?` one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    matches_toks(&tokens(pattern), &text, false)
}

fn action_matches(pattern: &str, action: Action) -> bool {
    let text: Vec<char> = action.as_str().chars().collect();
    matches_toks(&tokens(pattern), &text, true)
}

fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let Ok(ip) = ip.parse::<IpAddr>() else { return false };
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else { return false };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Whether one context value satisfies `op` against one policy value (for negated operators, the
/// positive test; the caller negates).
fn compare(op: Operator, policy: &str, value: &str) -> bool {
    use Operator::*;
    let num = |s: &str| s.parse::<f64>().ok();
    match op {
        StringEquals | StringNotEquals | ArnEquals | ArnNotEquals => policy == value,
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => policy.eq_ignore_ascii_case(value),
        StringLike | StringNotLike | ArnLike | ArnNotLike => glob_match(policy, value),
        Bool => policy.eq_ignore_ascii_case(value),
        NumericEquals | NumericNotEquals => num(policy).zip(num(value)).is_some_and(|(p, v)| p == v),
        NumericLessThan => num(policy).zip(num(value)).is_some_and(|(p, v)| v < p),
        NumericLessThanEquals => num(policy).zip(num(value)).is_some_and(|(p, v)| v <= p),
        NumericGreaterThan => num(policy).zip(num(value)).is_some_and(|(p, v)| v > p),
        NumericGreaterThanEquals => num(policy).zip(num(value)).is_some_and(|(p, v)| v >= p),
        IpAddress | NotIpAddress => cidr_contains(policy, value),
        Null => false,
    }
}

fn negated(op: Operator) -> bool {
    matches!(
        op,
        Operator::StringNotEquals
            | Operator::StringNotEqualsIgnoreCase
            | Operator::StringNotLike
            | Operator::ArnNotEquals
            | Operator::ArnNotLike
            | Operator::NumericNotEquals
            | Operator::NotIpAddress
    )
}

fn condition_holds(c: &Condition, ctx: &Context, bindings: &mut Vec<Binding>) -> bool {
    let values = ctx.get(&c.key);
    if c.operator == Operator::Null {
        let want_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return want_absent == values.is_none_or(<[String]>::is_empty);
    }
    let Some(values) = values else {
        if !bindings.iter().any(|b| b.variable == c.key) {
            bindings.push(Binding { variable: c.key.clone(), value: None });
        }
        return c.if_exists;
    };
    if !bindings.iter().any(|b| b.variable == c.key) {
        bindings.push(Binding { variable: c.key.clone(), value: Some(values.join(",")) });
    }
    // Policy values may hold variables; unresolved ones match nothing. `*` and `?` stay as written
    // (the *Like operators treat them as wildcards).
    let policy_values: Vec<String> = c
        .values
        .iter()
        .filter_map(|v| {
            expand(v, ctx, false, bindings).map(|toks| {
                toks.into_iter()
                    .map(|t| match t {
                        Tok::Lit(ch) => ch,
                        Tok::Run => '*',
                        Tok::One => '?',
                    })
                    .collect()
            })
        })
        .collect();
    let neg = negated(c.operator);
    let one = |value: &str| {
        let hit = policy_values.iter().any(|p| compare(c.operator, p, value));
        if neg { !hit } else { hit }
    };
    match c.qualifier {
        Some(SetQualifier::ForAllValues) => values.iter().all(|v| one(v)),
        Some(SetQualifier::ForAnyValue) | None => values.iter().any(|v| one(v)),
    }
}

/// Evaluates `req` against `policies` in `ctx`.
pub fn evaluate(policies: &[PolicyRef<'_>], req: &Request<'_>, ctx: &Context) -> Decision {
    let mut allowed_by = Vec::new();
    let mut denied_by = Vec::new();
    let mut bindings = Vec::new();
    let resource: Vec<char> = req.resource.chars().collect();
    for p in policies {
        for (index, s) in p.policy.statements.iter().enumerate() {
            let action_hit = s.actions.iter().any(|a| action_matches(a, req.action));
            if action_hit == s.not_action {
                continue;
            }
            let resource_hit = s.resources.iter().any(|r| {
                expand(r, ctx, true, &mut bindings).is_some_and(|toks| matches_toks(&toks, &resource, false))
            });
            if resource_hit == s.not_resource {
                continue;
            }
            if !s.conditions.iter().all(|c| condition_holds(c, ctx, &mut bindings)) {
                continue;
            }
            let r = StatementRef {
                policy: p.name.to_owned(),
                version: p.version.to_owned(),
                index,
                sid: s.sid.clone(),
            };
            match s.effect {
                Effect::Allow => allowed_by.push(r),
                Effect::Deny => denied_by.push(r),
            }
        }
    }
    let kind = if !denied_by.is_empty() {
        DecisionKind::ExplicitDeny
    } else if !allowed_by.is_empty() {
        DecisionKind::Allowed
    } else {
        DecisionKind::ImplicitDeny
    };
    Decision { kind, allowed_by, denied_by, bindings }
}

/// Every action, for compiling action patterns into bit masks.
const ALL_ACTIONS: [Action; 10] = [
    Action::Connect,
    Action::Publish,
    Action::RetainPublish,
    Action::Subscribe,
    Action::Receive,
    Action::GetRetainedMessage,
    Action::ListRetainedMessages,
    Action::GetThingShadow,
    Action::UpdateThingShadow,
    Action::DeleteThingShadow,
];

fn action_bit(a: Action) -> u32 {
    1 << (match a {
        Action::Connect => 0,
        Action::Publish => 1,
        Action::RetainPublish => 2,
        Action::Subscribe => 3,
        Action::Receive => 4,
        Action::GetRetainedMessage => 5,
        Action::ListRetainedMessages => 6,
        Action::GetThingShadow => 7,
        Action::UpdateThingShadow => 8,
        Action::DeleteThingShadow => 9,
    })
}

#[derive(Debug, Clone)]
struct CompiledStatement {
    policy: usize,
    index: usize,
    effect: Effect,
    /// Actions this statement applies to (NotAction already inverted).
    actions: u32,
    /// Resource patterns with every variable substituted (unresolvable ones are left out): the
    /// literal prefix (up to the first wildcard) as bytes, compared at once, and the tokens after it.
    resources: Vec<(Box<[u8]>, Vec<Tok>)>,
    not_resource: bool,
}

/// Policies compiled for one caller: action patterns as bit masks, variables substituted,
/// conditions (which depend only on the caller) decided once. Checking a request then allocates
/// nothing. Recompile when the caller's policies or context change.
#[derive(Debug, Clone)]
pub struct Compiled {
    statements: Vec<CompiledStatement>,
}

/// UTF-8-aware glob match over bytes: `Run` is any run of characters, `One` one character.
fn matches_bytes(pat: &[Tok], text: &[u8]) -> bool {
    let char_len = |b: u8| match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    let mut lit = [0u8; 4];
    while t < text.len() {
        let step = match pat.get(p) {
            Some(Tok::Run) => {
                star = Some(p);
                mark = t;
                p += 1;
                continue;
            }
            Some(Tok::One) => Some(char_len(text[t])),
            // ASCII (nearly every ARN character) compares as one byte; a call to memcmp per
            // character was a measurable share of a publish's CPU time under `*` backtracking.
            Some(Tok::Lit(c)) if c.is_ascii() => (text[t] == *c as u8).then_some(1),
            Some(Tok::Lit(c)) => {
                let enc = c.encode_utf8(&mut lit).as_bytes();
                text[t..].starts_with(enc).then_some(enc.len())
            }
            None => None,
        };
        match step {
            Some(n) => {
                p += 1;
                t += n;
            }
            None => match star {
                Some(s) => {
                    p = s + 1;
                    mark += char_len(text[mark]);
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|t| *t == Tok::Run)
}

/// Compiles `policies` for the caller described by `ctx`.
pub fn compile(policies: &[PolicyRef<'_>], ctx: &Context) -> Compiled {
    let mut statements = Vec::new();
    let mut scratch = Vec::new();
    for (pi, p) in policies.iter().enumerate() {
        for (index, s) in p.policy.statements.iter().enumerate() {
            let mut actions = 0u32;
            for a in ALL_ACTIONS {
                if s.actions.iter().any(|pat| action_matches(pat, a)) {
                    actions |= action_bit(a);
                }
            }
            if s.not_action {
                actions = !actions;
            }
            if actions == 0 || !s.conditions.iter().all(|c| condition_holds(c, ctx, &mut scratch)) {
                continue;
            }
            let resources = s
                .resources
                .iter()
                .filter_map(|r| expand(r, ctx, true, &mut scratch))
                .map(|toks| {
                    let prefix: String = toks
                        .iter()
                        .map_while(|t| match t {
                            Tok::Lit(c) => Some(*c),
                            _ => None,
                        })
                        .collect();
                    let rest = toks[prefix.chars().count()..].to_vec();
                    (prefix.into_bytes().into_boxed_slice(), rest)
                })
                .collect();
            statements.push(CompiledStatement {
                policy: pi,
                index,
                effect: s.effect,
                actions,
                resources,
                not_resource: s.not_resource,
            });
        }
    }
    Compiled { statements }
}

impl Compiled {
    /// The decision for `action` on `resource` (without the explanation; use [`evaluate`] for that).
    pub fn decide(&self, action: Action, resource: &str) -> DecisionKind {
        let bit = action_bit(action);
        let text = resource.as_bytes();
        let mut allowed = false;
        for s in &self.statements {
            if s.actions & bit == 0 {
                continue;
            }
            let hit = s
                .resources
                .iter()
                .any(|(prefix, rest)| text.starts_with(prefix) && matches_bytes(rest, &text[prefix.len()..]));
            if hit == s.not_resource {
                continue;
            }
            match s.effect {
                Effect::Deny => return DecisionKind::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed { DecisionKind::Allowed } else { DecisionKind::ImplicitDeny }
    }

    /// The (policy position, statement index) pairs that could apply to some request, for tests.
    pub fn statement_refs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.statements.iter().map(|s| (s.policy, s.index))
    }
}
