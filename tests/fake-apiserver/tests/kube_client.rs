//! The fake, driven by the real kube 5 client (rustls + ring) through its generated kubeconfig.
//!
//! Each test asserts behaviour a controller depends on and that a real API server has; a fake that
//! drifted from the real semantics fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use fake_apiserver::{AccessRule, FakeApiServer, FakeConfig, UserInfo};
use futures_util::StreamExt;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::watcher;
use kube::runtime::watcher::Event;
use serde_json::{Value, json};

async fn start() -> FakeApiServer {
    FakeApiServer::start(FakeConfig::default()).await.unwrap()
}

async fn client(server: &FakeApiServer) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(server.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

type EventStream<K> = futures_util::stream::BoxStream<'static, Result<Event<K>, watcher::Error>>;

async fn next_event<K>(stream: &mut EventStream<K>) -> Result<Event<K>, watcher::Error> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("the watcher stream does not end")
}

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn configmap(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        },
        "data": { "k": name },
    }))
    .unwrap()
}

fn clusterversions(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("config.openshift.io", "v1", "ClusterVersion");
    Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

fn upgradestatuses(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("update.openshift.io", "v1alpha1", "UpgradeStatus");
    Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

#[tokio::test]
async fn kubeconfig_file_loads_and_lists_with_pagination_and_selectors() {
    let server = start().await;
    // Through the file, as KUBECONFIG would be read.
    let kubeconfig = kube::config::Kubeconfig::read_from(server.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.cluster_url.to_string(), format!("{}/", server.url()));
    let client = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        let app = if i % 2 == 0 { "even" } else { "odd" };
        cms.create(
            &PostParams::default(),
            &configmap(&format!("cm-{i}"), &[("app", app)]),
        )
        .await
        .unwrap();
    }

    let page = cms.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.metadata.remaining_item_count, Some(4));
    let first_rv = page.metadata.resource_version.clone().unwrap();
    let mut names: Vec<String> = page
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let mut token = page.metadata.continue_.clone();
    // A change after the first page is not part of the paginated snapshot.
    cms.create(&PostParams::default(), &configmap("cm-late", &[]))
        .await
        .unwrap();
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = cms
            .list(&ListParams::default().limit(3).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(first_rv.as_str())
        );
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        token = page.metadata.continue_.clone();
    }
    let want: Vec<String> = (0..7).map(|i| format!("cm-{i}")).collect();
    assert_eq!(names, want);

    let odd = cms
        .list(&ListParams::default().labels("app=odd"))
        .await
        .unwrap();
    assert_eq!(odd.items.len(), 3);
    let not_odd = cms
        .list(&ListParams::default().labels("app,app!=odd"))
        .await
        .unwrap();
    assert_eq!(not_odd.items.len(), 4);
    let unlabelled = cms
        .list(&ListParams::default().labels("!app"))
        .await
        .unwrap();
    assert_eq!(unlabelled.items.len(), 1);
    let one = cms
        .list(&ListParams::default().fields("metadata.name=cm-3"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    // Built-in list items carry no kind/apiVersion, as from a real server.
    let raw: Value = client
        .request(
            http::Request::get("/api/v1/namespaces/default/configmaps?limit=1")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(raw["items"][0].get("kind").is_none());
    assert_eq!(raw["kind"], "ConfigMapList");

    // A continue token older than the kept history expires with 410.
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    cms.create(&PostParams::default(), &configmap("cm-after", &[]))
        .await
        .unwrap();
    server.compact();
    let err = cms
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap_err();
    let status = api_error(err);
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    // An unknown resource is a 404 Status.
    let err = client
        .request::<Value>(
            http::Request::get("/apis/example.com/v1/widgets")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 404);
}

#[tokio::test]
async fn watcher_sees_changes_in_order_and_relists_after_expiry() {
    let server = start().await;
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    assert!(matches!(
        next_event(&mut stream).await.unwrap(),
        Event::Init
    ));
    assert!(matches!(
        next_event(&mut stream).await.unwrap(),
        Event::InitDone
    ));

    cms.create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    let mut modified = configmap("a", &[("x", "1")]);
    modified.metadata.resource_version = None;
    cms.replace("a", &PostParams::default(), &modified)
        .await
        .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        match next_event(&mut stream).await.unwrap() {
            Event::Apply(cm) => seen.push(format!(
                "apply {:?}",
                cm.metadata.labels.unwrap_or_default().get("x")
            )),
            Event::Delete(_) => seen.push("delete".to_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["apply None", "apply Some(\"1\")", "delete"]);

    // End the watch; while the watcher is away, a change happens and the history is compacted.
    server.close_watches();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server
        .put_object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}}))
        .unwrap();
    server.compact();
    let mut expired = false;
    let mut relisted = Vec::new();
    loop {
        match next_event(&mut stream).await {
            Err(watcher::Error::WatchError(status)) => {
                assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
                expired = true;
            }
            Err(other) => panic!("unexpected {other:?}"),
            Ok(Event::Init) => {}
            Ok(Event::InitApply(cm)) => relisted.push(cm.metadata.name.unwrap()),
            Ok(Event::InitDone) => break,
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(expired, "the resumed watch must get 410");
    assert_eq!(relisted, ["b"]);
    let lists = server.count(|r| r.verb == "list" && r.path.ends_with("/configmaps"));
    assert_eq!(lists, 2);
    let watches = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "watch")
        .collect::<Vec<_>>();
    assert!(
        watches
            .iter()
            .all(|w| w.query_param("allowWatchBookmarks").as_deref() == Some("true"))
    );
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_and_bookmark() {
    let server = FakeApiServer::start(FakeConfig {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client(&server).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    for name in ["l1", "l2"] {
        leases
            .create(
                &PostParams::default(),
                &Lease {
                    metadata: kube::api::ObjectMeta {
                        name: Some(name.into()),
                        ..Default::default()
                    },
                    spec: None,
                },
            )
            .await
            .unwrap();
    }
    let mut stream = watcher(leases.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Event::Init => {}
            Event::InitApply(l) => initial.push(l.metadata.name.unwrap()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, ["l1", "l2"]);
    assert_eq!(
        server.count(|r| r.verb == "list"),
        0,
        "a streaming list makes no list call"
    );
    let watch = server
        .requests()
        .into_iter()
        .find(|r| r.verb == "watch")
        .unwrap();
    assert_eq!(
        watch.query_param("sendInitialEvents").as_deref(),
        Some("true")
    );
    // Bookmarks keep flowing without surfacing as events; the next change still arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    leases.delete("l1", &DeleteParams::default()).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(event, Event::Delete(l) if l.metadata.name.as_deref() == Some("l1")));

    // Streaming lists need resourceVersionMatch=NotOlderThan, as on a real server.
    let err = client
        .request::<Value>(http::Request::get("/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=true&sendInitialEvents=true").body(vec![]).unwrap())
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 422);
}

#[tokio::test]
async fn get_create_conflict_replace_delete() {
    let server = start().await;
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &configmap("c", &[]))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.as_ref().unwrap().parse().unwrap();
    assert_eq!(
        cms.get("c").await.unwrap().metadata.uid,
        created.metadata.uid
    );

    let dup = api_error(
        cms.create(&PostParams::default(), &configmap("c", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(dup.message, "configmaps \"c\" already exists");

    let mut changed = created.clone();
    changed.data = Some([("k".to_owned(), "v2".to_owned())].into());
    let replaced = cms
        .replace("c", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1, "resourceVersion grows");
    // Replaying the old resourceVersion is a conflict.
    let stale = api_error(
        cms.replace("c", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
    // A no-op write stores nothing and keeps the resourceVersion.
    let same = cms
        .replace("c", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        replaced.metadata.resource_version
    );

    let generated = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap(),
        )
        .await
        .unwrap();
    let name = generated.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let missing_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "nope");
    let err = api_error(
        missing_ns
            .create(&PostParams::default(), &configmap("c", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );

    cms.delete("c", &DeleteParams::default()).await.unwrap();
    let gone = api_error(cms.get("c").await.unwrap_err());
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));
    let again = api_error(cms.delete("c", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(again.code, 404);
    let absent = api_error(
        cms.replace("c", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!(absent.code, 404);
}

#[tokio::test]
async fn status_subresource_is_isolated_and_generation_tracks_spec() {
    let server = start().await;
    let client = client(&server).await;
    let cvs = clusterversions(&client);
    let cv: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion",
        "metadata": {"name": "version"},
        "spec": {"channel": "stable-4.18"},
        "status": {"desired": {"version": "4.18.1"}},
    }))
    .unwrap();
    let created = cvs.create(&PostParams::default(), &cv).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "create drops status when /status is a subresource"
    );
    assert_eq!(created.metadata.generation, Some(1));

    let mut with_status = created.clone();
    with_status.data["status"] = json!({"desired": {"version": "4.18.2"}});
    with_status.data["spec"] = json!({"channel": "fast-4.18"});
    let after = cvs
        .replace_status("version", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(after.data["status"]["desired"]["version"], "4.18.2");
    assert_eq!(
        after.data["spec"]["channel"], "stable-4.18",
        "a status write leaves spec alone"
    );
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "a status write does not bump generation"
    );

    let mut main = after.clone();
    main.data["spec"] = json!({"channel": "fast-4.18"});
    main.data["status"] = json!({"desired": {"version": "9.9.9"}});
    let after_main = cvs
        .replace("version", &PostParams::default(), &main)
        .await
        .unwrap();
    assert_eq!(after_main.data["spec"]["channel"], "fast-4.18");
    assert_eq!(
        after_main.data["status"]["desired"]["version"], "4.18.2",
        "a main write ignores status"
    );
    assert_eq!(after_main.metadata.generation, Some(2));

    // Merge patch on /status, and on the main resource.
    let patched = cvs
        .patch_status(
            "version",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"history": []}, "spec": {"channel": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["history"], json!([]));
    assert_eq!(patched.data["spec"]["channel"], "fast-4.18");
    let patched = cvs
        .patch(
            "version",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"l": "v"}}, "spec": {"upstream": "u"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["l"], "v");
    assert_eq!(
        patched.data["spec"],
        json!({"channel": "fast-4.18", "upstream": "u"})
    );
    assert_eq!(patched.metadata.generation, Some(3));
    let json_patched: Value = client
        .request(
            http::Request::patch("/apis/config.openshift.io/v1/clusterversions/version")
                .header("content-type", "application/json-patch+json")
                .body(
                    serde_json::to_vec(&json!([
                        {"op": "test", "path": "/spec/upstream", "value": "u"},
                        {"op": "remove", "path": "/spec/upstream"},
                    ]))
                    .unwrap(),
                )
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(json_patched["spec"], json!({"channel": "fast-4.18"}));
}

#[tokio::test]
async fn apply_status_needs_the_object_and_owns_its_fields() {
    let server = start().await;
    let client = client(&server).await;
    let api = upgradestatuses(&client);
    let manager = PatchParams::apply("update-status-controller");
    let body = |status: Value| json!({"apiVersion": "update.openshift.io/v1alpha1", "kind": "UpgradeStatus", "metadata": {"name": "cluster"}, "status": status});
    let err = api_error(
        api.patch_status("cluster", &manager, &Patch::Apply(body(json!({"a": 1}))))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert!(
        server
            .objects("upgradestatuses.update.openshift.io")
            .is_empty(),
        "apply to /status creates nothing"
    );

    // Apply to the main resource creates (status ignored there), then /status apply works.
    let created = api
        .patch("cluster", &manager, &Patch::Apply(body(json!({"a": 1}))))
        .await
        .unwrap();
    assert!(created.data.get("status").is_none());
    let applied = api
        .patch_status(
            "cluster",
            &manager,
            &Patch::Apply(body(json!({"a": 1, "b": {"c": true}}))),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["status"], json!({"a": 1, "b": {"c": true}}));
    let fields = applied.metadata.managed_fields.clone().unwrap();
    let entry = fields
        .iter()
        .find(|f| f.subresource.as_deref() == Some("status"))
        .unwrap();
    assert_eq!(entry.manager.as_deref(), Some("update-status-controller"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    // Omitting a field the manager applied before removes it.
    let applied = api
        .patch_status("cluster", &manager, &Patch::Apply(body(json!({"a": 2}))))
        .await
        .unwrap();
    assert_eq!(applied.data["status"], json!({"a": 2}));
    // Re-applying the same content changes nothing, not even the resourceVersion.
    let again = api
        .patch_status("cluster", &manager, &Patch::Apply(body(json!({"a": 2}))))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );

    // Without a field manager the real server refuses an apply patch (422, before any lookup).
    let err = client
        .request::<Value>(
            http::Request::patch(
                "/apis/update.openshift.io/v1alpha1/upgradestatuses/cluster/status",
            )
            .header("content-type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(&body(json!({}))).unwrap())
            .unwrap(),
        )
        .await
        .unwrap_err();
    let err = api_error(err);
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(err.message.contains("fieldManager: Required value"));
}

#[tokio::test]
async fn apply_conflicts_between_managers_and_force_wins() {
    let server = start().await;
    let client = client(&server).await;
    let api = upgradestatuses(&client);
    let body = |status: Value| {
        Patch::Apply(
            json!({"apiVersion": "update.openshift.io/v1alpha1", "kind": "UpgradeStatus", "metadata": {"name": "cluster"}, "status": status}),
        )
    };
    api.patch("cluster", &PatchParams::apply("a"), &body(json!({})))
        .await
        .unwrap();
    api.patch_status(
        "cluster",
        &PatchParams::apply("a"),
        &body(json!({"x": 1, "y": 1})),
    )
    .await
    .unwrap();

    let err = api_error(
        api.patch_status("cluster", &PatchParams::apply("b"), &body(json!({"x": 2})))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"a\" with subresource \"status\": .status.x"
    );
    let causes = err.details.unwrap().causes;
    assert_eq!(
        (causes[0].reason.as_str(), causes[0].field.as_str()),
        ("FieldManagerConflict", ".status.x")
    );
    assert_eq!(
        api.get("cluster").await.unwrap().data["status"]["x"],
        1,
        "a refused apply changes nothing"
    );

    // The same value is shared ownership, not a conflict.
    api.patch_status("cluster", &PatchParams::apply("b"), &body(json!({"y": 1})))
        .await
        .unwrap();
    let forced = api
        .patch_status(
            "cluster",
            &PatchParams::apply("b").force(),
            &body(json!({"x": 2, "y": 1})),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["status"], json!({"x": 2, "y": 1}));
    // Manager a lost x: its next apply without x does not remove b's x; omitting y keeps y (b owns it).
    let after = api
        .patch_status("cluster", &PatchParams::apply("a"), &body(json!({})))
        .await
        .unwrap();
    assert_eq!(after.data["status"], json!({"x": 2, "y": 1}));
}

#[tokio::test]
async fn token_review_follows_audience_rules() {
    let server = start().await;
    let client = client(&server).await;
    let reviews: Api<TokenReview> = Api::all(client.clone());
    let review = |token: &str, audiences: Option<Vec<&str>>| TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_owned()),
            audiences: audiences.map(|a| a.into_iter().map(str::to_owned).collect()),
        },
        ..Default::default()
    };
    let mut user = UserInfo::new("system:serviceaccount:ns:producer");
    user.uid = "sa-uid".to_owned();
    server.add_token(
        "opaque",
        user,
        vec!["update-status".to_owned(), "other".to_owned()],
    );

    let ok = reviews
        .create(
            &PostParams::default(),
            &review("opaque", Some(vec!["update-status", "nobody"])),
        )
        .await
        .unwrap();
    let status = ok.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(status.audiences.unwrap(), ["update-status"]);
    assert_eq!(
        status.user.unwrap().username.as_deref(),
        Some("system:serviceaccount:ns:producer")
    );

    let wrong = reviews
        .create(
            &PostParams::default(),
            &review("opaque", Some(vec!["nobody"])),
        )
        .await
        .unwrap();
    let status = wrong.status.unwrap();
    assert_eq!(status.authenticated, Some(false));
    assert!(status.error.is_some());

    // No audiences: the API server's own is required, and this token lacks it.
    let default = reviews
        .create(&PostParams::default(), &review("opaque", None))
        .await
        .unwrap();
    assert_eq!(default.status.unwrap().authenticated, Some(false));
    let minted = server
        .mint_service_account_token(
            "ns",
            "sa",
            "sa-uid",
            vec!["https://kubernetes.default.svc".into()],
            Duration::from_secs(600),
        )
        .unwrap();
    let default = reviews
        .create(&PostParams::default(), &review(&minted, None))
        .await
        .unwrap();
    let status = default.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(
        status.audiences.unwrap(),
        ["https://kubernetes.default.svc"]
    );
    let user = status.user.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:ns:sa")
    );
    assert!(
        user.groups
            .unwrap()
            .contains(&"system:serviceaccounts:ns".to_owned())
    );
    assert_eq!(
        user.extra.unwrap()["authentication.kubernetes.io/pod-name"],
        ["sa-pod"]
    );

    assert!(server.revoke_token(&minted));
    let revoked = reviews
        .create(&PostParams::default(), &review(&minted, None))
        .await
        .unwrap();
    assert_eq!(revoked.status.unwrap().authenticated, Some(false));
    let unknown = reviews
        .create(
            &PostParams::default(),
            &review("nope", Some(vec!["update-status"])),
        )
        .await
        .unwrap();
    assert_eq!(unknown.status.unwrap().authenticated, Some(false));
}

#[tokio::test]
async fn subject_access_review_and_request_authorization_use_the_rules() {
    let server = start().await;
    let client = client(&server).await;
    server.allow(
        AccessRule::new(
            "system:serviceaccount:ns:producer",
            "update",
            "update.openshift.io",
            "updateinformers",
        )
        .subresource("insights")
        .name("mco"),
    );
    let sars: Api<SubjectAccessReview> = Api::all(client.clone());
    let ask = |verb: &str, name: &str| SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("system:serviceaccount:ns:producer".into()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some("update.openshift.io".into()),
                resource: Some("updateinformers".into()),
                subresource: Some("insights".into()),
                name: Some(name.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let allowed = sars
        .create(&PostParams::default(), &ask("update", "mco"))
        .await
        .unwrap();
    assert!(allowed.status.unwrap().allowed);
    let other_name = sars
        .create(&PostParams::default(), &ask("update", "cvo"))
        .await
        .unwrap();
    assert!(!other_name.status.unwrap().allowed);
    let other_verb = sars
        .create(&PostParams::default(), &ask("delete", "mco"))
        .await
        .unwrap();
    assert!(!other_verb.status.unwrap().allowed);

    // A client running as a token user is authorized by the same rules.
    server.add_token(
        "reader-token",
        UserInfo::new("reader"),
        vec!["https://kubernetes.default.svc".into()],
    );
    server.allow(AccessRule::new("reader", "list", "", "configmaps"));
    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(server.kubeconfig_yaml()).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    config.auth_info.token = Some("reader-token".into());
    let reader = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(reader, "default");
    cms.list(&ListParams::default()).await.unwrap();
    let err = api_error(
        cms.create(&PostParams::default(), &configmap("x", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
}

#[tokio::test]
async fn lease_replace_with_stale_resource_version_conflicts() {
    let server = start().await;
    let client = client(&server).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("leader".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let seen_by_a = leases.get("leader").await.unwrap();
    let seen_by_b = leases.get("leader").await.unwrap();
    let mut renew = seen_by_a.clone();
    renew.spec.as_mut().unwrap().lease_transitions = Some(0);
    leases
        .replace("leader", &PostParams::default(), &renew)
        .await
        .unwrap();
    let mut takeover = seen_by_b.clone();
    takeover.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let err = api_error(
        leases
            .replace("leader", &PostParams::default(), &takeover)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        leases
            .get("leader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("a")
    );
}

#[tokio::test]
async fn faults_fail_then_recover_and_unreachable_reconnects() {
    let server = start().await;
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    server.fail_next(1, 500);
    let err = api_error(cms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    cms.list(&ListParams::default()).await.unwrap();

    // kube retries 429 after Retry-After: the caller sees success, the log shows both.
    server.clear_requests();
    server.fail_next(1, 429);
    let started = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    let codes: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(codes, [429, 200]);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was honoured"
    );

    // Faults filtered by verb leave other verbs alone.
    server.add_fault(fake_apiserver::Fault::always(500).verb("create"));
    cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        api_error(
            cms.create(&PostParams::default(), &configmap("f", &[]))
                .await
                .unwrap_err()
        )
        .code,
        500
    );
    server.clear_faults();

    server.set_unreachable(true);
    let err = cms.list(&ListParams::default()).await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a connection failure, not an HTTP answer: {err:?}"
    );
    server.set_unreachable(false);
    cms.list(&ListParams::default()).await.unwrap();
}

#[tokio::test]
async fn jwks_verifies_minted_tokens() {
    let server = start().await;
    let client = client(&server).await;
    let discovery: Value = client
        .request(
            http::Request::get("/.well-known/openid-configuration")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], server.issuer());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/openid/v1/jwks", server.url())
    );
    let jwks: jsonwebtoken::jwk::JwkSet = client
        .request(http::Request::get("/openid/v1/jwks").body(vec![]).unwrap())
        .await
        .unwrap();

    let token = server
        .mint_service_account_token(
            "openshift-machine-config-operator",
            "mco",
            "uid-1",
            vec!["update-status".into()],
            Duration::from_secs(300),
        )
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["update-status"]);
    validation.set_issuer(&[server.issuer()]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(
        claims["sub"],
        "system:serviceaccount:openshift-machine-config-operator:mco"
    );
    assert_eq!(claims["kubernetes.io"]["serviceaccount"]["uid"], "uid-1");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "mco-pod");

    validation.set_audience(&["someone-else"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_err());
    // A JWT from another key does not verify.
    let other = FakeApiServer::start(FakeConfig::default()).await.unwrap();
    let foreign = other
        .mint_service_account_token(
            "ns",
            "sa",
            "u",
            vec!["update-status".into()],
            Duration::from_secs(60),
        )
        .unwrap();
    validation.set_audience(&["update-status"]);
    assert!(jsonwebtoken::decode::<Value>(&foreign, &key, &validation).is_err());
}

#[tokio::test]
async fn registered_crd_prunes_unknown_fields() {
    let server = start().await;
    server
        .register_crd_yaml(
            r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
          status: {type: object, properties: {ready: {type: boolean}}}
"#,
        )
        .unwrap();
    let client = client(&server).await;
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client, "default", &ApiResource::from_gvk(&gvk));
    let created = widgets
        .patch(
            "w",
            &PatchParams::apply("m"),
            &Patch::Apply(json!({
                "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                "spec": {"size": 3, "colour": "red"},
            })),
        )
        .await
        .unwrap();
    assert_eq!(created.data["spec"], json!({"size": 3}));
}

#[tokio::test]
async fn raw_watch_protocol_expiry_timeout_and_selector_transitions() {
    use kube::api::{WatchEvent, WatchParams};
    let server = start().await;
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &configmap("w", &[("app", "x")]))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();

    // Selector transitions: leaving the selection is DELETED, entering it ADDED.
    let mut stream = cms
        .watch(&WatchParams::default().labels("app=x").timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
    )
    .await
    .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match stream.next().await.unwrap().unwrap() {
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, ["DELETED", "ADDED"]);

    // timeoutSeconds ends the stream.
    let started = Instant::now();
    let mut short = cms
        .watch(
            &WatchParams::default().timeout(1),
            &server.resource_version().to_string(),
        )
        .await
        .unwrap()
        .boxed();
    while let Some(event) = short.next().await {
        assert!(matches!(event.unwrap(), WatchEvent::Bookmark(_)));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A resourceVersion older than the history: a 200 stream with one ERROR 410 event.
    server.compact();
    let mut old = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match old.next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(status.message.starts_with("too old resource version"));
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(old.next().await.is_none());
}

#[tokio::test]
async fn finalizers_hold_deletion_and_preconditions_and_dry_run_apply() {
    let server = start().await;
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = configmap("held", &[]);
    cm.metadata.finalizers = Some(vec!["example.com/keep".into()]);
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(
        marked.metadata.deletion_timestamp.is_some(),
        "still there, marked for deletion"
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api_error(cms.get("held").await.unwrap_err()).code,
        404,
        "gone once the last finalizer is"
    );

    let live = cms
        .create(&PostParams::default(), &configmap("pre", &[]))
        .await
        .unwrap();
    let stale = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            resource_version: Some("1".into()),
            uid: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        api_error(cms.delete("pre", &stale).await.unwrap_err()).code,
        409
    );
    let exact = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            resource_version: live.metadata.resource_version.clone(),
            uid: live.metadata.uid.clone(),
        }),
        ..Default::default()
    };
    cms.delete("pre", &exact).await.unwrap();

    let mut dry = PatchParams::apply("m");
    dry.dry_run = true;
    let preview = cms
        .patch("dry", &dry, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}, "data": {"a": "b"}})))
        .await
        .unwrap();
    assert_eq!(preview.data.unwrap()["a"], "b");
    assert!(
        server
            .get_object("configmaps", Some("default"), "dry")
            .is_none(),
        "dry run stores nothing"
    );
}

#[tokio::test]
async fn unauthenticated_oversized_and_slow_requests() {
    let server = FakeApiServer::start(FakeConfig {
        max_body_bytes: 1024,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut big = configmap("big", &[]);
    big.data = Some([("k".to_owned(), "x".repeat(4096))].into());
    let err = api_error(cms.create(&PostParams::default(), &big).await.unwrap_err());
    assert_eq!(
        (err.code, err.reason.as_str()),
        (413, "RequestEntityTooLarge")
    );

    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(server.kubeconfig_yaml()).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    config.auth_info.token = Some("not-a-token".into());
    let anonymous: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    let err = api_error(anonymous.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (401, "Unauthorized"));
    let logged = server.requests().into_iter().last().unwrap();
    assert_eq!((logged.status, logged.user), (401, None));

    server.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.clear_faults();
    let logged = server.requests().into_iter().last().unwrap();
    assert_eq!(logged.user.as_deref(), Some("system:admin"));
}

#[tokio::test]
async fn the_projects_crds_register() {
    let server = start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let mut plurals = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let yaml = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let def = server.register_crd_yaml(&yaml).unwrap();
        assert_eq!(def.group, "update.openshift.io");
        assert!(def.has_status && !def.namespaced && def.schema.is_some());
        plurals.push(def.plural);
    }
    plurals.sort();
    assert_eq!(
        plurals,
        ["nodeprogressinsights", "updateinformers", "upgradestatuses"]
    );
    // Fields the schema does not declare are pruned, as a real server prunes them.
    let stored = server
        .put_object(json!({
            "apiVersion": "update.openshift.io/v1alpha1", "kind": "UpgradeStatus",
            "metadata": {"name": "cluster"}, "notInTheSchema": true,
        }))
        .unwrap();
    assert!(stored.get("notInTheSchema").is_none());
}

fn machineconfig(name: &str, content: &str) -> Value {
    json!({
        "apiVersion": "machineconfiguration.openshift.io/v1",
        "kind": "MachineConfig",
        "metadata": { "name": name, "labels": { "role": "master" } },
        "spec": { "config": { "storage": { "files": [{ "path": "/etc/x", "contents": content }] } } },
    })
}

/// What `Api<PartialObjectMeta<K>>` gets must say it is metadata and carry nothing else: the
/// controller watches MachineConfigs this way so their megabytes of content never travel.
fn assert_partial(obj: &kube::core::PartialObjectMeta<DynamicObject>, name: &str) {
    let types = obj.types.as_ref().expect("typed");
    assert_eq!(
        (types.api_version.as_str(), types.kind.as_str()),
        ("meta.k8s.io/v1", "PartialObjectMetadata")
    );
    assert_eq!(obj.metadata.name.as_deref(), Some(name));
    assert!(obj.metadata.resource_version.is_some());
}

#[tokio::test]
async fn metadata_only_requests_get_partial_object_metadata() {
    use kube::api::WatchParams;
    use kube::core::{PartialObjectMeta, Request, WatchEvent};

    let server = start().await;
    let client = client(&server).await;
    let gvk = GroupVersionKind::gvk("machineconfiguration.openshift.io", "v1", "MachineConfig");
    let ar = ApiResource::from_gvk(&gvk);
    let path = "/apis/machineconfiguration.openshift.io/v1/machineconfigs";
    let big = "x".repeat(64 * 1024);
    server.put_object(machineconfig("00-master", &big)).unwrap();
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client.clone(), &ar);

    // get, list
    assert_partial(&api.get("00-master").await.unwrap(), "00-master");
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.types.kind, "PartialObjectMetadataList");
    assert_eq!(list.types.api_version, "meta.k8s.io/v1");
    assert_eq!(
        list.metadata.resource_version,
        Some(server.resource_version().to_string())
    );
    assert_eq!(list.items.len(), 1);
    assert_partial(&list.items[0], "00-master");

    // On the wire: kube's own metadata requests, read whole — no spec anywhere.
    let raw: Value = client
        .request(
            Request::new(path)
                .list_metadata(&ListParams::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(raw["items"][0]["metadata"]["labels"]["role"], "master");
    assert!(raw["items"][0].get("spec").is_none(), "{raw}");
    assert!(!raw.to_string().contains(&big[..100]));
    let raw: Value = client
        .request(
            Request::new(path)
                .get_metadata("00-master", &Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(raw["kind"], "PartialObjectMetadata");
    assert!(raw.get("spec").is_none(), "{raw}");
    // A paginated metadata list carries the continue token.
    server.put_object(machineconfig("01-worker", "y")).unwrap();
    let page = api.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.metadata.continue_.is_some());
    let rest = api
        .list(
            &ListParams::default()
                .limit(1)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_partial(&rest.items[0], "01-worker");

    // The watcher the controller runs: add, modify, delete, with metadata only.
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(
        next_event(&mut stream).await.unwrap(),
        Event::Init
    ));
    let mut initial = Vec::new();
    loop {
        match next_event(&mut stream).await.unwrap() {
            Event::InitApply(obj) => {
                assert_partial(&obj, obj.metadata.name.as_deref().unwrap());
                initial.push(obj.metadata.name.unwrap());
            }
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, ["00-master", "01-worker"]);
    // A raw metadata watch alongside, decoded as DynamicObject: anything but metadata would land
    // in `data`.
    let rv = server.resource_version().to_string();
    let mut raw_events = client
        .request_events::<DynamicObject>(
            Request::new(path)
                .watch_metadata(&WatchParams::default().timeout(10), &rv)
                .unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    server
        .put_object(json!({
            "apiVersion": "machineconfiguration.openshift.io/v1",
            "kind": "MachineConfig",
            "metadata": { "name": "00-master", "labels": { "role": "master", "v": "2" } },
            "spec": { "config": { "changed": true } },
        }))
        .unwrap();
    server.put_object(machineconfig("02-new", "z")).unwrap();
    server
        .delete_object(
            "machineconfigs.machineconfiguration.openshift.io",
            None,
            "01-worker",
        )
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match next_event(&mut stream).await.unwrap() {
            Event::Apply(obj) => {
                let name = obj.metadata.name.clone().unwrap();
                assert_partial(&obj, &name);
                let v = kube::ResourceExt::labels(&obj)
                    .get("v")
                    .cloned()
                    .unwrap_or_default();
                seen.push(format!("apply {name} {v}"));
            }
            Event::Delete(obj) => {
                assert_partial(&obj, "01-worker");
                seen.push("delete 01-worker".to_owned());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        ["apply 00-master 2", "apply 02-new ", "delete 01-worker"]
    );
    let mut raw_kinds = Vec::new();
    while raw_kinds.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), raw_events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (kind, obj) = match event {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(obj.types.as_ref().unwrap().kind, "PartialObjectMetadata");
        assert_eq!(obj.data, json!({}), "only metadata in a {kind} event");
        raw_kinds.push(kind);
    }
    assert_eq!(raw_kinds, ["MODIFIED", "ADDED", "DELETED"]);

    // A metadata patch answers metadata and leaves the content alone.
    let patched = api
        .patch(
            "02-new",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": { "a": "b" } } })),
        )
        .await
        .unwrap();
    assert_partial(&patched, "02-new");
    let stored = server
        .get_object(
            "machineconfigs.machineconfiguration.openshift.io",
            None,
            "02-new",
        )
        .unwrap();
    assert_eq!(stored["metadata"]["annotations"]["a"], "b");
    assert!(stored["spec"]["config"].is_object());

    // The kind must fit the response, and unknown transforms are not acceptable.
    let accept = |path: &str, accept: &str| {
        http::Request::get(path)
            .header(http::header::ACCEPT, accept)
            .body(Vec::new())
            .unwrap()
    };
    for (url, header) in [
        (
            path.to_owned(),
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        ),
        (
            format!("{path}/00-master"),
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        ),
        (
            format!("{path}/00-master"),
            "application/json;as=PartialObjectMetadata;g=example.com;v=v1",
        ),
    ] {
        let err = client
            .request::<Value>(accept(&url, header))
            .await
            .unwrap_err();
        let status = api_error(err);
        assert_eq!(
            (status.code, status.reason.as_str()),
            (406, "NotAcceptable"),
            "{url} {header}"
        );
    }
    // A fallback clause after an unserved one is served in full.
    let full: Value = client
        .request(accept(
            &format!("{path}/00-master"),
            "application/json;as=Table;g=meta.k8s.io;v=v1,application/json",
        ))
        .await
        .unwrap();
    assert_eq!(full["kind"], "MachineConfig");
    assert!(full["spec"].is_object());
}
