//! The console's provisioning view: `POST /console/api/provisioning-templates/{name}/claim-bundle`
//! makes a provisioning claim (CreateProvisioningClaim, five minutes) and answers a zip with what
//! the Device SDK's fleet-provisioning samples need: the claim certificate and key, the root CA and
//! a README with the command line, the template's parameters filled in as placeholders. The
//! templates themselves the console reads through the AWS API.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use thingbox_model::provisioning::Template;

use super::AppState;
use super::error::ApiError;

/// The routes (behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/api/provisioning-templates/{name}/claim-bundle", post(claim_bundle))
}

/// The README of a claim bundle.
fn readme(template: &str, parameters: &[&str], mqtt_port: &str, expires: &str) -> String {
    let example: Vec<String> = parameters.iter().map(|p| format!("\"{p}\":\"…\"")).collect();
    let params = if parameters.is_empty() {
        String::new()
    } else {
        format!(" \\\n  --template_parameters '{{{}}}'", example.join(","))
    };
    format!(
        "# Provisioning claim for template `{template}`\n\n\
         Made by Thingbox. The claim works until {expires} (five minutes, as on AWS): provision a \
         device with it before then. It may only ask for a certificate and provision with \
         `{template}`.\n\n\
         | file | what |\n|---|---|\n\
         | claim.pem.crt | the claim certificate |\n\
         | claim.private.key | its private key |\n\
         | root-CA.crt | Thingbox's root CA (`sudo thingbox trust` puts it in the system store, as the samples need) |\n\n\
         With the AWS IoT Device SDK v2 for Python (`pip install awsiotsdk`), its sample as it is (it \
         connects to port {mqtt_port}):\n\n\
         ```sh\npython fleet_provisioning_basic.py --endpoint localhost --cert claim.pem.crt \
         --key claim.private.key --template_name {template}{params}\n```\n"
    )
}

async fn claim_bundle(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let body = s.provisioning.read(|t| t.get(&name).map(|t| t.body().to_owned()))?;
    let parameters: Vec<String> = Template::parse(&body)
        .map(|t| t.required_parameters().map(str::to_owned).collect())
        .unwrap_or_default();
    let claim = s.provisioning.create_claim(&name, s.now()).await?;
    let expires = time::OffsetDateTime::from_unix_timestamp(claim.expiration.0.div_euclid(1000))
        .map(|t| t.to_string())
        .unwrap_or_default();
    let port =
        s.endpoints.mqtt_tls.as_deref().and_then(|hp| hp.rsplit(':').next()).unwrap_or("8883").to_owned();
    let names: Vec<&str> = parameters.iter().map(String::as_str).collect();
    let files = [
        ("claim.pem.crt", claim.certificate_pem.as_str(), 0o644),
        ("claim.private.key", claim.private_key.as_str(), 0o600),
        ("root-CA.crt", s.ca.root_pem(), 0o644),
        ("README.md", &readme(&name, &names, &port, &expires), 0o644),
    ];
    super::console::zip_download(
        &format!("{name}-claim"),
        &format!("{name}-claim"),
        &files,
        Some(&claim.certificate_id),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_names_the_parameters() {
        let r = super::readme("fleet", &["SerialNumber"], "8883", "2026-12-05T12:00:00Z");
        assert!(r.contains("--template_name fleet"));
        assert!(r.contains(r#"--template_parameters '{"SerialNumber":"…"}'"#));
        assert!(!super::readme("t", &[], "8883", "x").contains("--template_parameters"));
    }
}
