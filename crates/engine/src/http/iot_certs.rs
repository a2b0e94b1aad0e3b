//! Service `iot`, the certificate part: device certificates, CA certificates, the registration
//! code, and the principals attached to things. X.509 work is in `crate::certs`; rules are in the
//! model.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use thingbox_api::iot::*;
use thingbox_model::arn::{ResourceType, Scope};
use thingbox_model::registry::{
    CaCertificate, CaRegistration, CaStatus, CertMode, CertStatus, Certificate, RegistryError,
    ThingPrincipalType,
};

use super::AppState;
use super::error::ApiError;
use super::extract::{AwsJson, Ctx, Name, Params, required};
use crate::Error;
use crate::certs::{self, ParsedCert};

type Reply<T> = Result<Json<T>, ApiError>;
type Empty = Json<serde_json::Map<String, serde_json::Value>>;

/// The routes of the `iot` certificate API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys-and-certificate", post(create_keys_and_certificate))
        .route("/certificates", post(create_certificate_from_csr).get(list_certificates))
        .route(
            "/certificates/{certificateId}",
            get(describe_certificate).put(update_certificate).delete(delete_certificate),
        )
        .route("/certificate/register", post(register_certificate))
        .route("/certificate/register-no-ca", post(register_certificate_without_ca))
        .route("/certificates-by-ca/{caCertificateId}", get(list_certificates_by_ca))
        .route("/cacertificate", post(register_ca_certificate))
        .route("/cacertificates", get(list_ca_certificates))
        .route(
            "/cacertificate/{caCertificateId}",
            get(describe_ca_certificate).put(update_ca_certificate).delete(delete_ca_certificate),
        )
        .route("/registrationcode", get(get_registration_code))
        .route(
            "/things/{thingName}/principals",
            put(attach_thing_principal).delete(detach_thing_principal).get(list_thing_principals),
        )
        .route("/things/{thingName}/principals-v2", get(list_thing_principals_v2))
        .route("/principals/things", get(list_principal_things))
}

fn empty() -> Empty {
    Json(serde_json::Map::new())
}

/// `setAsActive` → ACTIVE, else INACTIVE; an explicit `status` wins.
fn initial_status(q: &Params, status: Option<&str>) -> Result<CertStatus, Error> {
    if let Some(s) = status {
        return CertStatus::parse(s).ok_or_else(|| {
            Error::InvalidRequest(format!("status '{s}' is not one of ACTIVE, INACTIVE, REVOKED"))
        });
    }
    Ok(if q.bool("setAsActive")?.unwrap_or(false) { CertStatus::Active } else { CertStatus::Inactive })
}

async fn add(
    s: &AppState,
    ctx: &Ctx,
    parsed: ParsedCert,
    status: CertStatus,
    ca_id: Option<String>,
    mode: CertMode,
) -> Result<Certificate, ApiError> {
    let now = s.now();
    Ok(s.registry.write(|r| r.add_certificate(&ctx.scope, parsed.facts, status, ca_id, mode, now)).await?)
}

fn created(ctx: &Ctx, cert: &Certificate, with_pem: bool, key_pair: Option<KeyPair>) -> CertificateCreated {
    CertificateCreated {
        certificate_arn: ctx.scope.arn(ResourceType::Cert, &cert.facts.id),
        certificate_id: cert.facts.id.clone(),
        certificate_pem: with_pem.then(|| cert.facts.pem.clone()),
        key_pair,
    }
}

/// Issues a certificate with a new RSA key from the local CA and parses it. Shared by
/// CreateKeysAndCertificate and the console's device bundles.
pub(super) async fn issue_with_new_key(s: &AppState) -> Result<(certs::IssuedWithKeys, ParsedCert), Error> {
    let issued = certs::issue_with_new_key_off_runtime(s.ca.clone(), None).await?;
    let parsed = certs::parse_cert_pem("certificatePem", &issued.cert_pem)?;
    Ok((issued, parsed))
}

async fn create_keys_and_certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
) -> Reply<CertificateCreated> {
    let status = initial_status(&q, None)?;
    let (issued, parsed) = issue_with_new_key(&s).await?;
    let cert = add(&s, &ctx, parsed, status, None, CertMode::Default).await?;
    let keys = KeyPair { public_key: issued.public_key_pem, private_key: issued.private_key_pem };
    Ok(Json(created(&ctx, &cert, true, Some(keys))))
}

async fn create_certificate_from_csr(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
    AwsJson(req): AwsJson<CreateCertificateFromCsrRequest>,
) -> Reply<CertificateCreated> {
    let status = initial_status(&q, None)?;
    let csr = required(req.certificate_signing_request, "certificateSigningRequest")?;
    let pem = certs::issue_from_csr(&s.ca, &csr, time::OffsetDateTime::now_utc())?;
    let parsed = certs::parse_cert_pem("certificatePem", &pem)?;
    let cert = add(&s, &ctx, parsed, status, None, CertMode::Default).await?;
    Ok(Json(created(&ctx, &cert, true, None)))
}

fn check_validity(s: &AppState, parsed: &ParsedCert) -> Result<(), Error> {
    let now = s.now();
    if parsed.facts.not_after < now {
        return Err(RegistryError::CertificateValidation("The certificate has expired".into()).into());
    }
    if parsed.facts.not_before > now {
        return Err(RegistryError::CertificateValidation("The certificate is not yet valid".into()).into());
    }
    Ok(())
}

async fn register_certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
    AwsJson(req): AwsJson<RegisterCertificateRequest>,
) -> Reply<CertificateCreated> {
    let status = initial_status(&q, req.status.as_deref())?;
    let parsed = certs::parse_cert_pem("certificatePem", &required(req.certificate_pem, "certificatePem")?)?;
    check_validity(&s, &parsed)?;
    let ca_id = certs::find_issuer(
        s.ca.root_pem(),
        &s.registry.ca_certificate_pems(),
        &parsed.der,
        req.ca_certificate_pem.as_deref(),
        "caCertificatePem",
    )?;
    let cert = add(&s, &ctx, parsed, status, ca_id, CertMode::Default).await?;
    Ok(Json(created(&ctx, &cert, false, None)))
}

async fn register_certificate_without_ca(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
    AwsJson(req): AwsJson<RegisterCertificateRequest>,
) -> Reply<CertificateCreated> {
    let status = initial_status(&q, req.status.as_deref())?;
    let parsed = certs::parse_cert_pem("certificatePem", &required(req.certificate_pem, "certificatePem")?)?;
    check_validity(&s, &parsed)?;
    let cert = add(&s, &ctx, parsed, status, None, CertMode::SniOnly).await?;
    Ok(Json(created(&ctx, &cert, false, None)))
}

fn validity(c: &thingbox_model::registry::CertFacts) -> CertificateValidity {
    CertificateValidity { not_before: c.not_before.epoch_seconds(), not_after: c.not_after.epoch_seconds() }
}

fn describe(scope: &Scope, c: &Certificate) -> CertificateDescription {
    CertificateDescription {
        certificate_arn: scope.arn(ResourceType::Cert, &c.facts.id),
        certificate_id: c.facts.id.clone(),
        ca_certificate_id: c.ca_id.clone(),
        status: c.status.as_str().into(),
        certificate_pem: c.facts.pem.clone(),
        owned_by: scope.account.clone(),
        creation_date: c.created.epoch_seconds(),
        last_modified_date: c.last_modified.epoch_seconds(),
        customer_version: c.customer_version,
        generation_id: c.generation_id.clone(),
        validity: validity(&c.facts),
        certificate_mode: c.mode.as_str().into(),
    }
}

async fn describe_certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(id): Name,
) -> Reply<DescribeCertificateResponse> {
    let c = s.registry.read(|r| r.certificate(&id).cloned())?;
    Ok(Json(DescribeCertificateResponse { certificate_description: describe(&ctx.scope, &c) }))
}

fn page_size(q: &Params) -> Result<usize, Error> {
    Ok(q.int("pageSize", 1, 250)?.unwrap_or(50) as usize)
}

fn summary(scope: &Scope, c: &Certificate) -> CertificateSummary {
    CertificateSummary {
        certificate_arn: scope.arn(ResourceType::Cert, &c.facts.id),
        certificate_id: c.facts.id.clone(),
        status: c.status.as_str().into(),
        certificate_mode: Some(c.mode.as_str().into()),
        creation_date: c.created.epoch_seconds(),
    }
}

fn list(s: &AppState, ctx: &Ctx, q: &Params, ca: Option<&str>) -> Reply<ListCertificatesResponse> {
    let size = page_size(q)?;
    let ascending = q.bool("isAscendingOrder")?.unwrap_or(false);
    let marker = q.str("marker").filter(|m| !m.is_empty());
    let out = s.registry.read(|r| {
        let p = r.list_certificates(ca, ascending, marker, size)?;
        Ok(ListCertificatesResponse {
            certificates: p.items.iter().map(|c| summary(&ctx.scope, c)).collect(),
            next_marker: p.next_token,
        })
    })?;
    Ok(Json(out))
}

async fn list_certificates(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
) -> Reply<ListCertificatesResponse> {
    list(&s, &ctx, &q, None)
}

async fn list_certificates_by_ca(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(ca): Name,
    q: Params,
) -> Reply<ListCertificatesResponse> {
    list(&s, &ctx, &q, Some(&ca))
}

async fn update_certificate(State(s): State<AppState>, Name(id): Name, q: Params) -> Result<Empty, ApiError> {
    let raw = required(q.str("newStatus"), "newStatus")?;
    let status = CertStatus::parse(raw).ok_or_else(|| {
        Error::InvalidRequest(format!("newStatus '{raw}' is not one of ACTIVE, INACTIVE, REVOKED"))
    })?;
    let now = s.now();
    s.registry.change(|r| r.update_certificate_status(&id, status, now)).await?;
    if status != CertStatus::Active {
        // Live connections of a certificate that is no longer ACTIVE are closed now.
        let cert = crate::broker::Principal::Certificate(id.to_ascii_lowercase());
        let n = s.broker.kick_where(crate::broker::DisconnectReason::AuthError, |sess| {
            sess.state.lock().principal.as_ref() == Some(&cert)
        });
        if n > 0 {
            tracing::info!(certificate = %id, connections = n, status = status.as_str(), "disconnected devices");
        }
    }
    Ok(empty())
}

async fn delete_certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(id): Name,
    q: Params,
) -> Result<Empty, ApiError> {
    let force = q.bool("forceDelete")?.unwrap_or(false);
    s.registry.change(|r| r.delete_certificate(&ctx.scope, &id, force)).await?;
    Ok(empty())
}

// ------------------------------------------------------------------------ CA certificates

async fn register_ca_certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
    AwsJson(req): AwsJson<RegisterCaCertificateRequest>,
) -> Reply<CertificateCreated> {
    let active = q.bool("setAsActive")?.unwrap_or(false);
    let auto_registration = q.bool("allowAutoRegistration")?.unwrap_or(false);
    let mode = match req.certificate_mode.as_deref() {
        None | Some("DEFAULT") => CertMode::Default,
        Some("SNI_ONLY") => CertMode::SniOnly,
        Some(other) => {
            return Err(Error::InvalidRequest(format!(
                "certificateMode '{other}' is not DEFAULT or SNI_ONLY"
            ))
            .into());
        }
    };
    let ca = certs::parse_cert_pem("caCertificate", &required(req.ca_certificate, "caCertificate")?)?;
    if !ca.is_ca {
        return Err(Error::from(RegistryError::CertificateValidation(
            "caCertificate is not a CA certificate (its basic constraints do not say CA:TRUE)".into(),
        ))
        .into());
    }
    check_validity(&s, &ca)?;
    match (mode, req.verification_certificate) {
        (CertMode::Default, None) => {
            return Err(Error::InvalidRequest(
                "verificationCertificate is required in DEFAULT mode: a certificate whose common name is the \
                 registration code (GetRegistrationCode), signed by the CA's key"
                    .into(),
            )
            .into());
        }
        (_, Some(pem)) => {
            let v = certs::parse_cert_pem("verificationCertificate", &pem)?;
            if v.common_name.as_deref() != Some(s.registration_code.as_str()) {
                return Err(Error::from(RegistryError::RegistrationCodeValidation(format!(
                    "The verification certificate's common name must be the registration code {} (GetRegistrationCode); \
                     it is '{}'",
                    s.registration_code,
                    v.common_name.unwrap_or_default()
                )))
                .into());
            }
            if !certs::signed_by(&v.der, &ca.der) {
                return Err(Error::from(RegistryError::CertificateValidation(
                    "The verification certificate is not signed by the CA certificate's key".into(),
                ))
                .into());
            }
        }
        (CertMode::SniOnly, None) => {}
    }
    let now = s.now();
    let how =
        CaRegistration { active, auto_registration, mode, registration_config: req.registration_config };
    let ca = s.registry.write(|r| r.add_ca_certificate(&ctx.scope, ca.facts, how, now)).await?;
    Ok(Json(CertificateCreated {
        certificate_arn: ctx.scope.arn(ResourceType::CaCert, &ca.facts.id),
        certificate_id: ca.facts.id,
        certificate_pem: None,
        key_pair: None,
    }))
}

fn describe_ca(scope: &Scope, c: &CaCertificate) -> CaCertificateDescription {
    CaCertificateDescription {
        certificate_arn: scope.arn(ResourceType::CaCert, &c.facts.id),
        certificate_id: c.facts.id.clone(),
        status: c.status.as_str().into(),
        certificate_pem: c.facts.pem.clone(),
        owned_by: scope.account.clone(),
        creation_date: c.created.epoch_seconds(),
        auto_registration_status: if c.auto_registration { "ENABLE" } else { "DISABLE" }.into(),
        last_modified_date: c.last_modified.epoch_seconds(),
        customer_version: c.customer_version,
        generation_id: c.generation_id.clone(),
        validity: validity(&c.facts),
        certificate_mode: c.mode.as_str().into(),
    }
}

async fn describe_ca_certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(id): Name,
) -> Reply<DescribeCaCertificateResponse> {
    let c = s.registry.read(|r| r.ca_certificate(&id).cloned())?;
    Ok(Json(DescribeCaCertificateResponse {
        certificate_description: describe_ca(&ctx.scope, &c),
        registration_config: c.registration_config.clone(),
    }))
}

async fn list_ca_certificates(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Params,
) -> Reply<ListCertificatesResponse> {
    let size = page_size(&q)?;
    let ascending = q.bool("isAscendingOrder")?.unwrap_or(false);
    let marker = q.str("marker").filter(|m| !m.is_empty());
    let out = s.registry.read(|r| {
        let p = r.list_ca_certificates(ascending, marker, size)?;
        Ok(ListCertificatesResponse {
            certificates: p
                .items
                .iter()
                .map(|c| CertificateSummary {
                    certificate_arn: ctx.scope.arn(ResourceType::CaCert, &c.facts.id),
                    certificate_id: c.facts.id.clone(),
                    status: c.status.as_str().into(),
                    certificate_mode: None,
                    creation_date: c.created.epoch_seconds(),
                })
                .collect(),
            next_marker: p.next_token,
        })
    })?;
    Ok(Json(out))
}

async fn update_ca_certificate(
    State(s): State<AppState>,
    Name(id): Name,
    q: Params,
    AwsJson(req): AwsJson<UpdateCaCertificateRequest>,
) -> Result<Empty, ApiError> {
    let status = match q.str("newStatus") {
        None => None,
        Some("ACTIVE") => Some(CaStatus::Active),
        Some("INACTIVE") => Some(CaStatus::Inactive),
        Some(other) => {
            return Err(
                Error::InvalidRequest(format!("newStatus '{other}' is not ACTIVE or INACTIVE")).into()
            );
        }
    };
    let auto = match q.str("newAutoRegistrationStatus") {
        None => None,
        Some("ENABLE") => Some(true),
        Some("DISABLE") => Some(false),
        Some(other) => {
            return Err(Error::InvalidRequest(format!(
                "newAutoRegistrationStatus '{other}' is not ENABLE or DISABLE"
            ))
            .into());
        }
    };
    let config = if req.remove_auto_registration.unwrap_or(false) {
        Some(None)
    } else {
        req.registration_config.map(Some)
    };
    let now = s.now();
    s.registry.change(|r| r.update_ca_certificate(&id, status, auto, config, now)).await?;
    Ok(empty())
}

async fn delete_ca_certificate(State(s): State<AppState>, Name(id): Name) -> Result<Empty, ApiError> {
    s.registry.change(|r| r.delete_ca_certificate(&id)).await?;
    Ok(empty())
}

async fn get_registration_code(State(s): State<AppState>) -> Reply<RegistrationCodeResponse> {
    Ok(Json(RegistrationCodeResponse { registration_code: s.registration_code.clone() }))
}

// ------------------------------------------------------------------------ thing principals

fn principal_header(headers: &HeaderMap) -> Result<String, Error> {
    let p = headers.get("x-amzn-principal").and_then(|v| v.to_str().ok()).map(str::to_owned);
    required(p.filter(|p| !p.is_empty()), "principal")
}

async fn attach_thing_principal(
    State(s): State<AppState>,
    Name(thing): Name,
    headers: HeaderMap,
    q: Params,
) -> Result<Empty, ApiError> {
    let principal = principal_header(&headers)?;
    let kind = match q.str("thingPrincipalType") {
        None | Some("NON_EXCLUSIVE_THING") => ThingPrincipalType::NonExclusiveThing,
        Some("EXCLUSIVE_THING") => ThingPrincipalType::ExclusiveThing,
        Some(other) => {
            return Err(Error::InvalidRequest(format!(
                "thingPrincipalType '{other}' is not EXCLUSIVE_THING or NON_EXCLUSIVE_THING"
            ))
            .into());
        }
    };
    s.registry.change(|r| r.attach_thing_principal(&thing, &principal, kind)).await?;
    Ok(empty())
}

async fn detach_thing_principal(
    State(s): State<AppState>,
    Name(thing): Name,
    headers: HeaderMap,
) -> Result<Empty, ApiError> {
    let principal = principal_header(&headers)?;
    s.registry.change(|r| r.detach_thing_principal(&thing, &principal)).await?;
    Ok(empty())
}

async fn list_thing_principals(
    State(s): State<AppState>,
    Name(thing): Name,
    q: Params,
) -> Reply<ListThingPrincipalsResponse> {
    let all: Vec<String> = s
        .registry
        .read(|r| Ok(r.thing_principals(&thing)?.into_iter().map(|(p, _)| p.to_owned()).collect()))?;
    let p = q.page(all, q.max_results()?, Clone::clone)?;
    let (principals, next_token) = (p.items, p.next_token);
    Ok(Json(ListThingPrincipalsResponse { principals, next_token }))
}

async fn list_thing_principals_v2(
    State(s): State<AppState>,
    Name(thing): Name,
    q: Params,
) -> Reply<ListThingPrincipalsV2Response> {
    let want = q.str("thingPrincipalType");
    let all: Vec<ThingPrincipalObject> = s.registry.read(|r| {
        Ok(r.thing_principals(&thing)?
            .into_iter()
            .map(|(p, k)| ThingPrincipalObject {
                principal: p.to_owned(),
                thing_principal_type: match k {
                    ThingPrincipalType::ExclusiveThing => "EXCLUSIVE_THING".into(),
                    ThingPrincipalType::NonExclusiveThing => "NON_EXCLUSIVE_THING".into(),
                },
            })
            .filter(|o| want.is_none_or(|w| o.thing_principal_type == w))
            .collect())
    })?;
    let p = q.page(all, q.max_results()?, |o| o.principal.clone())?;
    let (thing_principal_objects, next_token) = (p.items, p.next_token);
    Ok(Json(ListThingPrincipalsV2Response { thing_principal_objects, next_token }))
}

async fn list_principal_things(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Params,
) -> Reply<ListPrincipalThingsResponse> {
    let principal = principal_header(&headers)?;
    let all: Vec<String> =
        s.registry.read(|r| Ok(r.principal_things(&principal)?.into_iter().map(str::to_owned).collect()))?;
    let p = q.page(all, q.max_results()?, Clone::clone)?;
    let (things, next_token) = (p.items, p.next_token);
    Ok(Json(ListPrincipalThingsResponse { things, next_token }))
}
