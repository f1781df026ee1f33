//! Conformance of the built-in informers with the real `oc adm upgrade status` examples: each case
//! is loaded with the oc mock layout, assessed, and every fact its `.output` and
//! `.detailed-output` show is derived back from the insights alone, following
//! `docs/object-contract.md`, and compared. This checks both the rules and that the contract
//! carries enough for the renderer.
//!
//! The folder is `../shared/conformance/oc-examples` (or `$OC_EXAMPLES_DIR`). Without it the test
//! says so and passes, except under `CI=true`, where its absence is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should abort loudly

#[path = "support/oc_examples.rs"]
mod oc_examples;
use oc_examples::examples_dir;

use std::path::{Path, PathBuf};

use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    Architecture, ClusterOperatorInsight, ClusterVersionAssessment, ClusterVersionInsight,
    ConditionStatus, HealthInsight, ImpactLevel, ImpactType, InsightPayload,
    MachineConfigPoolInsight, NodeInsight, NodeSummaryType, PoolAssessment, ScopeType,
    find_condition,
};
use update_status_api::wire::ReportedInsight;
use update_status_controller::builtin::{InformerOutput, assess};
use update_status_controller::cluster::{ClusterSource, OcMockSource, mock_now};

fn cases(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix("-cv.yaml")?
                .to_owned();
            Some((name, p))
        })
        .collect();
    out.sort();
    out
}

// ---- oc's formatting helpers, as the renderer must apply them -------------------------------

/// oc's `shortDuration`.
fn short(d: GoDuration) -> String {
    let orig = d.to_string();
    if orig == "0s" {
        return "now".into();
    }
    if let Some(s) = orig.strip_suffix("h0m0s") {
        return format!("{s}h");
    }
    if let Some(s) = orig.strip_suffix("m0s") {
        return format!("{s}m");
    }
    if let Some(i) = orig.find('.') {
        let whole: GoDuration = format!("{}s", &orig[..i]).parse().unwrap();
        return short(whole);
    }
    orig
}

fn rounded_duration(d: GoDuration) -> GoDuration {
    if d > GoDuration::from_mins(10) {
        d.round(GoDuration::from_mins(1))
    } else {
        d.round(GoDuration::from_secs(1))
    }
}

fn cells(line: &str) -> Vec<String> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

// ---- the object as the renderer sees it ---------------------------------------------------

struct View<'a> {
    now: Timestamp,
    cv: &'a ClusterVersionInsight,
    cos: Vec<&'a ClusterOperatorInsight>,
    pools: Vec<&'a MachineConfigPoolInsight>,
    nodes: Vec<&'a NodeInsight>,
    /// Health insights in the contract's gathering order.
    health: Vec<&'a HealthInsight>,
}

fn view(outputs: &[InformerOutput], now: Timestamp) -> View<'_> {
    let by = |name: &str| -> &[ReportedInsight] {
        outputs
            .iter()
            .find(|o| o.informer.as_str() == name)
            .map_or(&[], |o| o.insights.as_slice())
    };
    let mut cv = None;
    let mut cos = Vec::new();
    let mut pools = Vec::new();
    let mut nodes = Vec::new();
    let mut health = Vec::new();
    for informer in ["machine-config", "alerts", "cluster-version"] {
        for r in by(informer) {
            match &r.insight {
                InsightPayload::ClusterVersion(x) => cv = Some(&**x),
                InsightPayload::ClusterOperator(x) => cos.push(x),
                InsightPayload::MachineConfigPool(x) => pools.push(x),
                InsightPayload::Node(x) => nodes.push(x),
                InsightPayload::Health(x) => health.push(&**x),
            }
        }
    }
    View {
        now,
        cv: cv.expect("a ClusterVersion insight"),
        cos,
        pools,
        nodes,
        health,
    }
}

fn cond<'a>(
    conds: &'a [update_status_api::v1alpha1::Condition],
    t: &str,
) -> &'a update_status_api::v1alpha1::Condition {
    find_condition(conds, t).unwrap_or_else(|| panic!("condition {t} missing"))
}

fn count(p: &MachineConfigPoolInsight, t: NodeSummaryType) -> i32 {
    p.summaries
        .iter()
        .find(|s| s.type_ == t)
        .map_or_else(|| panic!("summary {t:?} missing"), |s| s.count.get())
}

/// One node row and the flags the omitted-rows line counts, per the contract.
struct Row {
    cells: Vec<String>,
    assessment_rank: u8,
    phase_rank: u8,
    name: String,
    updated: bool,
    unavailable: bool,
    updating: bool,
    degraded: bool,
    draining: bool,
    paused: bool,
    progressing: bool,
}

fn node_row(n: &NodeInsight) -> Row {
    let updating_c = cond(&n.conditions, "Updating");
    let available_c = cond(&n.conditions, "Available");
    let degraded_c = cond(&n.conditions, "Degraded");
    let (phase, phase_rank) = match (updating_c.status, updating_c.reason.as_str()) {
        (ConditionStatus::True, "Draining") => ("Draining", 0),
        (ConditionStatus::True, "Updating") => ("Updating", 1),
        (ConditionStatus::True, "Rebooting") => ("Rebooting", 2),
        (ConditionStatus::False, "Paused") => ("Paused", 3),
        (ConditionStatus::False, "Pending") => ("Pending", 4),
        (ConditionStatus::False, "Completed" | "Finishing") => ("Updated", 5),
        other => panic!("unexpected Updating {other:?}"),
    };
    let (mut assessment, mut rank) = match phase {
        "Draining" | "Updating" | "Rebooting" => ("Progressing", 2),
        "Updated" => ("Completed", 5),
        "Paused" => ("Excluded", 3),
        _ => ("Outdated", 4),
    };
    let unavailable = available_c.status == ConditionStatus::False;
    if unavailable && available_c.reason.as_str() == "Unavailable" {
        (assessment, rank) = ("Unavailable", 1);
    }
    let degraded = degraded_c.status == ConditionStatus::True;
    if degraded {
        (assessment, rank) = ("Degraded", 0);
    }
    let updated =
        updating_c.status == ConditionStatus::False && updating_c.reason.as_str() == "Completed";
    let updating = if unavailable {
        available_c.reason.as_str() == "Updating"
    } else {
        updating_c.status == ConditionStatus::True || updating_c.reason.as_str() == "Finishing"
    };
    let est = match n.estimated_to_complete_seconds {
        None => "?".to_owned(),
        Some(d) if d.get() == 0 => "-".to_owned(),
        Some(d) => format!("+{}", short(GoDuration::from_secs(d.get()))),
    };
    let name = n.name.to_string();
    let mut message = n.message.as_deref().unwrap_or("").to_owned();
    if name.len() >= 8 {
        message = message.replace(&name, "<node>");
    }
    let mut row = vec![
        name.clone(),
        assessment.to_owned(),
        phase.to_owned(),
        n.version.as_deref().unwrap_or("?").to_owned(),
        est,
    ];
    if !message.is_empty() {
        row.push(message);
    }
    Row {
        cells: row,
        assessment_rank: rank,
        phase_rank,
        name,
        updated,
        unavailable,
        updating,
        degraded,
        draining: phase == "Draining",
        paused: phase == "Paused",
        progressing: assessment == "Progressing",
    }
}

/// A pool's node table: rows (all, or oc's first 10 plus bad ones) and the omitted-rows line.
fn node_table(v: &View<'_>, pool: &str, detailed: bool) -> (Vec<Vec<String>>, Option<String>) {
    let mut rows: Vec<Row> = v
        .nodes
        .iter()
        .filter(|n| n.pool_resource.name.as_str() == pool)
        .map(|n| node_row(n))
        .collect();
    rows.sort_by(|a, b| {
        (a.assessment_rank, a.phase_rank, &a.name).cmp(&(b.assessment_rank, b.phase_rank, &b.name))
    });
    let mut shown = Vec::new();
    let (mut t, mut c, mut a, mut p, mut o, mut d, mut e) = (0, 0, 0, 0, 0, 0, 0);
    for (i, r) in rows.into_iter().enumerate() {
        if !detailed && i >= 10 && !r.degraded && (!r.unavailable || r.updating) {
            t += 1;
            if r.updated {
                c += 1
            } else {
                o += 1
            }
            a += usize::from(!r.unavailable);
            d += usize::from(r.draining);
            e += usize::from(r.paused);
            p += usize::from(r.progressing);
            continue;
        }
        shown.push(r.cells);
    }
    let omitted = (t > 0).then(|| format!("Omitted additional {t} Total, {c} Completed, {a} Available, {p} Progressing, {o} Outdated, {d} Draining, {e} Excluded, and 0 Degraded nodes."));
    (shown, omitted)
}

fn level_name(l: ImpactLevel) -> &'static str {
    match l {
        ImpactLevel::Unknown => "Unknown",
        ImpactLevel::Info => "Info",
        ImpactLevel::Warning => "Warning",
        ImpactLevel::Error => "Error",
        ImpactLevel::Critical => "Critical",
    }
}

/// `oc`'s words for an impact type: the PascalCase wire value split into words ("ApiAvailability"
/// is "API Availability").
fn impact_name(t: ImpactType) -> String {
    let wire = serde_json::to_value(t)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let mut words = String::new();
    for (i, c) in wire.char_indices() {
        if i > 0 && c.is_ascii_uppercase() {
            words.push(' ');
        }
        words.push(c);
    }
    words.replace("Api ", "API ")
}

/// The health insights in oc's order: startedAt descending (absent last), then level descending,
/// both stable.
fn sorted_health<'a>(v: &View<'a>) -> Vec<&'a HealthInsight> {
    let mut h = v.health.clone();
    h.sort_by_key(|x| std::cmp::Reverse(x.started_at));
    h.sort_by_key(|x| std::cmp::Reverse(x.impact.level));
    h
}

fn since(v: &View<'_>, h: &HealthInsight) -> String {
    h.started_at.map_or("-".into(), |t| {
        short(v.now.since(t).truncate(GoDuration::from_secs(1)))
    })
}

fn updating_for(v: &View<'_>) -> GoDuration {
    let started = v.cv.started_at.unwrap_or(v.now);
    v.now.since(started).round(GoDuration::from_secs(1))
}

fn health_table(v: &View<'_>) -> Vec<Vec<String>> {
    let sorted = sorted_health(v);
    if sorted.is_empty() {
        return vec![vec![
            short(updating_for(v)),
            "Info".into(),
            "None".into(),
            "Update is proceeding well".into(),
        ]];
    }
    sorted
        .iter()
        .map(|h| {
            vec![
                since(v, h),
                level_name(h.impact.level).into(),
                impact_name(h.impact.type_),
                h.impact.summary.to_string(),
            ]
        })
        .collect()
}

/// The `--details=health` text, exactly as oc writes it.
fn health_details(v: &View<'_>) -> String {
    let mut out = String::from("= Update Health =\n");
    let sorted = sorted_health(v);
    let pad = "Description: ".len();
    for (i, h) in sorted.iter().enumerate() {
        out.push_str(&format!("Message: {}\n", h.impact.summary));
        out.push_str(&format!("  {:<pad$}{}\n", "Since:", since(v, h)));
        out.push_str(&format!(
            "  {:<pad$}{}\n",
            "Level:",
            level_name(h.impact.level)
        ));
        out.push_str(&format!(
            "  {:<pad$}{}\n",
            "Impact:",
            impact_name(h.impact.type_)
        ));
        let reference = h
            .remediation
            .reference
            .as_deref()
            .unwrap_or("<alert does not have a runbook_url annotation>");
        out.push_str(&format!("  {:<pad$}{}\n", "Reference:", reference));
        if !h.scope.resources.is_empty() {
            out.push_str("  Resources:\n");
            let mut kinds: Vec<String> = Vec::new();
            let mut names: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for r in h.scope.resources.iter() {
                let mut kind = r.resource.to_string();
                if let Some(g) = r.group.as_deref().filter(|g| !g.is_empty()) {
                    kind = format!("{kind}.{g}");
                }
                let kind = format!("{kind}: ");
                let name = match r.namespace.as_deref() {
                    Some(ns) => format!("{ns}/{}", r.name),
                    None => r.name.to_string(),
                };
                if !names.contains_key(&kind) {
                    kinds.push(kind.clone());
                }
                names.entry(kind).or_default().push(name);
            }
            let kind_pad = kinds.iter().map(|k| k.len()).max().unwrap_or(0);
            kinds.sort();
            for k in kinds {
                let mut n = names.remove(&k).unwrap();
                n.sort();
                out.push_str(&format!("    {k:<kind_pad$}{}\n", n.join(", ")));
            }
        }
        let description = h
            .impact
            .description
            .as_deref()
            .unwrap_or("")
            .replace('\n', &format!("\n{}, ", " ".repeat(pad + 2)));
        out.push_str(&format!("  {:<pad$}{}\n", "Description:", description));
        if i + 1 < sorted.len() {
            out.push('\n');
        }
    }
    out
}

fn not_updating(v: &View<'_>) -> bool {
    let cv_updating = cond(&v.cv.conditions, "Updating").status == ConditionStatus::True;
    let worker_outdated = v.pools.iter().any(|p| {
        p.scope_type == ScopeType::WorkerPool
            && count(p, NodeSummaryType::Total) > 0
            && count(p, NodeSummaryType::Outdated) > 0
    });
    !cv_updating && !worker_outdated
}

fn target(v: &View<'_>) -> String {
    let t =
        v.cv.versions
            .target
            .version
            .as_deref()
            .unwrap_or("unknown")
            .to_owned();
    match &v.cv.versions.previous {
        None if v.cv.versions.target.version.is_some() => format!("{t} (a new install)"),
        None => format!("{t} (from unknown)"),
        Some(p) if p.state == update_status_api::v1alpha1::UpdateState::Partial => {
            format!("{t} (from incomplete {})", p.version)
        }
        Some(_) if v.cv.versions.target.architecture == Some(Architecture::Multi) => {
            format!("{t} to Multi-Architecture")
        }
        Some(p) => format!("{t} (from {})", p.version),
    }
}

/// The `= Control Plane =` block.
fn control_plane(v: &View<'_>) -> Vec<String> {
    let cv = v.cv;
    let started = cv.started_at.unwrap();
    let end = cv.completed_at.unwrap_or(v.now);
    let duration = rounded_duration(end.since(started));
    if cv.assessment == ClusterVersionAssessment::Completed {
        let at = cv.completed_at.unwrap().to_rfc3339_seconds();
        let version = cv.versions.target.version.as_deref().unwrap_or("unknown");
        return vec![format!(
            "Update to {version} successfully completed at {at} (duration: {})",
            short(duration)
        )];
    }
    // The estimate, as of now, from the inputs the object stores (docs/object-contract.md).
    let co_completion = f64::from(cv.operators.updated.get()) / f64::from(cv.operators.total.get());
    let last = cv
        .last_observed_progress_at
        .filter(|t| *t > started)
        .unwrap_or(v.now);
    let eta = update_status_controller::builtin::estimate::estimate_completion(
        GoDuration::from_secs(cv.expected_duration_seconds.get()),
        last.since(started),
        end.since(started),
        co_completion,
    );
    let assessment = match cv.assessment {
        ClusterVersionAssessment::Progressing if eta < GoDuration::from_mins(-10) => "Stalled",
        ClusterVersionAssessment::Progressing if eta < GoDuration::default() => {
            "Progressing - Slow"
        }
        ClusterVersionAssessment::Progressing => "Progressing",
        other => panic!("unexpected {other:?}"),
    };
    let mut lines = vec![
        format!("Assessment:      {assessment}"),
        format!("Target Version:  {}", target(v)),
    ];
    let updating: Vec<&str> = v
        .cos
        .iter()
        .filter(|c| cond(&c.conditions, "Updating").status == ConditionStatus::True)
        .map(|c| c.name.as_str())
        .collect();
    if !updating.is_empty() {
        lines.push(format!("Updating:        {}", updating.join(", ")));
    }
    let reason_count = |t: &str, s: ConditionStatus, r: &str| {
        v.cos
            .iter()
            .filter(|c| {
                let x = cond(&c.conditions, t);
                x.status == s && x.reason.as_str() == r
            })
            .count()
    };
    let updated = reason_count("Updating", ConditionStatus::False, "Updated");
    let waiting = reason_count("Updating", ConditionStatus::False, "Pending");
    lines.push(format!(
        "Completion:      {}% ({updated} operators updated, {} updating, {waiting} waiting)",
        cv.completion.get(),
        updating.len()
    ));
    let mut d = format!("Duration:        {}", short(duration));
    if eta != GoDuration::default() {
        let est = v.now.plus(eta);
        let multi = cv.versions.target.architecture == Some(Architecture::Multi)
            && cond(&cv.conditions, "Updating").status == ConditionStatus::True;
        let vague = if multi {
            "N/A for Multi-Architecture Migration".to_owned()
        } else if eta < GoDuration::from_mins(-10) {
            let est_duration = est.since(started).truncate(GoDuration::from_mins(1));
            format!("N/A; estimate duration was {}", short(est_duration))
        } else if eta < GoDuration::from_mins(10) {
            "<10m".to_owned()
        } else {
            short(eta)
        };
        d.push_str(&format!(" (Est. Time Remaining: {vague})"));
    }
    lines.push(d);
    let unavailable = reason_count("Healthy", ConditionStatus::False, "Unavailable");
    let degraded = reason_count("Healthy", ConditionStatus::False, "Degraded");
    let mut h = format!(
        "Operator Health: {} Healthy",
        v.cos.len() - unavailable - degraded
    );
    if unavailable > 0 {
        h.push_str(&format!(", {unavailable} Unavailable"));
    }
    if degraded > 0 {
        h.push_str(&format!(", {degraded} Available but degraded"));
    }
    lines.push(h);
    lines
}

fn pool_row(p: &MachineConfigPoolInsight) -> Vec<String> {
    let total = count(p, NodeSummaryType::Total);
    if total == 0 {
        return vec![p.name.to_string(), "Empty".into(), format!("{total} Total")];
    }
    let assessment = match p.assessment {
        PoolAssessment::Pending => "Pending",
        PoolAssessment::Completed => "Completed",
        PoolAssessment::Degraded => "Degraded",
        PoolAssessment::Excluded => "Excluded",
        PoolAssessment::Progressing => "Progressing",
    };
    let mut status = format!(
        "{} Available, {} Progressing, {} Draining",
        count(p, NodeSummaryType::Available),
        count(p, NodeSummaryType::Progressing),
        count(p, NodeSummaryType::Draining)
    );
    for (t, name) in [
        (NodeSummaryType::Excluded, "Excluded"),
        (NodeSummaryType::Degraded, "Degraded"),
    ] {
        if count(p, t) > 0 {
            status.push_str(&format!(", {} {name}", count(p, t)));
        }
    }
    vec![
        p.name.to_string(),
        assessment.into(),
        format!(
            "{}% ({}/{total})",
            p.completion.unwrap().get(),
            total - count(p, NodeSummaryType::Outdated)
        ),
        status,
    ]
}

// ---- the expected text, cut into the same facts ---------------------------------------------

/// The rows of the table under `title` (after blank lines and the header), up to a blank line or
/// `...`.
fn table_after(text: &str, title: &str) -> Vec<Vec<String>> {
    let mut lines = text
        .lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .skip_while(|l| l.is_empty());
    lines.next(); // the header
    lines
        .take_while(|l| !l.trim().is_empty() && *l != "...")
        .map(cells)
        .collect()
}

fn check_case(name: &str, cv_path: &Path) {
    let dir = cv_path.parent().unwrap();
    let output = std::fs::read_to_string(dir.join(format!("{name}.output"))).unwrap();
    let detailed = std::fs::read_to_string(dir.join(format!("{name}.detailed-output"))).unwrap();
    let state = OcMockSource::new(cv_path).load().unwrap();
    let now = mock_now(&state);
    let wall_now = Timestamp(jiff::Timestamp::now());
    let outputs = assess(&state, now, wall_now);

    // Every insight is valid as the store and the CRD will check it.
    for o in &outputs {
        let body = serde_json::json!({ "insights": o.insights });
        let parsed =
            update_status_api::wire::parse_report(body.to_string().as_bytes(), usize::MAX).unwrap();
        assert!(
            parsed.rejected.is_empty(),
            "{name}/{}: rejected {:?}",
            o.informer,
            parsed.rejected
        );
        assert_eq!(parsed.accepted, o.insights, "{name}: round trip");
    }
    assert_eq!(
        outputs.iter().any(|o| o.informer.as_str() == "alerts"),
        state.alerts.is_some(),
        "{name}: alerts informer only with alerts"
    );

    let v = view(&outputs, now);
    if output == "The cluster is not updating.\n" {
        assert!(not_updating(&v), "{name}: should not be updating");
        return;
    }
    assert!(!not_updating(&v), "{name}: should be updating");

    // Control plane block.
    let expected_cp: Vec<String> = output
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(control_plane(&v), expected_cp, "{name}: control plane");

    // Updating operators (detailed).
    let updating_table = table_after(&detailed, "Updating Cluster Operators");
    let ours: Vec<Vec<String>> = v
        .cos
        .iter()
        .filter_map(|c| {
            let u = cond(&c.conditions, "Updating");
            (u.status == ConditionStatus::True).then(|| {
                let reason = if u.reason.is_empty() {
                    "-"
                } else {
                    u.reason.as_str()
                };
                let mut r = vec![
                    c.name.to_string(),
                    short(v.now.since(u.last_transition_time)),
                    reason.to_owned(),
                ];
                r.push(u.message.lines().next().unwrap_or("").to_owned());
                r
            })
        })
        .collect();
    assert_eq!(ours, updating_table, "{name}: updating operators");

    // Node tables, normal and detailed, and the pool table.
    let master = v
        .pools
        .iter()
        .find(|p| p.scope_type == ScopeType::ControlPlane);
    if let Some(m) = master.filter(|m| count(m, NodeSummaryType::Total) > 0) {
        if count(m, NodeSummaryType::Outdated) == 0 {
            let (rows, _) = node_table(&v, m.name.as_str(), true);
            let want = format!(
                "All control plane nodes successfully updated to {}",
                rows[0][3]
            );
            assert!(output.contains(&want), "{name}: {want}");
        } else {
            for (text, detailed) in [(&output, false), (&detailed, true)] {
                let (rows, omitted) = node_table(&v, m.name.as_str(), detailed);
                assert_eq!(
                    rows,
                    table_after(text, "Control Plane Nodes"),
                    "{name}: cp nodes"
                );
                if let Some(o) = omitted {
                    assert!(text.contains(&o), "{name}: {o}");
                }
            }
        }
    }
    let workers: Vec<_> = v
        .pools
        .iter()
        .filter(|p| p.scope_type == ScopeType::WorkerPool)
        .collect();
    if workers.iter().any(|p| count(p, NodeSummaryType::Total) > 0) {
        let ours: Vec<_> = workers.iter().map(|p| pool_row(p)).collect();
        assert_eq!(
            ours,
            table_after(&output, "= Worker Upgrade ="),
            "{name}: pools"
        );
        for p in workers
            .iter()
            .filter(|p| count(p, NodeSummaryType::Total) > 0)
        {
            let title = format!("Worker Pool Nodes: {}", p.name);
            for (text, detailed) in [(&output, false), (&detailed, true)] {
                let (rows, omitted) = node_table(&v, p.name.as_str(), detailed);
                assert_eq!(rows, table_after(text, &title), "{name}: {title}");
                match omitted {
                    Some(o) => assert!(text.contains(&o), "{name}: {o}"),
                    None => assert!(!text.contains("Omitted additional"), "{name}"),
                }
            }
        }
    } else {
        assert!(!output.contains("= Worker Upgrade ="), "{name}");
    }

    // Health: the table, and the detailed blocks byte for byte.
    assert_eq!(
        health_table(&v),
        table_after(&output, "= Update Health ="),
        "{name}: health table"
    );
    if !v.health.is_empty() {
        let expected = &detailed[detailed.find("= Update Health =").unwrap()..];
        assert_eq!(health_details(&v), expected, "{name}: detailed health");
    }
}

#[test]
fn oc_examples_facts_are_derivable_from_the_insights() {
    let Some(dir) = examples_dir() else {
        return;
    };
    let cases = cases(&dir);
    assert!(!cases.is_empty(), "no *-cv.yaml in {}", dir.display());
    for (name, path) in cases {
        check_case(&name, &path);
    }
}

/// The project's bar: the built-in informers' insights, through the store and the renderer,
/// reproduce `oc`'s output byte for byte.
#[test]
fn oc_examples_render_byte_for_byte_through_store_and_renderer() {
    use update_status_controller::render::{Details, render};
    use update_status_controller::store::{DEFAULT_BUDGET_BYTES, Store};

    let Some(dir) = examples_dir() else {
        return;
    };
    let mut failures = Vec::new();
    for (name, path) in cases(&dir) {
        let state = OcMockSource::new(&path).load().unwrap();
        let now = mock_now(&state);
        let mut store = Store::new();
        for o in assess(&state, now, Timestamp(jiff::Timestamp::now())) {
            store.replace(&o.informer, true, o.insights, now);
        }
        let publication = store.publication(now, DEFAULT_BUDGET_BYTES);
        for (suffix, details) in [
            ("output", Details::none()),
            ("detailed-output", Details::all()),
        ] {
            let want = std::fs::read_to_string(dir.join(format!("{name}.{suffix}"))).unwrap();
            let got = render(
                &publication.status,
                publication.nodes.values(),
                now,
                &details,
            )
            .unwrap();
            if got != want {
                failures.push(format!(
                    "{name}.{suffix}:\n--- want\n{want}\n--- got\n{got}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
