//! The size budget: the published object must stay under a byte limit, counted as etcd stores it.
//! Third parties (informers that own no part of the update's status) share a quarter of it,
//! max-min fairly, so none can push out another's insights or the owners'. When the object
//! would still not fit, third parties' insights are left out first, then the owners' least
//! informative — healthy operators before pools, the control plane and health insights — and
//! everything left out is counted per informer and type.
//!
//! What etcd stores is not the status we send: the API server adds metadata and, because the
//! status is written by server-side apply, a `managedFields` entry listing every field path the
//! controller owns — one `k:{"uid":"..."}` entry per insight, with an `f:` entry per field
//! below it. Counting only the status's JSON (as this module once did) let a status of 1,045,357
//! bytes of JSON within a 1 MiB budget become an object etcd refused (`etcdserver: request is too
//! large`), on every retry. So each insight's cost here is its JSON plus its share of
//! `managedFields`, and the final object is measured the same way.
//!
//! Measured on a real kube-apiserver v1.36 (5,000-node synthetic cluster, statuses applied with
//! the controller's field manager and read back with `--show-managed-fields`, or from etcd):
//! `fieldsV1` adds 0.72–0.76 bytes per byte of status JSON. A status of 597,206 bytes of JSON was
//! stored as 1,042,900 bytes, 445,066 of them `fieldsV1`, 628 the rest of the metadata; the
//! object published with the default budget (`tests/real_api_size.rs`) was 740,772 bytes of
//! status and 563,722 of managedFields. Per insight: a Node insight of 850–1,090 bytes of JSON
//! carries a field-set entry of 645–680 bytes (on average 852 + 647 = 1,500 bytes stored, x1.76),
//! a ClusterOperator 540–590 → 430–450, a MachineConfigPool 720 → 825 (seven keyed summaries), a
//! Health 550–690 → 270–290. No single ratio is honest across that mix, so the field set is
//! computed from the insight's shape — in the same pass that counts its JSON, no extra
//! serialisation — and reproduces the server's `fieldsV1` to the byte on those statuses
//! (142,040, 292,795 and 445,066 bytes; the estimate of the whole object is within 0.05%).

use std::collections::HashSet;
use std::io;

use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    ConditionStatus, Insight, InsightPayload, UpgradeStatusStatus, find_condition,
};

use super::routing::{self, InformerView, Omitted};

/// The default budget: 256 KiB (262,144 bytes) of the object as etcd stores it, managedFields
/// included. Node insights have their own objects, so the singleton holds only what does not
/// grow with the cluster (control plane, operators, pools, health insights, informer
/// summaries): a sixth of etcd's `--max-request-bytes` (1.5 MiB by default and in OpenShift), so
/// each write, and each event every watcher receives, stays small. Beyond it the least
/// informative insights are left out and counted; should the API server still refuse a write
/// as too large, the publisher lowers its budget.
pub const DEFAULT_BUDGET_BYTES: usize = 262_144;

/// Room left for what wraps the insights (informer lists, pools, summaries) when estimating.
const WRAPPER_ALLOWANCE: usize = 8192;

/// What the API server stores besides the status and the controller's `fieldsV1`: apiVersion,
/// kind, `spec: {}`, metadata (name, uid, resourceVersion, generation, creationTimestamp) and
/// the managedFields entries around the field sets (manager, operation, time, subresource, and
/// the create's own entry). Measured: 628 bytes; rounded up.
const ENVELOPE_BYTES: usize = 1024;

/// The lists of the UpgradeStatus schema that are `x-kubernetes-list-type: map`, by field name,
/// with their key. Server-side apply records one `k:{...}` entry per item of those; every other
/// list is atomic and recorded as one leaf. (A test checks this against the CRD.)
const LIST_MAP_KEYS: &[(&str, &str)] = &[
    ("conditions", "type"),
    ("summaries", "type"),
    ("omitted", "type"),
    ("insights", "uid"),
    ("informers", "name"),
    ("workerPools", "name"),
];

/// Builds the status and, when it is over `budget` bytes as stored, leaves insights out until it
/// fits.
///
/// Each insight's size is counted once; what to leave out is decided by arithmetic, and only the
/// final object is built and measured (again only if the estimate was short).
pub(super) fn fit(view: &[InformerView<'_>], now: Timestamp, budget: usize) -> UpgradeStatusStatus {
    let sizes: Vec<Vec<usize>> = view
        .iter()
        .map(|v| v.insights.iter().map(insight_cost).collect())
        .collect();
    let base = stored_len(&routing::build(view, &|_, _| false, Omitted::new(), now));
    // Third parties first keep within their shares, whatever room the owners leave.
    let mut dropped = over_share(view, &sizes, budget);
    let total: usize = sizes
        .iter()
        .enumerate()
        .flat_map(|(vi, s)| s.iter().enumerate().map(move |(ii, b)| (vi, ii, *b)))
        .filter(|(vi, ii, _)| !dropped.contains(&(*vi, *ii)))
        .map(|(_, _, b)| b)
        .sum();
    // Third parties' insights before any owner's; then least informative first; within a rank,
    // the later an insight was reported, the sooner it goes. Ranked only when something must go.
    let ranked = || {
        let mut ranked: Vec<(bool, u8, usize, usize)> = view
            .iter()
            .enumerate()
            .flat_map(|(vi, v)| {
                let owner = is_owner(v);
                v.insights
                    .iter()
                    .enumerate()
                    .map(move |(ii, x)| (owner, rank(x), vi, ii))
            })
            .collect();
        ranked.sort_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then(b.2.cmp(&a.2))
                .then(b.3.cmp(&a.3))
        });
        ranked.into_iter().map(|(_, rank, vi, ii)| (rank, vi, ii))
    };
    let mut excess = (base + total + WRAPPER_ALLOWANCE).saturating_sub(budget);
    let mut candidates = (excess > 0).then(ranked);
    loop {
        // `excess` is checked before the next candidate is taken: one taken and not dropped
        // would never be offered again, and more informative insights would go in its place.
        while excess > 0 {
            let Some((_, vi, ii)) = candidates.as_mut().and_then(Iterator::next) else {
                break;
            };
            if !dropped.insert((vi, ii)) {
                continue; // already over its informer's share
            }
            let bytes = sizes.get(vi).and_then(|s| s.get(ii)).copied().unwrap_or(0);
            excess = excess.saturating_sub(bytes);
        }
        let mut omitted = Omitted::new();
        for &(vi, ii) in &dropped {
            if let Some((v, x)) = view
                .get(vi)
                .and_then(|v| v.insights.get(ii).map(|x| (v, x)))
            {
                *omitted
                    .entry((v.name.clone(), x.insight.insight_type()))
                    .or_default() += 1;
            }
        }
        let status = routing::build(view, &|vi, ii| !dropped.contains(&(vi, ii)), omitted, now);
        let size = stored_len(&status);
        if size <= budget {
            return status;
        }
        // The estimate can be short even when it said everything fits: routing copies parts of
        // some insights (a ClusterVersion's or a pool's `Updating` condition) into the object.
        let remaining = candidates.get_or_insert_with(ranked);
        if remaining.len() == 0 {
            return status;
        }
        excess = size - budget;
    }
}

/// The part of the budget all third parties together may fill: whatever they send, at least
/// three quarters stay for the owners of the update's status (the built-in informers and the
/// producers that take over from them).
pub const THIRD_PARTY_SHARE_DIVISOR: usize = 4;

/// Whether an informer owns part of the update's status (see [`routing::is_owner`]).
fn is_owner(v: &InformerView<'_>) -> bool {
    v.builtin || routing::is_owner(v.name)
}

/// The insights third parties hold beyond their shares, as `(informer, insight)` indexes. The
/// third parties split `budget / THIRD_PARTY_SHARE_DIVISOR` max-min fairly: one that needs less
/// than an equal part leaves the rest to the others, so no third party can push out another's
/// insights, however much it sends. Each one over its part loses its own latest insights first.
fn over_share(
    view: &[InformerView<'_>],
    sizes: &[Vec<usize>],
    budget: usize,
) -> HashSet<(usize, usize)> {
    let mut wants: Vec<(usize, usize)> = view
        .iter()
        .zip(sizes)
        .enumerate()
        .filter(|(_, (v, _))| !is_owner(v))
        .map(|(vi, (_, s))| (s.iter().sum::<usize>(), vi))
        .collect();
    wants.sort_unstable();
    let mut left = budget / THIRD_PARTY_SHARE_DIVISOR;
    let mut dropped = HashSet::new();
    let count = wants.len();
    for (served, (want, vi)) in wants.into_iter().enumerate() {
        let share = left / (count - served);
        let mut used = want;
        let Some(insight_sizes) = sizes.get(vi) else {
            continue;
        };
        for (ii, bytes) in insight_sizes.iter().enumerate().rev() {
            if used <= share {
                break;
            }
            dropped.insert((vi, ii));
            used -= bytes;
        }
        left -= used;
    }
    dropped
}

/// The size of the `UpgradeStatus` holding `status` as etcd stores it: the status as JSON, the
/// controller's managedFields field set for it, and the rest of the object's metadata.
pub(super) fn stored_len(status: &UpgradeStatusStatus) -> usize {
    let cost = stored_cost(status, None);
    // `{"f:status":` + the status's field set + `}`.
    let field_set = 12 + cost.field_set + 1;
    cost.json
        .saturating_add(field_set)
        .saturating_add(ENVELOPE_BYTES)
}

/// What one insight adds to the stored object: its JSON and its entry in the `f:insights` field
/// set, each with the comma that separates it from its neighbour.
fn insight_cost(x: &Insight) -> usize {
    let cost = stored_cost(x, Some("uid"));
    cost.json.saturating_add(cost.field_set).saturating_add(2)
}

/// Bytes of a value as etcd stores it, in two parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StoredCost {
    /// The value as JSON, the way the API server encodes it.
    json: usize,
    /// Its server-side apply field set, as JSON: for a list-map item, the whole `"k:{...}":{...}`
    /// entry; otherwise the `{...}` node.
    field_set: usize,
}

/// Serialises `value` once, counting its JSON and its field set. `item_key` names the key when
/// `value` is an item of a list-map (an insight: `uid`).
fn stored_cost<T: serde::Serialize>(value: &T, item_key: Option<&'static str>) -> StoredCost {
    let mut counter = ByteCounter(0);
    let mut fields = FieldSetFormatter::new(item_key);
    let mut ser = serde_json::Serializer::with_formatter(&mut counter, &mut fields);
    match value.serialize(&mut ser) {
        Ok(()) => StoredCost {
            json: counter.0.saturating_add(fields.html_escapes),
            field_set: fields.result,
        },
        Err(_) => StoredCost {
            json: usize::MAX / 4,
            field_set: 0,
        },
    }
}

/// A writer that only counts.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a JSON string being written goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    /// Nowhere.
    None,
    /// An object key: kept, it names a field.
    Key,
    /// The key value of a list-map item: its length and the characters JSON must escape again
    /// when it becomes part of a `k:{...}` key.
    Value,
}

/// A JSON object or array being written.
#[derive(Debug)]
enum Frame {
    Object {
        /// The key field's name when the object is an item of a list-map.
        item_key: Option<&'static str>,
        /// Bytes of the field-set entries of its fields so far, commas included.
        bytes: usize,
        /// How many entries.
        entries: usize,
        /// The current field's name length, JSON-escaped.
        name_len: usize,
        /// The list-map key when the current field is a list-map.
        list_key: Option<&'static str>,
        /// Whether the current field is this item's key.
        at_key: bool,
        /// The item's key value as JSON: its length and the `"` and `\` in it.
        key_len: usize,
        key_specials: usize,
    },
    Array {
        /// The key of its items when it is a list-map; `None` when atomic.
        key: Option<&'static str>,
        /// Bytes of its items' field-set entries, commas included.
        bytes: usize,
        items: usize,
    },
}

/// A `serde_json` formatter that writes compact JSON and, on the side, computes the size of the
/// field set server-side apply records for the value (`fieldsV1`, as structured-merge-diff
/// writes it): an `"f:<name>":` entry per field, `{}` for a leaf (a scalar, an empty object or an
/// atomic list); for an item of a list-map `"k:{\"<key>\":<value>}":{".":{},...}`; an empty
/// list-map is not recorded. Also counts what Go's JSON encoder escapes and serde's does not
/// (`<`, `>`, `&` become `\u003c` ...), since the API server stores Go's encoding.
struct FieldSetFormatter {
    frames: Vec<Frame>,
    root_item_key: Option<&'static str>,
    capture: Capture,
    key: String,
    value_len: usize,
    value_specials: usize,
    /// The field-set node of the value just completed; `None` when it is not recorded.
    pending: Option<usize>,
    result: usize,
    html_escapes: usize,
}

/// A field-set leaf: `{}`.
const LEAF: usize = 2;

impl FieldSetFormatter {
    fn new(root_item_key: Option<&'static str>) -> Self {
        Self {
            frames: Vec::new(),
            root_item_key,
            capture: Capture::None,
            key: String::new(),
            value_len: 0,
            value_specials: 0,
            pending: None,
            result: 0,
            html_escapes: 0,
        }
    }

    /// A scalar value was written.
    fn scalar(&mut self) {
        self.pending = Some(LEAF);
    }

    /// A finished object or array's node goes to its parent (or is the result).
    fn deliver(&mut self, node: Option<usize>, item_entry: Option<usize>) {
        match self.frames.last_mut() {
            Some(Frame::Array {
                key: Some(_),
                bytes,
                items,
            }) => {
                if let Some(entry) = item_entry {
                    *bytes += usize::from(*items > 0) + entry;
                    *items += 1;
                }
            }
            Some(Frame::Array { key: None, .. }) => {}
            Some(Frame::Object { .. }) => self.pending = node,
            None => self.result = item_entry.or(node).unwrap_or(0),
        }
    }
}

impl Formatter for &mut FieldSetFormatter {
    fn write_null<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_null(w)
    }
    fn write_bool<W: ?Sized + io::Write>(&mut self, w: &mut W, v: bool) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_bool(w, v)
    }
    fn write_i8<W: ?Sized + io::Write>(&mut self, w: &mut W, v: i8) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_i8(w, v)
    }
    fn write_i16<W: ?Sized + io::Write>(&mut self, w: &mut W, v: i16) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_i16(w, v)
    }
    fn write_i32<W: ?Sized + io::Write>(&mut self, w: &mut W, v: i32) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_i32(w, v)
    }
    fn write_i64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: i64) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_i64(w, v)
    }
    fn write_i128<W: ?Sized + io::Write>(&mut self, w: &mut W, v: i128) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_i128(w, v)
    }
    fn write_u8<W: ?Sized + io::Write>(&mut self, w: &mut W, v: u8) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_u8(w, v)
    }
    fn write_u16<W: ?Sized + io::Write>(&mut self, w: &mut W, v: u16) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_u16(w, v)
    }
    fn write_u32<W: ?Sized + io::Write>(&mut self, w: &mut W, v: u32) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_u32(w, v)
    }
    fn write_u64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: u64) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_u64(w, v)
    }
    fn write_u128<W: ?Sized + io::Write>(&mut self, w: &mut W, v: u128) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_u128(w, v)
    }
    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, v: f32) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_f32(w, v)
    }
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_f64(w, v)
    }
    fn write_number_str<W: ?Sized + io::Write>(&mut self, w: &mut W, v: &str) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_number_str(w, v)
    }
    fn write_raw_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        self.scalar();
        CompactFormatter.write_raw_fragment(w, fragment)
    }

    fn begin_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.capture == Capture::Value {
            self.value_len += 1;
            self.value_specials += 1;
        }
        CompactFormatter.begin_string(w)
    }
    fn end_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.capture {
            // The key's end is handled by `end_object_key`.
            Capture::Key => {}
            Capture::Value => {
                self.value_len += 1;
                self.value_specials += 1;
                self.capture = Capture::None;
                if let Some(Frame::Object {
                    key_len,
                    key_specials,
                    ..
                }) = self.frames.last_mut()
                {
                    *key_len = self.value_len;
                    *key_specials = self.value_specials;
                }
                self.scalar();
            }
            Capture::None => self.scalar(),
        }
        CompactFormatter.end_string(w)
    }
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        self.html_escapes += 5 * fragment
            .bytes()
            .filter(|b| matches!(b, b'<' | b'>' | b'&'))
            .count();
        match self.capture {
            Capture::Key => self.key.push_str(fragment),
            Capture::Value => self.value_len += fragment.len(),
            Capture::None => {}
        }
        CompactFormatter.write_string_fragment(w, fragment)
    }
    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        if self.capture != Capture::None {
            let (len, specials) = match escape {
                // `\"` and `\\`: both characters are escaped again inside a `k:` key.
                CharEscape::Quote | CharEscape::ReverseSolidus => (2, 2),
                CharEscape::AsciiControl(_) => (6, 1),
                _ => (2, 1),
            };
            if self.capture == Capture::Key {
                // Field names never need escapes; should one, only its length matters.
                self.key.extend(std::iter::repeat_n('\\', len));
            } else {
                self.value_len += len;
                self.value_specials += specials;
            }
        }
        CompactFormatter.write_char_escape(w, escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let key = match self.frames.last() {
            Some(Frame::Object { list_key, .. }) => *list_key,
            _ => None,
        };
        self.frames.push(Frame::Array {
            key,
            bytes: 0,
            items: 0,
        });
        CompactFormatter.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let node = match self.frames.pop() {
            Some(Frame::Array { key: None, .. }) => Some(LEAF),
            Some(Frame::Array { items: 0, .. }) => None,
            Some(Frame::Array { bytes, .. }) => Some(2 + bytes),
            _ => None,
        };
        self.deliver(node, None);
        CompactFormatter.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        CompactFormatter.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        CompactFormatter.end_array_value(w)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let item_key = match self.frames.last() {
            Some(Frame::Array { key, .. }) => *key,
            Some(Frame::Object { .. }) => None,
            None => self.root_item_key,
        };
        self.frames.push(Frame::Object {
            item_key,
            bytes: 0,
            entries: 0,
            name_len: 0,
            list_key: None,
            at_key: false,
            key_len: 0,
            key_specials: 0,
        });
        CompactFormatter.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let (node, entry) = match self.frames.pop() {
            Some(Frame::Object {
                item_key: Some(key),
                bytes,
                entries,
                key_len,
                key_specials,
                ..
            }) => {
                // `{".":{}` + `,` fields + `}`.
                let node = 7 + if entries > 0 { 1 + bytes } else { 0 } + 1;
                // `k:{"<key>":<value>}` is 7 + key + value characters, its `"` and `\` escaped
                // once more (the key's two quotes and the value's), then quoted.
                let raw = 7 + key.len() + key_len;
                let name = 2 + raw + 2 + key_specials;
                (Some(node), Some(name + 1 + node))
            }
            Some(Frame::Object { bytes, entries, .. }) => {
                (Some(if entries == 0 { LEAF } else { 2 + bytes }), None)
            }
            _ => (None, None),
        };
        self.deliver(node, entry);
        CompactFormatter.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.capture = Capture::Key;
        self.key.clear();
        CompactFormatter.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.capture = Capture::None;
        let name = self.key.as_str();
        if let Some(Frame::Object {
            item_key,
            name_len,
            list_key,
            at_key,
            ..
        }) = self.frames.last_mut()
        {
            *name_len = name.len();
            *list_key = LIST_MAP_KEYS
                .iter()
                .find(|(field, _)| *field == name)
                .map(|(_, key)| *key);
            *at_key = *item_key == Some(name);
        }
        CompactFormatter.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pending = None;
        if let Some(Frame::Object { at_key: true, .. }) = self.frames.last() {
            self.capture = Capture::Value;
            self.value_len = 0;
            self.value_specials = 0;
        }
        CompactFormatter.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        // A key that was not a string leaves nothing to capture.
        self.capture = Capture::None;
        let child = self.pending.take();
        if let (
            Some(Frame::Object {
                bytes,
                entries,
                name_len,
                ..
            }),
            Some(child),
        ) = (self.frames.last_mut(), child)
        {
            // `"f:<name>":` + the child's node.
            *bytes += usize::from(*entries > 0) + 4 + *name_len + 1 + child;
            *entries += 1;
        }
        CompactFormatter.end_object_value(w)
    }
}

/// How informative an insight is: lower ranks are left out first.
fn rank(x: &Insight) -> u8 {
    let is = |conds: &[update_status_api::v1alpha1::Condition], t: &str, s: ConditionStatus| {
        find_condition(conds, t).is_some_and(|c| c.status == s)
    };
    match &x.insight {
        InsightPayload::Node(n) => {
            let healthy = !is(&n.conditions, "Available", ConditionStatus::False)
                && !is(&n.conditions, "Degraded", ConditionStatus::True);
            let reason = find_condition(&n.conditions, "Updating").map(|c| c.reason.as_str());
            match (healthy, reason) {
                (true, Some("Completed")) => 0,
                (true, Some("Pending" | "Paused" | "Finishing")) => 1,
                (true, _) => 2,
                (false, _) => 4,
            }
        }
        InsightPayload::ClusterOperator(co) => {
            let done = find_condition(&co.conditions, "Updating")
                .is_some_and(|c| c.reason.as_str() == "Updated");
            if done && is(&co.conditions, "Healthy", ConditionStatus::True) {
                3
            } else {
                4
            }
        }
        InsightPayload::MachineConfigPool(_) => 5,
        InsightPayload::ClusterVersion(_) => 6,
        InsightPayload::Health(_) => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use update_status_api::v1alpha1::{InformerName, InformerState};

    /// A status as the controller publishes it (cut down from a 5,000-node synthetic cluster:
    /// every insight type, keyed summaries and conditions, an atomic resource list, an empty
    /// remediation, escaped quotes, and `<`, `>`, `&`). Applied with the controller's field
    /// manager to a real kube-apiserver v1.36 and read back, it was stored as 10,076 bytes: the
    /// status as 5,306 bytes of JSON (serde's encoding) plus 20 bytes of Go's `\u003c`-style
    /// escapes, a `fieldsV1` of 4,122 bytes, and the rest metadata. In that `fieldsV1`, the node
    /// insight's entry is 680 bytes. (Re-measured after the field renames of issue 15; node
    /// insights are no longer published in the singleton, but the estimator must still count
    /// whatever the schema admits.)
    const MEASURED: &str = r#"{"conditions":[{"type":"Available","status":"True","lastTransitionTime":"2026-06-01T11:56:00Z","reason":"AsExpected","message":"Publishing the insights of 3 informers"}],"observedAt":"2026-06-01T12:02:00Z","controlPlane":{"conditions":[{"type":"Updating","status":"True","lastTransitionTime":"2026-06-01T11:13:00Z","reason":"ClusterVersionProgressing","message":"Working towards 4.17.0: 712 of 903 done (78% complete), waiting on machine-config"}],"resource":{"group":"config.openshift.io","resource":"clusterversions","name":"version"},"poolResource":{"group":"machineconfiguration.openshift.io","resource":"machineconfigpools","name":"master"},"targetVersion":"4.17.0","completion":87,"informers":[{"name":"alerts","insights":[
{"uid":"alert-9ce38dc49c81693f","acquiredAt":"2026-06-01T11:56:00.000368975Z","insight":{"type":"Health","health":{"startedAt":"2026-06-01T11:48:00Z","scope":{"type":"ControlPlane","resources":[{"group":"config.openshift.io","resource":"alerts","name":"PodDisruptionBudgetAtLimit","namespace":"openshift-ingress"}]},"impact":{"level":"Warning","type":"Unknown","summary":"Alert is firing: disk usage > 90% & <rising>","description":"Alert known to affect updates started firing during the update. The alert description is: The pod disruption budget is at the minimum disruptions allowed level."},"remediation":{"reference":"https://github.com/openshift/runbooks/blob/master/alerts/cluster-kube-controller-manager-operator/PodDisruptionBudgetAtLimit.md"}}}}]},{"name":"cluster-version","insights":[
{"uid":"co-cloud-credential","acquiredAt":"2026-06-01T11:56:00.000368975Z","insight":{"type":"ClusterOperator","clusterOperator":{"name":"cloud-credential","resource":{"group":"config.openshift.io","resource":"clusteroperators","name":"cloud-credential"},"conditions":[{"type":"Updating","status":"False","lastTransitionTime":"2026-05-02T12:00:00Z","reason":"Pending","message":""},{"type":"Healthy","status":"True","lastTransitionTime":"2026-05-02T12:00:00Z","reason":"AsExpected","message":"The operator is available and not degraded"}]}}}]},{"name":"machine-config","insights":[
{"uid":"mcp-master","acquiredAt":"2026-06-01T11:56:00.000368975Z","insight":{"type":"MachineConfigPool","machineConfigPool":{"name":"master","resource":{"group":"machineconfiguration.openshift.io","resource":"machineconfigpools","name":"master"},"scopeType":"ControlPlane","assessment":"Pending","completion":0,"summaries":[{"type":"Total","count":3},{"type":"Available","count":3},{"type":"Progressing","count":0},{"type":"Outdated","count":3},{"type":"Draining","count":0},{"type":"Excluded","count":0},{"type":"Degraded","count":0}],"conditions":[{"type":"Updating","status":"False","lastTransitionTime":"2026-06-01T11:56:00.000368975Z","reason":"Pending","message":"No node in the pool has started updating"}]}}}]}]},
"workerPools":[{"name":"worker","resource":{"group":"machineconfiguration.openshift.io","resource":"machineconfigpools","name":"worker"},"conditions":[{"type":"Updating","status":"True","lastTransitionTime":"2026-06-01T11:56:00.000368975Z","reason":"Updating","message":"Nodes in the pool are updating"}],"informers":[{"name":"machine-config","insights":[
{"uid":"node-worker-00023-example-internal","acquiredAt":"2026-06-01T11:56:00.000368975Z","insight":{"type":"Node","node":{"name":"worker-00023.example.internal","resource":{"resource":"nodes","name":"worker-00023.example.internal"},"poolResource":{"group":"machineconfiguration.openshift.io","resource":"machineconfigpools","name":"worker"},"scopeType":"WorkerPool","version":"4.16.3","estimatedToCompleteSeconds":300,"conditions":[{"type":"Updating","status":"True","lastTransitionTime":"2026-06-01T11:56:00.000368975Z","reason":"Rebooting","message":"The node is rebooting"},{"type":"Available","status":"False","lastTransitionTime":"2026-06-01T11:56:00.000368975Z","reason":"Updating","message":"Machine Config Daemon is processing the node"},{"type":"Degraded","status":"False","lastTransitionTime":"2026-06-01T11:56:00.000368975Z","reason":"AsExpected","message":"The node is not degraded"}]}}},
{"uid":"node-unavailable-470798716befcd2f","acquiredAt":"2026-06-01T11:56:00.000368975Z","insight":{"type":"Health","health":{"startedAt":"2026-06-01T11:30:00Z","scope":{"type":"WorkerPool","pool":"worker","resources":[{"resource":"nodes","name":"worker-00477.example.internal"}]},"impact":{"level":"Warning","type":"UpdateSpeed","summary":"Node worker-00477.example.internal is not ready","description":"Node has a Ready!=True condition with Reason \"Not ready\" and message \"container runtime network not ready\""},"remediation":{"reference":"https://docs.openshift.com/container-platform/latest/post_installation_configuration/machine-configuration-tasks.html#understanding-the-machine-config-operator"}}}}]}]}],
"informers":[{"name":"alerts","source":"BuiltIn","state":"Reporting","lastReportTime":"2026-06-01T11:56:00.000368975Z","insights":2},{"name":"cluster-version","source":"BuiltIn","state":"Reporting","lastReportTime":"2026-06-01T11:56:00.000368975Z","insights":62,"omitted":[{"type":"ClusterOperator","count":51}]},{"name":"machine-config","source":"BuiltIn","state":"Reporting","lastReportTime":"2026-06-01T11:56:00.000368975Z","insights":5030,"omitted":[{"type":"Node","count":4815}]}],"healthInsights":31}"#;

    /// What the real API server stored for [`MEASURED`].
    const MEASURED_JSON: usize = 5_306;
    const MEASURED_GO_ESCAPES: usize = 20;
    const MEASURED_FIELDS_V1: usize = 4_122;
    const MEASURED_STORED: usize = 10_076;
    const MEASURED_NODE_JSON: usize = 900;
    const MEASURED_NODE_ENTRY: usize = 680;

    fn measured() -> UpgradeStatusStatus {
        serde_json::from_str(MEASURED).unwrap()
    }

    #[test]
    fn the_estimate_is_what_the_real_api_server_stored() {
        let status = measured();
        assert_eq!(
            serde_json::to_vec(&status).unwrap().len(),
            MEASURED_JSON,
            "the fixture survives a round trip"
        );
        let cost = stored_cost(&status, None);
        assert_eq!(cost.json, MEASURED_JSON + MEASURED_GO_ESCAPES);
        assert_eq!(
            12 + cost.field_set + 1,
            MEASURED_FIELDS_V1,
            "fieldsV1 to the byte"
        );
        let stored = stored_len(&status);
        assert!(
            (MEASURED_STORED..=MEASURED_STORED + 512).contains(&stored),
            "{stored} bytes estimated, {MEASURED_STORED} stored"
        );

        let node = &status.worker_pools[0].informers[0].insights[0];
        assert_eq!(node.uid.as_str(), "node-worker-00023-example-internal");
        let node_cost = stored_cost(node, Some("uid"));
        assert_eq!(node_cost.json, MEASURED_NODE_JSON);
        assert_eq!(node_cost.field_set, MEASURED_NODE_ENTRY);
        assert_eq!(
            insight_cost(node),
            MEASURED_NODE_JSON + MEASURED_NODE_ENTRY + 2
        );
    }

    /// Server-side apply's rules, one by one, on values small enough to check by hand.
    #[test]
    fn field_sets_follow_server_side_apply() {
        let fields =
            |v: serde_json::Value, item: Option<&'static str>| stored_cost(&v, item).field_set;
        let len = |s: &str| s.len();
        // Scalars and empty objects are leaves; nested objects are nodes.
        assert_eq!(
            fields(serde_json::json!({"a": 1, "b": {}, "c": {"d": "x"}}), None),
            len(r#"{"f:a":{},"f:b":{},"f:c":{"f:d":{}}}"#)
        );
        // An atomic list is one leaf, whatever it holds.
        assert_eq!(
            fields(
                serde_json::json!({"resources": [{"name": "a"}, {"name": "b"}]}),
                None
            ),
            len(r#"{"f:resources":{}}"#)
        );
        // A list-map: one keyed entry per item, `"."` included; an empty one is not recorded.
        assert_eq!(
            fields(
                serde_json::json!({"conditions": [{"type": "A", "status": "True"}], "omitted": []}),
                None
            ),
            len(r#"{"f:conditions":{"k:{\"type\":\"A\"}":{".":{},"f:status":{},"f:type":{}}}}"#)
        );
        // An item on its own: the whole keyed entry; quotes in the key are escaped twice.
        assert_eq!(
            fields(serde_json::json!({"uid": "a\"b"}), Some("uid")),
            len(r#""k:{\"uid\":\"a\\\"b\"}":{".":{},"f:uid":{}}"#)
        );
    }

    #[test]
    fn go_escapes_are_counted_in_the_json() {
        let cost = stored_cost(&serde_json::json!({"m": "a < b && c > d"}), None);
        assert_eq!(
            cost.json,
            r#"{"m":"a \u003c b \u0026\u0026 c \u003e d"}"#.len()
        );
    }

    /// Every list-map of the CRD's schema is in [`LIST_MAP_KEYS`] with its key, and no atomic
    /// list shares a name with one: otherwise the estimate would count a list the wrong way.
    #[test]
    fn the_list_maps_are_those_of_the_crd() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crds/0000_00_update-status-controller_01_upgradestatuses.crd.yaml"
        );
        let crd: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let schema =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        let mut maps = std::collections::BTreeSet::new();
        let mut atomic = std::collections::BTreeSet::new();
        fn walk(
            node: &serde_json::Value,
            name: &str,
            maps: &mut std::collections::BTreeSet<(String, String)>,
            atomic: &mut std::collections::BTreeSet<String>,
        ) {
            if node["type"] == "array" {
                match node["x-kubernetes-list-type"].as_str() {
                    Some("map") => {
                        let keys = node["x-kubernetes-list-map-keys"].as_array().unwrap();
                        assert_eq!(keys.len(), 1, "{name}: one key");
                        maps.insert((name.to_owned(), keys[0].as_str().unwrap().to_owned()));
                    }
                    _ => {
                        atomic.insert(name.to_owned());
                    }
                }
                walk(&node["items"], name, maps, atomic);
            }
            if let Some(props) = node["properties"].as_object() {
                for (k, v) in props {
                    walk(v, k, maps, atomic);
                }
            }
        }
        walk(schema, "status", &mut maps, &mut atomic);
        let table: std::collections::BTreeSet<(String, String)> = LIST_MAP_KEYS
            .iter()
            .map(|(f, k)| ((*f).to_owned(), (*k).to_owned()))
            .collect();
        assert_eq!(maps, table);
        for name in &atomic {
            assert!(
                !table.iter().any(|(f, _)| f == name),
                "{name} is atomic somewhere and a list-map elsewhere"
            );
        }
    }

    /// `n` copies of the fixture's node insight, with their own uids.
    fn nodes(n: usize) -> Vec<Insight> {
        let node = measured().worker_pools[0].informers[0].insights[0].clone();
        (0..n)
            .map(|i| {
                let mut x = node.clone();
                x.uid = format!("node-{i:05}").parse().unwrap();
                x
            })
            .collect()
    }

    #[test]
    fn the_stored_size_stays_within_the_budget_and_close_to_it() {
        let name = InformerName::new("machine-config").unwrap();
        let insights = nodes(600);
        let view = [InformerView {
            name: &name,
            builtin: true,
            state: InformerState::Reporting,
            last_report: None,
            insights: &insights,
            held: insights.len(),
        }];
        let now: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let full = stored_len(&fit(&view, now, usize::MAX));
        let per_node = insight_cost(&insights[0]);
        for budget in [full, full - 1, full / 2, full / 3, 100_000, 20_000] {
            let status = fit(&view, now, budget);
            let stored = stored_len(&status);
            assert!(stored <= budget, "{stored} over a budget of {budget}");
            assert!(
                budget - stored <= WRAPPER_ALLOWANCE + 2 * per_node,
                "{stored} bytes is far under a budget of {budget}"
            );
            // The JSON alone, which the budget once counted, is well under the budget.
            assert!(serde_json::to_vec(&status).unwrap().len() < budget * 2 / 3);
        }
    }
}
