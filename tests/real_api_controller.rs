//! The controller against a real kube-apiserver, as it runs in a cluster: its own process, a
//! TokenRequest token of its own service account, only the RBAC that `manifests/` ships.
//! Producers authenticate with real TokenRequest tokens, judged by the real TokenReview and the
//! real issuer keys. The tests share one control plane and take turns (one UpgradeStatus, one
//! Lease).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_thanos.rs"]
mod fake_thanos;
#[path = "support/real_cluster.rs"]
mod real_cluster;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use envtest::ControlPlane;
use real_cluster::{
    AUDIENCE, Controller, NAMESPACE, condition, event_with_reason, every_node_published,
    node_insights, node_objects, not_owned_by_the_singleton, published, report_saying,
    summaries_from, upgrade_status, versions,
};

const STORAGE: &str = "example-storage-operator";

/// The shared control plane, set up once.
fn cluster() -> Option<&'static ControlPlane> {
    static SET_UP: OnceLock<()> = OnceLock::new();
    let cp = envtest::shared()?;
    SET_UP.get_or_init(|| real_cluster::set_up(cp));
    Some(cp)
}

/// One test at a time: they share the singleton and the Lease.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Available, and with no Node insight: those are NodeProgressInsights of their own.
fn published_available(status: &serde_json::Value) -> bool {
    node_insights(status) == 0
        && condition(status, "Available").is_some_and(|c| c["status"] == "True")
}

/// The status of each node object, without `acquiredAt` and the conditions' transition times
/// (when this controller, or the offline one, first saw it).
fn node_contents(
    objects: &std::collections::BTreeMap<String, serde_json::Value>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    objects
        .iter()
        .map(|(name, o)| {
            let mut status = o["status"].clone();
            status.as_object_mut().unwrap().remove("acquiredAt");
            for c in status["conditions"].as_array_mut().into_iter().flatten() {
                c.as_object_mut().unwrap().remove("lastTransitionTime");
            }
            (name.clone(), status)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_its_own_service_account_it_publishes_leads_and_writes_informer_status_without_a_403()
{
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let controller = Controller::start(cp, "rbac", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    published(cp, Duration::from_secs(10), published_available).await;
    let objects = every_node_published(cp, Duration::from_secs(10)).await;
    assert_eq!(
        node_contents(&objects),
        node_contents(&offline_nodes()),
        "the same node insights as offline mode makes of the same files"
    );
    assert_eq!(
        not_owned_by_the_singleton(cp, &objects),
        Vec::<String>::new(),
        "node objects go away with UpgradeStatus/cluster"
    );

    // It holds the Lease.
    let holder = cp
        .kubectl_run(&[
            "get",
            "lease",
            "update-status-controller",
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .unwrap();
    assert!(holder.starts_with("rbac"), "Lease holder: {holder:?}");

    // A producer's report reaches the object and the UpdateInformer's status.
    let token = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let answer = controller
        .report(STORAGE, &token, report_saying("volumes detach slowly"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    published(cp, Duration::from_secs(10), |s| {
        summaries_from(s, STORAGE) == ["volumes detach slowly"]
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reporting = cp
            .kubectl_run(&[
                "get",
                "updateinformer",
                STORAGE,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Reporting\")].status}",
            ])
            .unwrap();
        if reporting == "True" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "UpdateInformer status not written: {reporting:?}\n{}",
            controller.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let log = controller.log();
    assert!(
        log.contains("service-account issuer keys loaded"),
        "the JWT pre-check is not active:\n{log}"
    );
    // A refusal by RBAC reads "forbidden" in every API error; a bare "403" would also match
    // timestamps and hashes (it did: 00:35:46.040328).
    for word in ["forbidden", "Forbidden", "code: 403", "code=403"] {
        assert!(!log.contains(word), "{word} in the log:\n{log}");
    }
    controller.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_tokens_are_judged_by_the_real_token_review() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    cp.apply(
        "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
         metadata: {name: switched-off}\n\
         spec: {reporting: Disabled, producers: [{serviceAccount: {namespace: example-storage, name: storage-operator}}], \
         allowedInsightTypes: [Health]}\n",
    )
    .unwrap();
    cp.service_account("example-storage", "short-lived")
        .unwrap();
    cp.apply(
        "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
         metadata: {name: short-lived}\n\
         spec: {reporting: Enabled, producers: [{serviceAccount: {namespace: example-storage, name: short-lived}}], \
         allowedInsightTypes: [Health]}\n",
    )
    .unwrap();
    let controller = Controller::start(cp, "tokens", &["--token-cache-ttl=1s"]);
    controller.wait_ready(Duration::from_secs(30)).await;
    let body = || report_saying("checked by TokenReview");
    let token =
        |name: &str, audience: Option<&str>| cp.token("example-storage", name, audience).unwrap();

    let ours = token("storage-operator", Some(AUDIENCE));
    let answer = controller.report(STORAGE, &ours, body()).await;
    assert_eq!(answer.status, 200, "our audience: {}", answer.body);

    let api = token("storage-operator", None);
    let answer = controller.report(STORAGE, &api, body()).await;
    assert_eq!(
        answer.status, 401,
        "the API server's audience: {}",
        answer.body
    );

    let elsewhere = token("storage-operator", Some("https://vault.example.com"));
    let answer = controller.report(STORAGE, &elsewhere, body()).await;
    assert_eq!(answer.status, 401, "another audience: {}", answer.body);

    let garbage = format!("{}x", &ours[..ours.len() - 1]);
    let answer = controller.report(STORAGE, &garbage, body()).await;
    assert_eq!(answer.status, 401, "a forged signature: {}", answer.body);

    let unlisted = token("someone-else", Some(AUDIENCE));
    let answer = controller.report(STORAGE, &unlisted, body()).await;
    assert_eq!(answer.status, 403, "an unlisted account: {}", answer.body);

    let answer = controller.report("switched-off", &ours, body()).await;
    assert_eq!(answer.status, 403, "a disabled informer: {}", answer.body);

    // A deleted service account's token: accepted while the cached review lasts, refused after.
    let doomed = token("short-lived", Some(AUDIENCE));
    let answer = controller.report("short-lived", &doomed, body()).await;
    assert_eq!(answer.status, 200, "before deletion: {}", answer.body);
    cp.kubectl_run(&[
        "delete",
        "serviceaccount",
        "short-lived",
        "-n",
        "example-storage",
    ])
    .unwrap();
    // Our cache lasts 1 s here; the API server caches a successful token authentication for
    // 10 s of its own (kube-apiserver's token cache), so TokenReview says yes until then.
    let deleted = Instant::now();
    loop {
        let answer = controller.report("short-lived", &doomed, body()).await;
        if answer.status == 401 {
            break;
        }
        assert_eq!(answer.status, 200, "after deletion: {}", answer.body);
        assert!(
            deleted.elapsed() < Duration::from_secs(20),
            "a deleted account's token still accepted after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "deleted account's token refused after {:?}",
        deleted.elapsed()
    );

    let log = controller.log();
    assert!(
        log.contains("service-account issuer keys loaded"),
        "the JWT pre-check is not active:\n{log}"
    );
    controller.stop();
    cp.kubectl_run(&["delete", "updateinformer", "switched-off", "short-lived"])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_binding_is_a_clear_error_and_a_degraded_condition() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    // A new informer: its first status write is due as soon as it reports.
    cp.apply(
        "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
         metadata: {name: binding-check}\n\
         spec: {reporting: Enabled, producers: [{serviceAccount: {namespace: example-storage, name: storage-operator}}], \
         allowedInsightTypes: [Health]}\n",
    )
    .unwrap();
    let controller = Controller::start(cp, "unbound", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    published(cp, Duration::from_secs(10), published_available).await;
    let rebind = Rebind(cp);
    cp.kubectl_run(&[
        "delete",
        "clusterrolebinding",
        "update-status-controller-informer-registry",
    ])
    .unwrap();
    let token = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let answer = controller
        .report(
            "binding-check",
            &token,
            report_saying("a status write is due"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let status = published(cp, Duration::from_secs(15), |s| {
        condition(s, "Degraded").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let degraded = condition(&status, "Degraded").unwrap();
    assert_eq!(
        degraded["reason"], "InformerStatusNotWritable",
        "{degraded}"
    );
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.contains("binding-check") && message.contains("forbidden"),
        "{message}"
    );
    assert!(
        controller
            .log()
            .contains("cannot write the UpdateInformer status"),
        "no clear error in the log"
    );
    // Also an Event, which `kubectl describe upgradestatus cluster` shows.
    let limit = Duration::from_secs(10);
    let cluster = ("UpgradeStatus", "cluster");
    let event =
        event_with_reason(cp, cluster, "Degraded", "InformerStatusNotWritable", limit).await;
    assert_eq!(event.type_, "Warning");
    // The binding back: the next write succeeds and Degraded clears.
    drop(rebind);
    published(cp, Duration::from_secs(15), |s| {
        condition(s, "Degraded").is_some_and(|c| c["status"] == "False")
    })
    .await;
    let event =
        event_with_reason(cp, cluster, "Recovered", "InformerStatusNotWritable", limit).await;
    assert_eq!(event.type_, "Normal");
    let described = cp
        .kubectl_run(&["describe", "upgradestatus", "cluster"])
        .unwrap();
    assert!(
        described.contains("Degraded") && described.contains("Recovered"),
        "{described}"
    );
    controller.stop();
    cp.kubectl_run(&["delete", "updateinformer", "binding-check"])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_update_informer_gets_a_status_that_is_not_rewritten_while_nothing_changes() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    cp.apply(
        "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
         metadata: {name: never-reports}\n\
         spec: {reporting: Enabled, producers: [{serviceAccount: {namespace: example-storage, name: storage-operator}}], \
         allowedInsightTypes: [Health]}\n",
    )
    .unwrap();
    let controller = Controller::start(cp, "statuses", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    let get = |path: &str| {
        cp.kubectl_run(&[
            "get",
            "updateinformer",
            "never-reports",
            "-o",
            &format!("jsonpath={path}"),
        ])
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while get("{.status.conditions[?(@.type==\"Reporting\")].reason}") != "NeverReported" {
        assert!(Instant::now() < deadline, "no status within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        get("{.status.conditions[?(@.type==\"Reporting\")].status}"),
        "False"
    );
    let managers = get("{.metadata.managedFields[*].manager}");
    assert!(managers.contains("update-status-controller"), "{managers}");
    // Several publish intervals later nothing was rewritten: the same resourceVersion.
    let version = get("{.metadata.resourceVersion}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(get("{.metadata.resourceVersion}"), version);
    controller.stop();
    cp.kubectl_run(&["delete", "updateinformer", "never-reports"])
        .unwrap();
}

/// Attack (issue 16, finding 3): deleting or disabling an UpdateInformer removes its insights
/// within a publish interval, and an informer that only the object names — one anyone able to
/// write the status could add, claiming to be built in — is not re-published after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_disabled_informer_takes_its_insights_with_it_and_a_forged_one_never_returns()
{
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    for name in ["revoked", "turned-off"] {
        cp.apply(&format!(
            "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
             metadata: {{name: {name}}}\n\
             spec: {{reporting: Enabled, producers: [{{serviceAccount: {{namespace: example-storage, name: storage-operator}}}}], \
             allowedInsightTypes: [Health]}}\n"
        ))
        .unwrap();
    }
    let controller = Controller::start(cp, "revocation", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    let token = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let informers = ["revoked", "turned-off", STORAGE];
    for name in informers {
        let answer = controller
            .report(name, &token, report_saying(&format!("said by {name}")))
            .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    }
    published(cp, Duration::from_secs(10), |s| {
        informers.iter().all(|n| !summaries_from(s, n).is_empty())
    })
    .await;

    cp.kubectl_run(&["delete", "updateinformer", "revoked"])
        .unwrap();
    cp.kubectl_run(&[
        "patch",
        "updateinformer",
        "turned-off",
        "--type=merge",
        "-p",
        r#"{"spec":{"reporting":"Disabled"}}"#,
    ])
    .unwrap();
    let changed = Instant::now();
    let status = published(cp, Duration::from_secs(10), |s| {
        summaries_from(s, "revoked").is_empty() && summaries_from(s, "turned-off").is_empty()
    })
    .await;
    let revoked_in = changed.elapsed();
    println!("insights of a deleted and a disabled informer gone after {revoked_in:?}");
    assert!(
        revoked_in < Duration::from_secs(3),
        "revoked after {revoked_in:?}: more than the publish interval (1 s) and the watch"
    );
    assert_eq!(
        summaries_from(&status, STORAGE),
        [format!("said by {STORAGE}")]
    );
    let summary = |s: &serde_json::Value, name: &str| {
        s["informers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["name"] == name)
            .cloned()
    };
    assert_eq!(summary(&status, "revoked"), None);
    assert_eq!(summary(&status, "turned-off").unwrap()["state"], "Disabled");
    controller.stop();

    // Someone able to write the status adds an informer, `ghost`, claiming to be built in,
    // with a copy of the storage operator's insights in every scope.
    let mut object = upgrade_status(cp).unwrap();
    let status = &mut object["status"];
    let mut ghost = summary(status, STORAGE).unwrap();
    ghost["name"] = "ghost".into();
    ghost["source"] = "BuiltIn".into();
    status["informers"].as_array_mut().unwrap().push(ghost);
    for pool in status["workerPools"].as_array_mut().unwrap() {
        let groups = pool["informers"].as_array_mut().unwrap();
        if let Some(mut group) = groups.iter().find(|g| g["name"] == STORAGE).cloned() {
            group["name"] = "ghost".into();
            groups.push(group);
        }
    }
    // What a writer of the status subresource can do, as another field manager.
    let forge = |object: &serde_json::Value| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), object.to_string()).unwrap();
        cp.kubectl_run(&[
            "replace",
            "--subresource=status",
            "-f",
            &file.path().to_string_lossy(),
        ])
        .unwrap();
    };
    forge(&object);
    let forged = upgrade_status(cp).unwrap();
    assert_eq!(
        summaries_from(&forged["status"], "ghost"),
        [format!("said by {STORAGE}")],
        "the forged object was not stored"
    );

    let controller = Controller::start(cp, "revocation-restart", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = upgrade_status(cp).unwrap()["status"].clone();
        if summaries_from(&status, "ghost").is_empty() && summary(&status, "ghost").is_none() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the forged informer is still published after 10 s: {}\n{}",
            status["informers"],
            controller.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        summaries_from(&status, STORAGE),
        [format!("said by {STORAGE}")],
        "a registered informer's insights came back after the restart: {}\n{}",
        status["informers"],
        controller.log_tail()
    );

    // While the controller leads, the forged informer is removed at its next publish.
    let mut object = upgrade_status(cp).unwrap();
    let mut ghost = summary(&object["status"], STORAGE).unwrap();
    ghost["name"] = "ghost".into();
    object["status"]["informers"]
        .as_array_mut()
        .unwrap()
        .push(ghost);
    forge(&object);
    assert!(summary(&upgrade_status(cp).unwrap()["status"], "ghost").is_some());
    let answer = controller
        .report(STORAGE, &token, report_saying("said again"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let status = published(cp, Duration::from_secs(10), |s| {
        summaries_from(s, STORAGE) == ["said again"]
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut status = status;
    while summary(&status, "ghost").is_some() {
        assert!(
            Instant::now() < deadline,
            "a summary forged while the controller leads outlived its next publish: {}\n{}",
            status["informers"],
            controller.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = upgrade_status(cp).unwrap()["status"].clone();
    }
    controller.stop();
    cp.kubectl_run(&["delete", "updateinformer", "turned-off"])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_subject_access_review_a_listed_producer_also_needs_rbac() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    cp.service_account("example-storage", "sar-producer")
        .unwrap();
    cp.apply(
        "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
         metadata: {name: sar-checked}\n\
         spec: {reporting: Enabled, producers: [{serviceAccount: {namespace: example-storage, name: sar-producer}}], \
         allowedInsightTypes: [Health]}\n",
    )
    .unwrap();
    let token = cp
        .token("example-storage", "sar-producer", Some(AUDIENCE))
        .unwrap();
    let body = || report_saying("allowed by RBAC too");

    // Listed in the UpdateInformer, but RBAC does not allow it: 403, naming the check.
    let controller = Controller::start(cp, "sar", &["--subject-access-review"]);
    controller.wait_ready(Duration::from_secs(30)).await;
    let answer = controller.report("sar-checked", &token, body()).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer.body.contains("SubjectAccessReview"),
        "{}",
        answer.body
    );

    // RBAC allows `update` on `updateinformers/insights` for this informer's name: 200.
    cp.apply(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n\
         metadata: {name: sar-checked-producer}\n\
         rules: [{apiGroups: [update.openshift.io], resources: [updateinformers/insights], \
         resourceNames: [sar-checked], verbs: [update]}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n\
         metadata: {name: sar-checked-producer}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: sar-checked-producer}\n\
         subjects: [{kind: ServiceAccount, namespace: example-storage, name: sar-producer}]\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = controller.report("sar-checked", &token, body()).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert!(
            Instant::now() < deadline,
            "still refused 15 s after the grant"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    controller.stop();
    cp.kubectl_run(&["delete", "updateinformer", "sar-checked"])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_come_from_thanos_and_a_failing_thanos_degrades_without_losing_the_rest() {
    use fake_thanos::{FakeThanos, THANOS_TOKEN};
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let thanos = FakeThanos::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{THANOS_TOKEN}\n")).unwrap();
    let controller = Controller::start(
        cp,
        "alerts",
        &[
            &format!("--alerts-url={}", thanos.url),
            &format!(
                "--alerts-ca-file={}",
                real_cluster::repo("certs-dev/ca.crt").display()
            ),
            &format!("--alerts-token-file={}", token_file.display()),
            "--alerts-interval=100ms",
        ],
    );
    controller.wait_ready(Duration::from_secs(30)).await;
    let alerts = |s: &serde_json::Value| {
        let mut uids: Vec<String> = real_cluster::insights(s)
            .into_iter()
            .filter(|(name, _)| name == "alerts")
            .map(|(_, i)| i["uid"].as_str().unwrap().to_owned())
            .collect();
        uids.sort();
        uids
    };
    let degraded = |s: &serde_json::Value, want: &str| {
        condition(s, "Degraded").is_some_and(|c| c["status"] == want)
    };

    // The same alerts as offline mode reads from alerts.json, and Degraded=False.
    let status = published(cp, Duration::from_secs(10), |s| {
        !alerts(s).is_empty() && degraded(s, "False")
    })
    .await;
    assert_eq!(alerts(&status), alerts(&offline_snapshot()));
    let nodes = every_node_published(cp, Duration::from_secs(10)).await;

    // Thanos fails: Degraded=True names it; the alerts last read and everything else stay.
    thanos.fail(true);
    let failed = published(cp, Duration::from_secs(10), |s| degraded(s, "True")).await;
    let c = condition(&failed, "Degraded").unwrap();
    assert_eq!(c["reason"], "AlertsUnavailable");
    assert!(c["message"].as_str().unwrap().contains("HTTP 500"), "{c}");
    assert_eq!(alerts(&failed), alerts(&status));
    assert_eq!(
        versions(&node_objects(cp)),
        versions(&nodes),
        "the node objects are left alone"
    );

    // A rotated token is read from the file on the next request; Thanos recovers.
    std::fs::write(&token_file, "rotated-but-wrong").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        thanos.seen.lock().unwrap().1 > 0,
        "the token file is re-read"
    );
    std::fs::write(&token_file, THANOS_TOKEN).unwrap();
    thanos.fail(false);
    published(cp, Duration::from_secs(10), |s| degraded(s, "False")).await;
    assert!(thanos.seen.lock().unwrap().0 >= 3);
    thanos.shutdown.cancel();
    controller.stop();
}

/// Puts the shipped bindings back when dropped, so a failing test leaves the RBAC as it found it.
struct Rebind(&'static ControlPlane);

impl Drop for Rebind {
    fn drop(&mut self) {
        let manifests = std::fs::read_to_string(real_cluster::repo(
            "manifests/0000_00_update-status-controller_04_clusterrolebindings.yaml",
        ))
        .unwrap();
        self.0.apply(&manifests).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_leader_handovers_never_leave_the_object_emptier() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let token = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let a = Controller::start(cp, "leader-a", &[]);
    a.wait_ready(Duration::from_secs(30)).await;
    let answer = a
        .report(STORAGE, &token, report_saying("kept across leaders"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    published(cp, Duration::from_secs(10), |s| {
        published_available(s) && summaries_from(s, STORAGE) == ["kept across leaders"]
    })
    .await;
    let before = every_node_published(cp, Duration::from_secs(10)).await;
    let nodes = before.len();

    // A second instance follows; the first stops; the second leads and the object never loses
    // a node or the pushed insight on the way.
    let b = Controller::start(cp, "leader-b", &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!b.ready().await, "two leaders");
    let watch = tokio::spawn(watch_never_emptier(cp, nodes, Duration::from_secs(8)));
    a.stop();
    let stopped = Instant::now();
    b.wait_ready(Duration::from_secs(5)).await;
    println!("takeover after SIGTERM: {:?}", stopped.elapsed());

    // The new leader publishes what changes: a node goes degraded.
    let changed = Instant::now();
    cp.kubectl_run(&[
        "annotate",
        "node",
        "--all",
        "--overwrite",
        "example.com/touched=yes",
    ])
    .unwrap();
    let node = cp
        .kubectl_run(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"])
        .unwrap();
    let state = cp
        .kubectl_run(&[
            "get",
            "node",
            &node,
            "-o",
            "jsonpath={.metadata.annotations.machineconfiguration\\.openshift\\.io/state}",
        ])
        .unwrap();
    cp.kubectl_run(&[
        "annotate",
        "node",
        &node,
        "--overwrite",
        "machineconfiguration.openshift.io/state=Degraded",
    ])
    .unwrap();
    let was = before[&node]["status"].clone();
    real_cluster::published_nodes(cp, Duration::from_secs(10), |objects| {
        objects.get(&node).is_some_and(|o| o["status"] != was)
    })
    .await;
    println!(
        "node change → published (39 nodes): {:?}",
        changed.elapsed()
    );
    let status = upgrade_status(cp).unwrap();
    assert_eq!(
        summaries_from(&status["status"], STORAGE),
        ["kept across leaders"]
    );
    watch.await.unwrap();

    // A restart of the only instance starts from the published objects.
    b.stop();
    let c = Controller::start(cp, "restarted", &[]);
    let watch = tokio::spawn(watch_never_emptier(cp, nodes, Duration::from_secs(5)));
    c.wait_ready(Duration::from_secs(30)).await;
    watch.await.unwrap();
    let after = upgrade_status(cp).unwrap();
    assert_eq!(
        summaries_from(&after["status"], STORAGE),
        ["kept across leaders"],
        "the pushed insight was lost on restart"
    );
    c.stop();
    // The node as it was, for the tests that compare with offline mode.
    cp.kubectl_run(&[
        "annotate",
        "node",
        &node,
        "--overwrite",
        &format!("machineconfiguration.openshift.io/state={state}"),
    ])
    .unwrap();
}

/// After a restart the built-in machine-config informer reports every node anew (fresh
/// condition times) before the store resumes from the published objects; the store keeps the
/// published times of what did not change, so no NodeProgressInsight is rewritten (before that
/// fix: 39 writes here, 10,000 in a 10,000-node cluster).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rewrites_no_node_object_that_did_not_change() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let a = Controller::start(cp, "before-restart", &[]);
    a.wait_ready(Duration::from_secs(30)).await;
    every_node_published(cp, Duration::from_secs(10)).await;
    // Settled: several publish intervals with nothing to write.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = node_objects(cp);
    a.stop();
    let b = Controller::start(cp, "after-restart", &[]);
    b.wait_ready(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let now = node_objects(cp);
    b.stop();
    let rewritten: Vec<&String> = settled
        .keys()
        .filter(|name| {
            now[*name]["metadata"]["resourceVersion"]
                != settled[*name]["metadata"]["resourceVersion"]
        })
        .collect();
    assert!(
        rewritten.is_empty(),
        "a restart rewrote {} of {} unchanged node objects; the first before: {}\nafter: {}",
        rewritten.len(),
        settled.len(),
        rewritten
            .first()
            .map(|n| settled[*n]["status"].to_string())
            .unwrap_or_default(),
        rewritten
            .first()
            .map(|n| now[*n]["status"].to_string())
            .unwrap_or_default(),
    );
}

/// What `snapshot` makes of the sample cluster's files offline: a `List`, the UpgradeStatus
/// first, then one NodeProgressInsight per node.
fn offline_list() -> serde_json::Value {
    let out = envtest::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
            .args(["snapshot", "-o", "json"])
            .arg(real_cluster::repo("samples/cluster")),
        None,
    )
    .unwrap();
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "UpgradeStatus");
    list
}

/// The offline UpgradeStatus's status.
fn offline_snapshot() -> serde_json::Value {
    offline_list()["items"][0]["status"].clone()
}

/// The offline NodeProgressInsights, by name.
fn offline_nodes() -> std::collections::BTreeMap<String, serde_json::Value> {
    offline_list()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "NodeProgressInsight")
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_owned(),
                o.clone(),
            )
        })
        .collect()
}

/// Polls the stored objects for `period`: there must always be at least `nodes` node objects,
/// each with a status, and an UpgradeStatus.
async fn watch_never_emptier(cp: &'static ControlPlane, nodes: usize, period: Duration) {
    let end = Instant::now() + period;
    let mut samples = 0;
    while Instant::now() < end {
        assert!(upgrade_status(cp).is_some(), "the UpgradeStatus went away");
        let held = node_objects(cp)
            .values()
            .filter(|o| o["status"].is_object())
            .count();
        assert!(
            held >= nodes,
            "the node objects fell to {held} from {nodes}"
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(samples > 5, "only {samples} samples");
}

/// SECURITY.md S4 on the real TokenReview: a token bound to a pod stops working once the pod is
/// deleted, and any token of a service account once the account is deleted, within the token
/// cache's 10 s: the controller's local signature check alone would accept both until `exp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_deleted_pod_or_service_account_are_refused_within_the_cache_ttl() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let (namespace, account) = ("example-storage", "short-lived");
    cp.service_account(namespace, account).unwrap();
    cp.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: producer-pod, namespace: {namespace}}}\n\
         spec: {{serviceAccountName: {account}, automountServiceAccountToken: false, \
         containers: [{{name: p, image: registry.invalid/producer}}]}}\n\
         ---\n\
         apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
         metadata: {{name: short-lived}}\n\
         spec: {{reporting: Enabled, producers: [{{serviceAccount: {{namespace: {namespace}, name: {account}}}}}], \
         allowedInsightTypes: [Health]}}\n"
    ))
    .unwrap();
    let token = |bound: &[&str]| {
        let audience = format!("--audience={AUDIENCE}");
        let mut args = vec![
            "create",
            "token",
            account,
            "-n",
            namespace,
            "--duration=1h",
            &audience,
        ];
        args.extend_from_slice(bound);
        cp.kubectl_run(&args).unwrap().trim().to_owned()
    };
    let pod_token = token(&[
        "--bound-object-kind=Pod",
        "--bound-object-name=producer-pod",
    ]);
    let account_token = token(&[]);
    let controller = Controller::start(cp, "token-revocation", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;

    // Both work, and are cached (the second report of each costs no TokenReview).
    for t in [&pod_token, &account_token] {
        for _ in 0..2 {
            let answer = controller
                .report("short-lived", t, report_saying("still here"))
                .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
    }
    // Refused within the cache's lifetime after what it is bound to goes; a report refused
    // for its rate (429) says nothing either way and is retried.
    let refused_within = |token: String| {
        let controller = &controller;
        async move {
            let gone = Instant::now();
            loop {
                let answer = controller
                    .report("short-lived", &token, report_saying("still here"))
                    .await;
                match answer.status {
                    401 => return gone.elapsed(),
                    200 | 429 => {}
                    other => panic!("{other}: {}", answer.body),
                }
                assert!(
                    gone.elapsed() < Duration::from_secs(15),
                    "still accepted {:?} after its pod or account was deleted",
                    gone.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    cp.kubectl_run(&[
        "delete",
        "pod",
        "producer-pod",
        "-n",
        namespace,
        "--grace-period=0",
        "--force",
    ])
    .unwrap();
    let pod = refused_within(pod_token).await;
    cp.kubectl_run(&["delete", "serviceaccount", account, "-n", namespace])
        .unwrap();
    let account = refused_within(account_token).await;
    println!("refused {pod:?} after the pod's deletion, {account:?} after the account's");
    assert!(pod <= Duration::from_secs(11) && account <= Duration::from_secs(11));
    controller.stop();
    cp.kubectl_run(&["delete", "updateinformer", "short-lived"])
        .unwrap();
}

/// Finding 10: the platform Prometheus scrapes `/metrics` with its own service-account token
/// (the API server's audience), as it scrapes every OpenShift component, and RBAC decides
/// (SubjectAccessReview `get /metrics`); a token of that audience opens nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_prometheus_scrapes_metrics_with_its_own_token_and_rbac_decides() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let controller = Controller::start(cp, "scrape", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;

    let prometheus = cp
        .token("openshift-monitoring", "prometheus-k8s", None)
        .unwrap();
    for _ in 0..3 {
        let answer = controller.get("/metrics", &prometheus).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            answer
                .body
                .contains("update_status_controller_publications"),
            "{}",
            answer.body
        );
    }
    // What the shipped alerts select: this replica leads, and the registered informer is in
    // exactly one state (which one depends on what earlier tests had it report).
    let answer = controller.get("/metrics", &prometheus).await;
    let scraped = &answer.body;
    assert!(
        scraped.contains("update_status_controller_leader 1"),
        "{scraped}"
    );
    let prefix = format!("update_status_controller_informer_state{{informer=\"{STORAGE}\"");
    let states: Vec<&str> = scraped.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(states.len(), 4, "{scraped}");
    assert_eq!(
        states.iter().filter(|l| l.ends_with(" 1")).count(),
        1,
        "{states:?}"
    );
    assert!(
        scraped.contains("update_status_controller_omitted_insights 0"),
        "{scraped}"
    );
    // Authenticated by the API server, but without the role: 403.
    let someone = cp.token("example-storage", "someone-else", None).unwrap();
    let answer = controller.get("/metrics", &someone).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    // The API server's audience is good for /metrics only.
    let answer = controller
        .report(STORAGE, &prometheus, report_saying("not a producer"))
        .await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    let answer = controller
        .get(
            &format!("/v1alpha1/informers/{STORAGE}/insights"),
            &prometheus,
        )
        .await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    // A token nobody issued is refused, on /metrics too.
    let answer = controller.get("/metrics", "not-a-token").await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    controller.stop();
}

/// Issue 17: `status --watch` renders the live object again on every change, from a watch of
/// the UpgradeStatus and its node objects: a producer's report shows on the screen within
/// seconds, each render after a clear-screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_renders_again_when_the_published_object_changes() {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    use update_status_controller::commands::status_watch::CLEAR_SCREEN;

    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let controller = Controller::start(cp, "watch", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    published(cp, Duration::from_secs(10), published_available).await;

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
        .args(["status", "--watch", "--details=all", "--kubeconfig"])
        .arg(cp.kubeconfig())
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&screen);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = stdout.read(&mut chunk) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    let wait_for = |what: &str, after: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = screen.lock().unwrap().clone();
            let renders: Vec<&str> = text.split(CLEAR_SCREEN).skip(1).collect();
            if renders.len() > after && renders.last().is_some_and(|r| r.contains(what)) {
                return renders.len();
            }
            assert!(
                Instant::now() < deadline,
                "no render with {what:?} after 20 s; {} renders, the last:\n{}",
                renders.len(),
                renders.last().unwrap_or(&"")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let first = tokio::task::block_in_place(|| wait_for("= Control Plane =", 0));

    let token = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let answer = controller
        .report(STORAGE, &token, report_saying("seen by the watch"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let later = tokio::task::block_in_place(|| wait_for("seen by the watch", first));
    assert!(later > first);
    child.kill().unwrap();
    child.wait().unwrap();
    controller.stop();
}

/// Issue 17: a reader can tell stale data from fresh. While the controller holds its Lease,
/// `status` prints the object and nothing else; once it has stopped (and released the Lease),
/// the same object comes with a warning on stderr, and stdout is still what `oc` would print.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_warns_when_no_controller_keeps_the_object_current() {
    let Some(cp) = cluster() else { return };
    let _turn = TURN.lock().await;
    let status = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
            .args(["status", "--kubeconfig"])
            .arg(cp.kubeconfig())
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let controller = Controller::start(cp, "freshness", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    published(cp, Duration::from_secs(10), published_available).await;
    let (fresh, quiet) = tokio::task::block_in_place(status);
    assert!(fresh.contains("= Control Plane ="), "{fresh}");
    assert!(!quiet.contains("warning"), "{quiet}");

    controller.stop();
    let (stale, warned) = tokio::task::block_in_place(status);
    assert!(stale.contains("= Control Plane ="), "{stale}");
    assert!(
        !stale.contains("warning"),
        "stdout stays what oc prints: {stale}"
    );
    assert!(
        warned.contains("the update-status-controller is not running")
            && warned.contains(&format!(
                "Lease {NAMESPACE}/update-status-controller released"
            )),
        "{warned}"
    );
}
