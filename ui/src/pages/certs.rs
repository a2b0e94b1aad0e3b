//! Certificates: device bundles in one click, the list with status changes (a revoked device is
//! disconnected within a second, and the overview shows it), a certificate's details, CA
//! registration, and provisioning templates with claim bundles for fleet provisioning.

use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError, act, enc, load};
use crate::live::Live;
use crate::widgets::{ConfirmButton, Copy, ErrorBox, Modal, arr, date, loaded, s};

/// Names of the policies (for pickers).
pub fn policy_names() -> crate::api::Loaded<Vec<String>> {
    api::names(expect_context::<Live>().policies, "/policies?pageSize=250", "policies", "policyName")
}

#[component]
fn BundleForm(thing: RwSignal<String>, fixed: bool, open: RwSignal<bool>) -> impl IntoView {
    let policies = policy_names();
    let policy = RwSignal::new(String::new());
    let starter = RwSignal::new(true);
    let err = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let made = RwSignal::new(None::<String>);
    let submit = move |_| {
        let t = thing.get_untracked().trim().to_owned();
        let p = policy.get_untracked();
        let body = json!({ "policyName": if p.is_empty() { Value::Null } else { json!(p) }, "starterPolicy": starter.get_untracked() });
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r = api::download(
                "POST",
                &format!("/console/api/things/{}/bundle", enc(&t)),
                Some(body),
                "device-bundle.zip",
            )
            .await;
            if busy.try_set(false).is_some() {
                return;
            }
            match r {
                Ok(h) => {
                    err.try_set(None);
                    made.try_set(h.get("x-thingbox-certificate-id").ok().flatten());
                }
                Err(e) => drop(err.try_set(Some(e))),
            }
        });
    };
    view! {
        <p class="muted">"Makes an ACTIVE certificate and key, attaches it to the thing (and a policy), and downloads a zip: certificate, private key, root CA, endpoints, and connect snippets for mosquitto and the AWS IoT Device SDK v2 (Python, JavaScript). The private key is in the zip only."</p>
        <div class="form">
            <label for="bundle-thing">"Thing"</label>
            <input id="bundle-thing" disabled=fixed prop:value=move || thing.get() on:input=move |e| thing.set(event_target_value(&e))/>
            <label for="bundle-starter">"Starter policy"</label>
            <label><input id="bundle-starter" type="checkbox" prop:checked=move || starter.get() on:change=move |e| starter.set(event_target_checked(&e))/>
                " attach "<code>{thingbox_api::console::STARTER_POLICY}</code>" (client id = thing name; topics things/<thing>/… and its shadows)"</label>
            <label for="bundle-policy">"Also attach"</label>
            <select id="bundle-policy" on:change=move |e| policy.set(event_target_value(&e))>
                <option value="">"(no other policy)"</option>
                {move || policies.get().and_then(Result::ok).unwrap_or_default().into_iter()
                    .map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}
            </select>
        </div>
        <ErrorBox err=err/>
        {move || made.get().map(|id| view! {
            <div class="notice" id="bundle-done">"Downloaded. Certificate "<a href=format!("#/certificates/{id}")>{id.chars().take(16).collect::<String>()}"…"</a>" is ACTIVE and attached."</div>
        })}
        <div class="row" style="justify-content:flex-end;margin-top:12px">
            <button on:click=move |_| open.set(false)>"Close"</button>
            <button class="primary" id="bundle-submit" disabled=move || busy.get() on:click=submit>
                {move || if busy.get() { "Making…" } else { "Create and download" }}
            </button>
        </div>
    }
}

/// "Create certificate bundle" for a known thing.
#[component]
pub fn BundleButton(thing: String) -> impl IntoView {
    let open = RwSignal::new(false);
    let thing = RwSignal::new(thing);
    view! {
        <button class="primary" id="bundle" on:click=move |_| open.set(true)>"Create certificate bundle"</button>
        <Modal open=open title="Device bundle"><BundleForm thing=thing fixed=true open=open/></Modal>
    }
}

fn set_status(err: RwSignal<Option<ApiError>>, id: String, status: &'static str) {
    act(
        err,
        async move { api::call("PUT", &format!("/certificates/{id}?newStatus={status}"), None).await },
        |_| {},
    );
}

#[component]
fn StatusButtons(id: String, status: String) -> impl IntoView {
    let err = expect_context::<RwSignal<Option<ApiError>>>();
    let (a, b, c) = (id.clone(), id.clone(), id.clone());
    view! {
        <span class="row">
            {(status != "ACTIVE" && status != "REVOKED").then(|| view! { <button data-action="activate" on:click=move |_| set_status(err, a.clone(), "ACTIVE")>"Activate"</button> })}
            {(status == "ACTIVE").then(|| view! { <button data-action="deactivate" on:click=move |_| set_status(err, b.clone(), "INACTIVE")>"Deactivate"</button> })}
            {(status != "REVOKED").then(|| view! {
                <ConfirmButton label="Revoke" question="Revoke this certificate? Devices using it are disconnected now and can never connect with it again.".to_owned()
                    on_confirm=move || set_status(err, c.clone(), "REVOKED")/>
            })}
        </span>
    }
}

/// The certificates page.
#[component]
pub fn Certificates() -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    provide_context(err);
    let certs = load(move || {
        live.certs.get();
        async move { api::get("/certificates?pageSize=250&isAscendingOrder=false").await }
    });
    let cas = load(move || {
        live.cas.get();
        async move { api::get("/cacertificates?pageSize=250").await }
    });
    let bundle_open = RwSignal::new(false);
    let bundle_thing = RwSignal::new(String::new());
    let ca_open = RwSignal::new(false);
    view! {
        <div class="spread">
            <h1>"Certificates"</h1>
            <div class="row">
                <button id="register-ca" on:click=move |_| ca_open.set(true)>"Register a CA"</button>
                <button class="primary" id="new-bundle" on:click=move |_| bundle_open.set(true)>"Create for a thing"</button>
            </div>
        </div>
        <Modal open=bundle_open title="Device bundle"><BundleForm thing=bundle_thing fixed=false open=bundle_open/></Modal>
        <Modal open=ca_open title="Register a CA certificate"><RegisterCa open=ca_open/></Modal>
        <ErrorBox err=err/>
        {loaded(certs, move |v: Value| {
            let list = arr(&v, "certificates");
            if list.is_empty() {
                return view! { <div class="empty">"No certificates. “Create for a thing” makes a certificate, key and connect snippets in one zip."</div> }.into_any();
            }
            view! { <table id="certificates"><thead><tr><th>"Certificate id"</th><th>"Status"</th><th>"Created"</th><th></th></tr></thead><tbody>
                {list.into_iter().map(|c| {
                    let id = s(&c, "certificateId");
                    let status = s(&c, "status");
                    view! { <tr data-cert=id.clone() data-status=status.clone()>
                        <td class="mono"><a href=format!("#/certificates/{id}")>{id.chars().take(20).collect::<String>()}"…"</a></td>
                        <td><span class=format!("badge {status}")>{status.clone()}</span></td>
                        <td>{date(c.get("creationDate").unwrap_or(&Value::Null))}</td>
                        <td><StatusButtons id=id.clone() status=status.clone()/></td>
                    </tr> }
                }).collect_view()}
            </tbody></table> }.into_any()
        })}
        <h2>"CA certificates"</h2>
        {loaded(cas, |v: Value| {
            let list = arr(&v, "certificates");
            if list.is_empty() {
                return view! { <div class="empty">"No CA registered. Devices with certificates from your own CA need it registered (with the registration code) first."</div> }.into_any();
            }
            view! { <table id="cas"><thead><tr><th>"CA certificate id"</th><th>"Status"</th><th>"Created"</th></tr></thead><tbody>
                {list.into_iter().map(|c| {
                    let status = s(&c, "status");
                    view! { <tr><td class="mono">{s(&c, "certificateId")}</td><td><span class=format!("badge {status}")>{status.clone()}</span></td>
                        <td>{date(c.get("creationDate").unwrap_or(&Value::Null))}</td></tr> }
                }).collect_view()}
            </tbody></table> }.into_any()
        })}
        <Templates/>
    }
}

/// Provisioning templates, and a claim bundle for the fleet-provisioning samples in one click.
#[component]
fn Templates() -> impl IntoView {
    let templates = load(|| async { api::get("/provisioning-templates?maxResults=250").await });
    let err = RwSignal::new(None::<ApiError>);
    let made = RwSignal::new(None::<String>);
    view! {
        <h2>"Provisioning templates"</h2>
        <ErrorBox err=err/>
        {move || made.get().map(|t| view! {
            <div class="notice" id="claim-done">"Downloaded a provisioning claim for "{t}". It works for five minutes; its README has the fleet-provisioning sample's command line."</div>
        })}
        {loaded(templates, move |v: Value| {
            let list = arr(&v, "templates");
            if list.is_empty() {
                return view! { <div class="empty">"No provisioning templates. Create one with aws iot create-provisioning-template: devices then provision themselves with a claim certificate (fleet provisioning) or at their first connection (JITP, with a CA registered for auto-registration)."</div> }.into_any();
            }
            view! { <table id="templates"><thead><tr><th>"Template"</th><th>"Type"</th><th>"Enabled"</th><th>"Last changed"</th><th></th></tr></thead><tbody>
                {list.into_iter().map(|t| {
                    let name = s(&t, "templateName");
                    let kind = s(&t, "type");
                    let enabled = t.get("enabled").and_then(Value::as_bool).unwrap_or(false);
                    let for_claim = name.clone();
                    let claim = move |_| {
                        let n = for_claim.clone();
                        leptos::task::spawn_local(async move {
                            let path = format!("/console/api/provisioning-templates/{}/claim-bundle", enc(&n));
                            match api::download("POST", &path, None, &format!("{n}-claim.zip")).await {
                                Ok(_) => {
                                    err.try_set(None);
                                    made.try_set(Some(n));
                                }
                                Err(e) => drop(err.try_set(Some(e))),
                            }
                        });
                    };
                    let fleet = kind == "FLEET_PROVISIONING";
                    view! { <tr data-template=name.clone()>
                        <td class="mono">{name.clone()}</td><td>{kind.clone()}</td><td>{if enabled { "yes" } else { "no" }}</td>
                        <td>{date(t.get("lastModifiedDate").unwrap_or(&Value::Null))}</td>
                        <td>{fleet.then(move || view! { <button class="claim" on:click=claim>"Make a claim certificate"</button> })}</td>
                    </tr> }
                }).collect_view()}
            </tbody></table> }.into_any()
        })}
    }
}

#[component]
fn RegisterCa(open: RwSignal<bool>) -> impl IntoView {
    let code = load(|| async { api::get("/registrationcode").await });
    let ca = RwSignal::new(String::new());
    let verification = RwSignal::new(String::new());
    let err = RwSignal::new(None::<ApiError>);
    let submit = move |_| {
        let body = json!({ "caCertificate": ca.get_untracked(), "verificationCertificate": verification.get_untracked() });
        act(
            err,
            async move { api::call("POST", "/cacertificate?setAsActive=true", Some(body)).await },
            move |_| open.set(false),
        );
    };
    view! {
        <p class="muted">"Prove you own the CA: sign a verification certificate whose common name is the registration code."</p>
        {loaded(code, |v: Value| view! { <p>"Registration code: "<Copy text=s(&v, "registrationCode")/></p> })}
        <label>"CA certificate (PEM)"</label>
        <textarea style="min-height:110px" prop:value=move || ca.get() on:input=move |e| ca.set(event_target_value(&e))></textarea>
        <label>"Verification certificate (PEM)"</label>
        <textarea style="min-height:110px" prop:value=move || verification.get() on:input=move |e| verification.set(event_target_value(&e))></textarea>
        <ErrorBox err=err/>
        <div class="row" style="justify-content:flex-end;margin-top:10px">
            <button on:click=move |_| open.set(false)>"Cancel"</button>
            <button class="primary" on:click=submit>"Register"</button>
        </div>
    }
}

/// One certificate.
#[component]
pub fn CertificateDetail(id: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    provide_context(err);
    let cid = StoredValue::new(id.clone());
    let details = load(move || {
        live.certs.get();
        live.policies.get();
        let url = format!("/console/api/certificates/{}", enc(&cid.get_value()));
        async move { api::get(&url).await }
    });
    let policies = policy_names();
    let attach = RwSignal::new(String::new());
    let policy_op = move |method: &'static str, policy: String| {
        let target =
            details.get_untracked().and_then(Result::ok).map(|d| s(&d, "certificateArn")).unwrap_or_default();
        act(
            err,
            async move {
                api::call(
                    method,
                    &format!("/target-policies/{}", enc(&policy)),
                    Some(json!({ "target": target })),
                )
                .await
            },
            |_| {},
        );
    };
    view! {
        <h1><a href="#/certificates">"Certificates"</a>" / "<span class="mono">{id.chars().take(16).collect::<String>()}"…"</span></h1>
        <ErrorBox err=err/>
        {loaded(details, move |d: Value| {
            let status = s(&d, "status");
            let things = arr(&d, "things");
            let attached = arr(&d, "policies");
            view! {
                <div class="card kv" id="cert-facts">
                    <div>"Status"</div><div><span id="cert-status" class=format!("badge {status}")>{status.clone()}</span>" "<StatusButtons id=s(&d, "certificateId") status=status.clone()/></div>
                    <div>"Certificate id"</div><div><Copy text=s(&d, "certificateId")/></div>
                    <div>"ARN"</div><div><Copy text=s(&d, "certificateArn")/></div>
                    <div>"Subject"</div><div class="mono">{s(&d, "subject")}</div>
                    <div>"Issuer"</div><div class="mono">{s(&d, "issuer")}</div>
                    <div>"Valid from"</div><div>{date(d.get("notBefore").unwrap_or(&Value::Null))}</div>
                    <div>"Valid until"</div><div>{date(d.get("notAfter").unwrap_or(&Value::Null))}</div>
                    <div>"Serial number"</div><div class="mono">{s(&d, "serialNumber")}</div>
                    <div>"SHA-256 fingerprint"</div><div class="mono">{s(&d, "fingerprintSha256")}</div>
                </div>
                <div class="split">
                    <div>
                        <h2>"Things"</h2>
                        {if things.is_empty() { view! { <p class="muted">"Attached to no thing."</p> }.into_any() } else {
                            view! { <ul id="cert-things">{things.into_iter().map(|t| { let t = t.as_str().unwrap_or_default().to_owned(); view! { <li><a href=format!("#/things/{t}")>{t.clone()}</a></li> } }).collect_view()}</ul> }.into_any()
                        }}
                    </div>
                    <div>
                        <h2>"Policies"</h2>
                        {if attached.is_empty() { view! { <p class="muted">"No policy: this certificate may connect to nothing."</p> }.into_any() } else {
                            view! { <ul id="cert-policies">{attached.into_iter().map(|p| {
                                let p = p.as_str().unwrap_or_default().to_owned();
                                let p2 = p.clone();
                                view! { <li><a href=format!("#/policies/{p}")>{p.clone()}</a>" "<button on:click=move |_| policy_op("POST", p2.clone())>"Detach"</button></li> }
                            }).collect_view()}</ul> }.into_any()
                        }}
                        <div class="row">
                            <select id="attach-policy" on:change=move |e| attach.set(event_target_value(&e))>
                                <option value="">"Attach a policy…"</option>
                                {policies.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}
                            </select>
                            <button id="attach-policy-submit" on:click=move |_| { let p = attach.get_untracked(); if !p.is_empty() { policy_op("PUT", p) } }>"Attach"</button>
                        </div>
                    </div>
                </div>
                <h2>"PEM"</h2>
                <pre>{s(&d, "pem")}</pre>
            }
        })}
    }
}
