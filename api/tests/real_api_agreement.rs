//! The real API server (etcd + kube-apiserver from `KUBEBUILDER_ASSETS`, see `tests/envtest`) and
//! the Rust validation must agree on the objects `schema_agreement.rs` gives to a model of the
//! API server: every example is accepted by both, and every invalid object of the table is
//! refused by both, the API server naming the stated field in its causes. An example is also
//! given as the controller would write it (parsed and serialized by the Rust types).
//!
//! A create drops `status` (both kinds have a status subresource), so each object is judged in two
//! writes, both dry runs with `fieldValidation=Strict`: metadata and spec by a create (or, when an
//! object of that name exists, a replace), and status by a replace of the status subresource of a
//! stored object of that name whose status is empty, so nothing of the status is ratcheted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should abort loudly

mod cases;

use cases::{Kind, example, examples, invalid_cases, rust_verdict};
use kube::Resource as _;
use kube::api::{GetParams, PostParams};
use kube::core::Request;
use serde_json::Value;
use update_status_api::v1alpha1::{NodeProgressInsight, UpdateInformer, UpgradeStatus};
use update_status_api::validation;

/// What the API server said of one object.
#[derive(Debug)]
enum Verdict {
    Accepted,
    /// `422 Invalid`: the fields its causes name, and its message.
    Refused {
        fields: Vec<String>,
        message: String,
    },
}

struct Server {
    client: kube::Client,
}

impl Server {
    fn request(kind: Kind) -> Request {
        Request::new(match kind {
            Kind::UpgradeStatus => UpgradeStatus::url_path(&(), None),
            Kind::UpdateInformer => UpdateInformer::url_path(&(), None),
            Kind::NodeProgressInsight => NodeProgressInsight::url_path(&(), None),
        })
    }

    async fn get(&self, kind: Kind, name: &str) -> Option<Value> {
        let req = Self::request(kind)
            .get(name, &GetParams::default())
            .unwrap();
        match self.client.request::<Value>(req).await {
            Ok(v) => Some(v),
            Err(kube::Error::Api(s)) if s.is_not_found() => None,
            Err(e) => panic!("GET {kind:?}/{name}: {e}"),
        }
    }

    /// Sends `req` with strict field validation (an unknown field is refused, not pruned) and
    /// turns the answer into a verdict; anything but success or `422 Invalid` fails the test.
    async fn send(&self, mut req: http::Request<Vec<u8>>, what: &str) -> Verdict {
        let uri = req.uri().to_string();
        let sep = if uri.ends_with('?') { "" } else { "&" };
        *req.uri_mut() = format!("{uri}{sep}fieldValidation=Strict").parse().unwrap();
        match self.client.request::<Value>(req).await {
            Ok(_) => Verdict::Accepted,
            Err(kube::Error::Api(s)) if s.is_invalid() => Verdict::Refused {
                fields: s
                    .details
                    .iter()
                    .flat_map(|d| d.causes.iter().map(|c| c.field.clone()))
                    .collect(),
                message: s.message.clone(),
            },
            Err(e) => panic!("{what}: not a validation verdict: {e:?}"),
        }
    }

    /// The API server's verdict on `obj`: metadata and spec, then (when they pass) status.
    async fn verdict(&self, kind: Kind, obj: &Value, what: &str) -> Verdict {
        let name = obj["metadata"]["name"].as_str().unwrap();
        let dry_run = PostParams {
            dry_run: true,
            field_manager: None,
        };
        let body = serde_json::to_vec(obj).unwrap();
        let main = match self.get(kind, name).await {
            None => Self::request(kind).create(&dry_run, body).unwrap(),
            Some(live) => {
                let mut obj = obj.clone();
                obj["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
                Self::request(kind)
                    .replace(name, &dry_run, serde_json::to_vec(&obj).unwrap())
                    .unwrap()
            }
        };
        let main = self.send(main, what).await;
        let Some(status) = obj.get("status") else {
            return main;
        };
        if let Verdict::Refused { .. } = main {
            return main;
        }
        // The status subresource needs a stored object; store this one (its status dropped).
        let live = match self.get(kind, name).await {
            Some(live) => live,
            None => {
                let req = Self::request(kind)
                    .create(&PostParams::default(), serde_json::to_vec(obj).unwrap())
                    .unwrap();
                match self.send(req, what).await {
                    Verdict::Accepted => self.get(kind, name).await.unwrap(),
                    refused => panic!("{what}: dry run accepted, create refused: {refused:?}"),
                }
            }
        };
        assert!(
            live.get("status")
                .is_none_or(|s| s == &serde_json::json!({})),
            "{what}: the stored {kind:?}/{name} has a status, which would ratchet: {live}"
        );
        let mut with_status = live;
        with_status["status"] = status.clone();
        let req = Self::request(kind)
            .replace_subresource(
                "status",
                name,
                &dry_run,
                serde_json::to_vec(&with_status).unwrap(),
            )
            .unwrap();
        self.send(req, what).await
    }
}

/// `obj` parsed by the Rust validation and serialized again, when it accepts it.
fn rust_written(kind: Kind, obj: &Value) -> Option<Value> {
    match kind {
        Kind::UpgradeStatus => validation::upgrade_status_from_value(obj.clone())
            .ok()
            .map(|o| serde_json::to_value(o).unwrap()),
        Kind::UpdateInformer => validation::update_informer_from_value(obj.clone())
            .ok()
            .map(|o| serde_json::to_value(o).unwrap()),
        Kind::NodeProgressInsight => validation::node_progress_insight_from_value(obj.clone())
            .ok()
            .map(|o| serde_json::to_value(o).unwrap()),
    }
}

fn install_crds(cp: &envtest::ControlPlane) {
    for kind in [
        Kind::UpgradeStatus,
        Kind::UpdateInformer,
        Kind::NodeProgressInsight,
    ] {
        let crd = kind.crd();
        if let Err(e) = cp.apply(&serde_json::to_string(&crd).unwrap()) {
            panic!("the real API server refuses the CRD of {kind:?}: {e}");
        }
        let name = format!("crd/{}", crd.metadata.name.unwrap());
        cp.kubectl_run(&[
            "wait",
            "--for=condition=Established",
            &name,
            "--timeout=60s",
        ])
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_api_server_and_the_rust_validation_agree() {
    let Some(cp) = envtest::shared() else { return };
    install_crds(cp);
    let server = Server {
        client: cp.client().await.unwrap(),
    };
    let mut disagreements = Vec::new();
    let mut checked = 0;

    for (file, kind, obj) in examples() {
        checked += 1;
        let rust = rust_verdict(kind, &obj);
        if !rust.is_empty() {
            disagreements.push(format!("{file}: the Rust validation refuses it: {rust:?}"));
        }
        if let Verdict::Refused { message, .. } = server.verdict(kind, &obj, &file).await {
            disagreements.push(format!("{file}: the API server refuses it: {message}"));
        }
        // What the controller writes is not the input but its own serialization of what it
        // parsed (times normalized to UTC, for one): the API server must accept that too.
        if let Some(written) = rust_written(kind, &obj) {
            checked += 1;
            let what = format!("{file} as the controller writes it");
            if let Verdict::Refused { message, .. } = server.verdict(kind, &written, &what).await {
                disagreements.push(format!("{what}: the API server refuses it: {message}"));
            }
        }
    }

    let cases = invalid_cases();
    assert!(cases.len() >= 25);
    for c in &cases {
        checked += 1;
        let mut obj = example(c.base);
        (c.edit)(&mut obj);
        assert_eq!(Kind::of(&obj), c.kind, "{}", c.what);
        let rust = rust_verdict(c.kind, &obj);
        if rust.is_empty() {
            disagreements.push(format!(
                "{}: the API server refuses it, the Rust validation accepts it",
                c.what
            ));
        }
        match server.verdict(c.kind, &obj, c.what).await {
            Verdict::Accepted => disagreements.push(format!(
                "{}: the API server accepts it, the Rust validation refuses it: {rust:?}",
                c.what
            )),
            Verdict::Refused { fields, message } => {
                if !fields.iter().any(|f| f.starts_with(c.field)) {
                    disagreements.push(format!(
                        "{}: the API server does not name {}: {fields:?}: {message}",
                        c.what, c.field
                    ));
                }
                eprintln!("{}: refused: {message}", c.what);
            }
        }
    }

    eprintln!(
        "{checked} objects judged by the real API server: {} invalid, the rest examples",
        cases.len()
    );
    assert!(
        disagreements.is_empty(),
        "the real API server and the Rust validation disagree:\n{}",
        disagreements.join("\n")
    );
}
