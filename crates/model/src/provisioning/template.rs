//! The provisioning template language (fleet provisioning, JITP, RegisterThing): `Parameters`,
//! `Mappings`, `Resources` (a thing, a certificate, policies) with `OverrideSettings`, and
//! `DeviceConfiguration`; the intrinsic functions `Ref`, `Fn::Join`, `Fn::Select`, `Fn::Split`,
//! `Fn::FindInMap` and `Fn::Sub`.
//!
//! [`Template::parse`] checks a body once, when it is stored (an unknown `Fn::*` or resource type
//! is refused then, not at the first device); [`Template::evaluate`] turns it and a request's
//! parameters into a [`Plan`], which `super::apply` carries out on the registry.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The longest template body AWS accepts.
pub const MAX_BODY: usize = 10_240;

/// The certificate pseudo-parameters, filled from the device certificate.
pub const CERTIFICATE_ID: &str = "AWS::IoT::Certificate::Id";
const PSEUDO_PREFIX: &str = "AWS::IoT::Certificate::";

const FUNCTIONS: [&str; 6] = ["Ref", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::FindInMap", "Fn::Sub"];

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Declared parameters and their defaults.
    pub parameters: BTreeMap<String, Option<String>>,
    mappings: Map<String, Value>,
    resources: Vec<(String, Resource)>,
    device_configuration: Map<String, Value>,
}

/// A resource as written (properties still unevaluated).
#[derive(Debug, Clone, PartialEq)]
struct Resource {
    kind: Kind,
    properties: Map<String, Value>,
    overrides: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Thing,
    Certificate,
    Policy,
}

/// What an existing resource's property does when the template provisions it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Override {
    /// Leave it as it is (Thingbox's default when a template names none; AWS documents none).
    #[default]
    DoNothing,
    /// Overwrite it.
    Replace,
    /// Refuse the request (`ResourceConflictsException`).
    Fail,
    /// Merge attributes / groups.
    Merge,
}

impl Override {
    fn parse(field: &str, v: &Value) -> Result<Self, String> {
        match v.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("DO_NOTHING") => Ok(Self::DoNothing),
            Some("REPLACE") => Ok(Self::Replace),
            Some("FAIL") => Ok(Self::Fail),
            Some("MERGE") => Ok(Self::Merge),
            _ => Err(format!("OverrideSettings.{field} must be DO_NOTHING, REPLACE, FAIL or MERGE, not {v}")),
        }
    }
}

/// The thing a template provisions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThingPlan {
    /// `ThingName`.
    pub name: String,
    /// `AttributePayload`.
    pub attributes: Option<BTreeMap<String, String>>,
    /// `ThingTypeName`.
    pub type_name: Option<String>,
    /// `ThingGroups`.
    pub groups: Option<Vec<String>>,
    /// `BillingGroup`.
    pub billing_group: Option<String>,
    /// OverrideSettings for the attributes, the type and the groups.
    pub on_attributes: Override,
    /// For the type.
    pub on_type: Override,
    /// For the groups.
    pub on_groups: Override,
}

/// A policy a template attaches to the certificate.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyPlan {
    /// An existing policy, by name.
    Named(String),
    /// A policy made from this document (named by its hash, see `super::policy_name`).
    Document(String),
}

/// A certificate a RegisterThing template registers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// `CertificatePem` (and `CACertificatePem`, naming its CA when several share a subject).
    Pem {
        /// The certificate.
        pem: String,
        /// Its CA.
        ca_pem: Option<String>,
    },
    /// `CertificateSigningRequest`: Thingbox's CA issues the certificate.
    Csr(String),
}

impl Plan {
    /// Refuses a certificate brought by the template (fleet provisioning and JITP).
    pub fn require_certificate_id(&self) -> Result<(), String> {
        match &self.certificate_source {
            None => Ok(()),
            Some(_) => {
                Err("fleet provisioning and JITP templates name the certificate by CertificateId only".into())
            }
        }
    }
}

/// What a template asks for, evaluated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// The thing resource's logical name and what it asks for.
    pub thing: Option<(String, ThingPlan)>,
    /// The certificate resource: logical name, certificate id and status (`true` = ACTIVE). The id
    /// is empty when the resource gives a PEM or a CSR instead ([`Plan::certificate_source`]).
    pub certificate: Option<(String, String, bool)>,
    /// A certificate the template brings itself (single-thing RegisterThing only; fleet
    /// provisioning and JITP name theirs by `CertificateId`).
    pub certificate_source: Option<CertificateSource>,
    /// The policy resources: logical name and policy.
    pub policies: Vec<(String, PolicyPlan)>,
    /// `DeviceConfiguration`, evaluated (values as strings).
    pub device_configuration: BTreeMap<String, String>,
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{what} must be a JSON object"))
}

/// Refuses functions Thingbox does not know (anywhere in `v`).
fn check_functions(v: &Value, at: &str) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                if (k.starts_with("Fn::") || k == "Ref") && !FUNCTIONS.contains(&k.as_str()) {
                    return Err(format!(
                        "{at}: unknown function {k}; provisioning templates support {}",
                        FUNCTIONS.join(", ")
                    ));
                }
                check_functions(inner, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(|x| check_functions(x, at)),
        _ => Ok(()),
    }
}

impl Template {
    /// Parses and checks a template body.
    pub fn parse(body: &str) -> Result<Self, String> {
        if body.len() > MAX_BODY {
            return Err(format!("templateBody is {} characters; the most is {MAX_BODY}", body.len()));
        }
        let root: Value =
            serde_json::from_str(body).map_err(|e| format!("templateBody is not valid JSON: {e}"))?;
        let root = object(&root, "templateBody")?;
        for key in root.keys() {
            if !["Parameters", "Mappings", "Resources", "DeviceConfiguration"].contains(&key.as_str()) {
                return Err(format!(
                    "templateBody has an unknown section {key}; the sections are Parameters, Mappings, Resources \
                     and DeviceConfiguration"
                ));
            }
        }
        let mut parameters = BTreeMap::new();
        if let Some(p) = root.get("Parameters") {
            for (name, decl) in object(p, "Parameters")? {
                let decl = object(decl, &format!("Parameters.{name}"))?;
                let default = match decl.get("Default") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                parameters.insert(name.clone(), default);
            }
        }
        let mappings = match root.get("Mappings") {
            Some(m) => {
                let m = object(m, "Mappings")?.clone();
                for (map, keys) in &m {
                    for (k, inner) in object(keys, &format!("Mappings.{map}"))? {
                        object(inner, &format!("Mappings.{map}.{k}"))?;
                    }
                }
                m
            }
            None => Map::new(),
        };
        let mut resources = Vec::new();
        let res = root.get("Resources").ok_or("templateBody has no Resources section")?;
        for (logical, r) in object(res, "Resources")? {
            let r = object(r, &format!("Resources.{logical}"))?;
            let kind = match r.get("Type").and_then(Value::as_str) {
                Some("AWS::IoT::Thing") => Kind::Thing,
                Some("AWS::IoT::Certificate") => Kind::Certificate,
                Some("AWS::IoT::Policy") => Kind::Policy,
                other => {
                    return Err(format!(
                        "Resources.{logical}.Type is {}; it must be AWS::IoT::Thing, AWS::IoT::Certificate or \
                         AWS::IoT::Policy",
                        other.map_or("missing".to_owned(), str::to_owned)
                    ));
                }
            };
            let properties = match r.get("Properties") {
                Some(p) => object(p, &format!("Resources.{logical}.Properties"))?.clone(),
                None => Map::new(),
            };
            check_functions(&Value::Object(properties.clone()), &format!("Resources.{logical}.Properties"))?;
            let overrides = match r.get("OverrideSettings") {
                Some(o) => object(o, &format!("Resources.{logical}.OverrideSettings"))?.clone(),
                None => Map::new(),
            };
            let required = match kind {
                Kind::Thing => &["ThingName"][..],
                Kind::Certificate => &[][..],
                Kind::Policy => &[][..],
            };
            for field in required {
                if !properties.contains_key(*field) {
                    return Err(format!("Resources.{logical}.Properties needs {field}"));
                }
            }
            let sources = ["CertificateId", "CertificatePem", "CertificateSigningRequest"];
            if kind == Kind::Certificate
                && sources.iter().filter(|k| properties.contains_key(**k)).count() != 1
            {
                return Err(format!(
                    "Resources.{logical}.Properties needs one of CertificateId, CertificatePem and CertificateSigningRequest"
                ));
            }
            if kind == Kind::Policy
                && properties.contains_key("PolicyName") == properties.contains_key("PolicyDocument")
            {
                return Err(format!(
                    "Resources.{logical}.Properties needs one of PolicyName and PolicyDocument"
                ));
            }
            resources.push((logical.clone(), Resource { kind, properties, overrides }));
        }
        for kind in [Kind::Thing, Kind::Certificate] {
            if resources.iter().filter(|(_, r)| r.kind == kind).count() > 1 {
                return Err(format!(
                    "templateBody has more than one {kind:?} resource; a template provisions one"
                ));
            }
        }
        let device_configuration = match root.get("DeviceConfiguration") {
            Some(d) => {
                let d = object(d, "DeviceConfiguration")?.clone();
                check_functions(&Value::Object(d.clone()), "DeviceConfiguration")?;
                d
            }
            None => Map::new(),
        };
        Ok(Self { parameters, mappings, resources, device_configuration })
    }

    /// Whether the template uses a parameter the request must give (declared, no default, not a
    /// certificate pseudo-parameter).
    pub fn required_parameters(&self) -> impl Iterator<Item = &str> {
        self.parameters
            .iter()
            .filter(|(k, d)| d.is_none() && !k.starts_with(PSEUDO_PREFIX))
            .map(|(k, _)| k.as_str())
    }

    /// Evaluates the template for a request: `given` are the request's parameters (and the hook's
    /// overrides), `pseudo` the certificate pseudo-parameters.
    pub fn evaluate(
        &self,
        given: &BTreeMap<String, String>,
        pseudo: &BTreeMap<String, String>,
    ) -> Result<Plan, String> {
        let env = Env { template: self, given, pseudo };
        let mut plan = Plan::default();
        for (logical, r) in &self.resources {
            let props = |name: &str| -> Result<Option<Value>, String> {
                r.properties
                    .get(name)
                    .map(|v| env.eval(v).map_err(|e| format!("Resources.{logical}.Properties.{name}: {e}")))
                    .transpose()
            };
            match r.kind {
                Kind::Thing => plan.thing = Some((logical.clone(), env.thing(logical, r, &props)?)),
                Kind::Certificate => {
                    let at = |f: &str| format!("Resources.{logical}.Properties.{f}");
                    let id = if let Some(pem) = props("CertificatePem")? {
                        let ca_pem = props("CACertificatePem")?
                            .map(|v| text(Some(v), &at("CACertificatePem")))
                            .transpose()?;
                        plan.certificate_source = Some(CertificateSource::Pem {
                            pem: text(Some(pem), &at("CertificatePem"))?,
                            ca_pem,
                        });
                        String::new()
                    } else if let Some(csr) = props("CertificateSigningRequest")? {
                        plan.certificate_source =
                            Some(CertificateSource::Csr(text(Some(csr), &at("CertificateSigningRequest"))?));
                        String::new()
                    } else {
                        text(props("CertificateId")?, &at("CertificateId"))?
                    };
                    let active = match props("Status")? {
                        None => true,
                        Some(v) => match v.as_str().map(str::to_ascii_uppercase).as_deref() {
                            Some("ACTIVE") => true,
                            Some("INACTIVE") => false,
                            _ => {
                                return Err(format!(
                                    "Resources.{logical}.Properties.Status must be ACTIVE or INACTIVE, not {v}"
                                ));
                            }
                        },
                    };
                    plan.certificate = Some((logical.clone(), id, active));
                }
                Kind::Policy => {
                    let policy = if let Some(name) = props("PolicyName")? {
                        PolicyPlan::Named(text(Some(name), &format!("Resources.{logical}.PolicyName"))?)
                    } else {
                        match props("PolicyDocument")? {
                            Some(Value::String(s)) => PolicyPlan::Document(s),
                            Some(doc @ Value::Object(_)) => PolicyPlan::Document(doc.to_string()),
                            _ => {
                                return Err(format!(
                                    "Resources.{logical}.Properties.PolicyDocument must be a JSON object or a string"
                                ));
                            }
                        }
                    };
                    plan.policies.push((logical.clone(), policy));
                }
            }
        }
        for (k, v) in &self.device_configuration {
            let v = env.eval(v).map_err(|e| format!("DeviceConfiguration.{k}: {e}"))?;
            let v = match v {
                Value::String(s) => s,
                Value::Object(_) | Value::Array(_) => {
                    return Err(format!("DeviceConfiguration.{k} must be a string, not an object or a list"));
                }
                other => other.to_string(),
            };
            plan.device_configuration.insert(k.clone(), v);
        }
        Ok(plan)
    }
}

fn text(v: Option<Value>, what: &str) -> Result<String, String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("{what} is empty")),
        Some(other) => Err(format!("{what} must be a string, not {other}")),
        None => Err(format!("{what} is missing")),
    }
}

struct Env<'a> {
    template: &'a Template,
    given: &'a BTreeMap<String, String>,
    pseudo: &'a BTreeMap<String, String>,
}

impl Env<'_> {
    fn reference(&self, name: &str) -> Result<String, String> {
        if name.starts_with(PSEUDO_PREFIX) {
            if let Some(v) = self.pseudo.get(name) {
                return Ok(v.clone());
            }
            if let Some(Some(d)) = self.template.parameters.get(name) {
                return Ok(d.clone());
            }
            return Err(format!(
                "the device certificate has no {name}, and the template gives it no Default"
            ));
        }
        let Some(default) = self.template.parameters.get(name) else {
            return Err(format!("Ref {name}: no such parameter is declared in Parameters"));
        };
        match (self.given.get(name), default) {
            (Some(v), _) => Ok(v.clone()),
            (None, Some(d)) => Ok(d.clone()),
            (None, None) => Err(format!(
                "parameter {name} has no value: the request does not give it and it has no Default"
            )),
        }
    }

    fn string(&self, v: &Value, what: &str) -> Result<String, String> {
        match self.eval(v)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(format!("{what} must be a string, not {other}")),
        }
    }

    fn eval(&self, v: &Value) -> Result<Value, String> {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => {
                        let name = arg.as_str().ok_or("Ref takes a parameter name")?;
                        Ok(Value::String(self.reference(name)?))
                    }
                    "Fn::Join" => {
                        let [delim, list] = pair(arg, "Fn::Join takes [delimiter, [values]]")?;
                        let delim = self.string(delim, "Fn::Join's delimiter")?;
                        let Value::Array(items) = self.eval(list)? else {
                            return Err("Fn::Join takes [delimiter, [values]]".into());
                        };
                        let parts: Result<Vec<String>, String> =
                            items.iter().map(|i| self.string(i, "a value of Fn::Join")).collect();
                        Ok(Value::String(parts?.join(&delim)))
                    }
                    "Fn::Select" => {
                        let [index, list] = pair(arg, "Fn::Select takes [index, [values]]")?;
                        let index = match self.eval(index)? {
                            Value::Number(n) => n.as_u64(),
                            Value::String(s) => s.parse().ok(),
                            _ => None,
                        }
                        .ok_or("Fn::Select's index must be a whole number")?;
                        let Value::Array(items) = self.eval(list)? else {
                            return Err("Fn::Select takes [index, [values]]".into());
                        };
                        match items.get(index as usize) {
                            Some(Value::Null) | None => Err(format!(
                                "Fn::Select: index {index} is outside the list of {} values",
                                items.len()
                            )),
                            Some(x) => self.eval(x),
                        }
                    }
                    "Fn::Split" => {
                        let [delim, s] = pair(arg, "Fn::Split takes [delimiter, string]")?;
                        let delim = self.string(delim, "Fn::Split's delimiter")?;
                        let s = self.string(s, "Fn::Split's string")?;
                        if delim.is_empty() {
                            return Err("Fn::Split's delimiter is empty".into());
                        }
                        Ok(Value::Array(s.split(delim.as_str()).map(|p| Value::String(p.into())).collect()))
                    }
                    "Fn::FindInMap" => {
                        let args = arg
                            .as_array()
                            .filter(|a| a.len() == 3)
                            .ok_or("Fn::FindInMap takes [map, key, key]")?;
                        let names: Result<Vec<String>, String> =
                            args.iter().map(|a| self.string(a, "a key of Fn::FindInMap")).collect();
                        let names = names?;
                        let found = self
                            .template
                            .mappings
                            .get(&names[0])
                            .ok_or_else(|| format!("Fn::FindInMap: no mapping {}", names[0]))?
                            .get(&names[1])
                            .ok_or_else(|| {
                                format!("Fn::FindInMap: mapping {} has no key {}", names[0], names[1])
                            })?
                            .get(&names[2])
                            .ok_or_else(|| {
                                format!("Fn::FindInMap: {}.{} has no key {}", names[0], names[1], names[2])
                            })?;
                        Ok(found.clone())
                    }
                    "Fn::Sub" => {
                        let (text, vars) = match arg {
                            Value::String(s) => (s.clone(), Map::new()),
                            Value::Array(a) if a.len() == 2 => {
                                let text = self.string(&a[0], "Fn::Sub's string")?;
                                let vars = a[1]
                                    .as_object()
                                    .cloned()
                                    .ok_or("Fn::Sub takes string or [string, {vars}]")?;
                                (text, vars)
                            }
                            _ => return Err("Fn::Sub takes a string or [string, {variables}]".into()),
                        };
                        self.sub(&text, &vars).map(Value::String)
                    }
                    _ => Ok(Value::Object(self.eval_map(m)?)),
                }
            }
            Value::Object(m) => Ok(Value::Object(self.eval_map(m)?)),
            Value::Array(a) => Ok(Value::Array(a.iter().map(|x| self.eval(x)).collect::<Result<_, _>>()?)),
            other => Ok(other.clone()),
        }
    }

    fn eval_map(&self, m: &Map<String, Value>) -> Result<Map<String, Value>, String> {
        m.iter().map(|(k, v)| Ok((k.clone(), self.eval(v)?))).collect()
    }

    /// `Fn::Sub`: `${Name}` is a variable or parameter; `${!Literal}` writes `${Literal}`.
    fn sub(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("Fn::Sub: a ${ is not closed")?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&self.string(v, &format!("Fn::Sub variable {name}"))?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn thing(
        &self,
        logical: &str,
        r: &Resource,
        props: &dyn Fn(&str) -> Result<Option<Value>, String>,
    ) -> Result<ThingPlan, String> {
        let at = |f: &str| format!("Resources.{logical}.Properties.{f}");
        let name = text(props("ThingName")?, &at("ThingName"))?;
        let attributes = match props("AttributePayload")? {
            None => None,
            Some(Value::Object(m)) => Some(
                m.into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k, s)),
                        Value::Number(n) => Ok((k, n.to_string())),
                        other => Err(format!("{}.{k} must be a string, not {other}", at("AttributePayload"))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(other) => return Err(format!("{} must be an object, not {other}", at("AttributePayload"))),
        };
        let groups = match props("ThingGroups")? {
            None => None,
            Some(Value::Array(a)) => Some(
                a.into_iter().map(|g| text(Some(g), &at("ThingGroups"))).collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => return Err(format!("{} must be a list, not {other}", at("ThingGroups"))),
        };
        let optional = |f: &str| props(f)?.map(|v| text(Some(v), &at(f))).transpose();
        let mut plan = ThingPlan {
            name,
            attributes,
            type_name: optional("ThingTypeName")?,
            groups,
            billing_group: optional("BillingGroup")?,
            ..ThingPlan::default()
        };
        for (k, v) in &r.overrides {
            let o = Override::parse(k, v)?;
            match k.as_str() {
                "AttributePayload" | "ATTRIBUTE_PAYLOAD" => plan.on_attributes = o,
                "ThingGroups" | "THING_GROUPS" => plan.on_groups = o,
                "ThingTypeName" | "THING_TYPE_NAME" if o != Override::Merge => plan.on_type = o,
                "ThingTypeName" | "THING_TYPE_NAME" => {
                    return Err(
                        "OverrideSettings.ThingTypeName cannot be MERGE (only attributes and groups merge)"
                            .into(),
                    );
                }
                other => {
                    return Err(format!(
                        "Resources.{logical}.OverrideSettings.{other}: a thing's override settings are \
                         AttributePayload, ThingTypeName and ThingGroups"
                    ));
                }
            }
        }
        Ok(plan)
    }
}

fn pair<'a>(arg: &'a Value, usage: &str) -> Result<[&'a Value; 2], String> {
    match arg.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok([a, b]),
        _ => Err(usage.to_owned()),
    }
}
