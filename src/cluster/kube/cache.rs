//! What the watches have seen: one map per kind, replaced atomically on each (re)list, and a
//! record of which built-in informers the changes since the last evaluation touch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use tokio::sync::Notify;
use update_status_api::v1alpha1::UpdateInformer;

use crate::cluster::ClusterState;
use crate::cluster::openshift::{
    AlertData, ClusterOperator, ClusterVersion, MachineConfig, MachineConfigPool,
};

/// The ClusterVersion the rules read.
pub const CLUSTER_VERSION_NAME: &str = "version";

/// Which consumers a change concerns; the built-in informers recompute only what is touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// The `cluster-version` informer (ClusterVersion, ClusterOperators, the MCO Deployment).
    pub cluster_version: bool,
    /// The `machine-config` informer (ClusterVersion, pools, MachineConfigs, Nodes).
    pub machine_config: bool,
    /// The `alerts` informer (ClusterVersion, alerts).
    pub alerts: bool,
    /// The UpdateInformer registry.
    pub informers: bool,
}

impl Touched {
    /// Nothing.
    pub const NONE: Self = Self {
        cluster_version: false,
        machine_config: false,
        alerts: false,
        informers: false,
    };
    /// Every built-in informer (a ClusterVersion change).
    pub const ALL_BUILTIN: Self = Self {
        cluster_version: true,
        machine_config: true,
        alerts: true,
        informers: false,
    };
    /// Only the `cluster-version` informer.
    pub const CLUSTER_VERSION: Self = Self {
        cluster_version: true,
        ..Self::NONE
    };
    /// Only the `machine-config` informer.
    pub const MACHINE_CONFIG: Self = Self {
        machine_config: true,
        ..Self::NONE
    };
    /// Only the `alerts` informer.
    pub const ALERTS: Self = Self {
        alerts: true,
        ..Self::NONE
    };
    /// Only the registry.
    pub const INFORMERS: Self = Self {
        informers: true,
        ..Self::NONE
    };

    fn union(self, other: Self) -> Self {
        Self {
            cluster_version: self.cluster_version || other.cluster_version,
            machine_config: self.machine_config || other.machine_config,
            alerts: self.alerts || other.alerts,
            informers: self.informers || other.informers,
        }
    }
}

/// The objects of one kind, by name, as the latest list and the watch events since describe them.
#[derive(Debug)]
pub struct Watched<T> {
    objects: BTreeMap<String, T>,
    /// Objects of a (re)list in progress; they replace `objects` when it completes, so readers
    /// never see half a list.
    relist: Option<BTreeMap<String, T>>,
    synced: bool,
}

impl<T> Default for Watched<T> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            relist: None,
            synced: false,
        }
    }
}

impl<T: Clone> Watched<T> {
    /// A (re)list starts.
    pub fn begin_list(&mut self) {
        self.relist = Some(BTreeMap::new());
    }

    /// An object of the list in progress.
    pub fn listed(&mut self, name: String, object: T) {
        self.relist
            .get_or_insert_with(BTreeMap::new)
            .insert(name, object);
    }

    /// The list is complete: it replaces what was held.
    pub fn end_list(&mut self) {
        self.objects = self.relist.take().unwrap_or_default();
        self.synced = true;
    }

    /// An object was added or changed.
    pub fn applied(&mut self, name: String, object: T) {
        self.objects.insert(name, object);
    }

    /// An object was deleted (or is no longer usable).
    pub fn deleted(&mut self, name: &str) {
        self.objects.remove(name);
    }

    /// Whether a first list has completed.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The objects, in name order (the order the API server lists them, which `oc` keeps).
    pub fn values(&self) -> Vec<T> {
        self.objects.values().cloned().collect()
    }

    /// One object by name.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.objects.get(name)
    }

    /// How many objects are held.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// One slot, shared between its watch task and the readers.
pub type Slot<T> = Arc<Mutex<Watched<T>>>;

/// Locks a slot; a panic elsewhere does not make the cache unreadable.
pub fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything the watches maintain, plus the alerts the alerts poller fetched.
#[derive(Default)]
pub struct ClusterCache {
    /// ClusterVersions (the rules read the one named `version`).
    pub cluster_versions: Slot<ClusterVersion>,
    /// ClusterOperators.
    pub cluster_operators: Slot<ClusterOperator>,
    /// MachineConfigPools.
    pub pools: Slot<MachineConfigPool>,
    /// MachineConfigs (metadata only).
    pub machine_configs: Slot<MachineConfig>,
    /// Nodes, trimmed.
    pub nodes: Slot<Node>,
    /// The machine-config operator's Deployment.
    pub mco_deployment: Slot<Deployment>,
    /// UpdateInformers that pass every rule.
    pub update_informers: Slot<UpdateInformer>,
    /// The latest alerts; `None` until fetched (or when there is no alerts source).
    pub alerts: Mutex<Option<AlertData>>,
    touched: Mutex<Touched>,
    /// Woken whenever something is touched.
    pub changed: Notify,
}

impl ClusterCache {
    /// A new, empty cache.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records that `what` changed and wakes the evaluator.
    pub fn touch(&self, what: Touched) {
        let mut t = lock(&self.touched);
        *t = t.union(what);
        drop(t);
        self.changed.notify_one();
    }

    /// What changed since the last call, and forget it.
    pub fn take_touched(&self) -> Touched {
        std::mem::take(&mut *lock(&self.touched))
    }

    /// Whether every watch has completed its first list; before that, assessing would report
    /// a cluster with objects missing.
    pub fn synced(&self) -> bool {
        lock(&self.cluster_versions).synced()
            && lock(&self.cluster_operators).synced()
            && lock(&self.pools).synced()
            && lock(&self.machine_configs).synced()
            && lock(&self.nodes).synced()
            && lock(&self.mco_deployment).synced()
            && lock(&self.update_informers).synced()
    }

    /// The UpdateInformers held.
    pub fn update_informers(&self) -> Vec<UpdateInformer> {
        lock(&self.update_informers).values()
    }

    /// A snapshot with what the `touched` informers read (the rest left empty, to save copying
    /// 5,000 nodes when only a ClusterOperator changed).
    pub fn snapshot(&self, touched: Touched) -> ClusterState {
        let cv = lock(&self.cluster_versions)
            .get(CLUSTER_VERSION_NAME)
            .cloned()
            .unwrap_or_default();
        let mut state = ClusterState {
            cv,
            ..ClusterState::default()
        };
        if touched.cluster_version {
            state.cos = lock(&self.cluster_operators).values();
            state.mco_deployment = lock(&self.mco_deployment).values().into_iter().next();
        }
        if touched.machine_config {
            state.mcps = lock(&self.pools).values();
            state.mcs = lock(&self.machine_configs).values();
            state.nodes = lock(&self.nodes).values();
        }
        if touched.alerts {
            state.alerts = lock(&self.alerts).clone();
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relist_replaces_the_objects_only_when_complete() {
        let mut w = Watched::default();
        assert!(!w.synced());
        w.begin_list();
        w.listed("a".to_owned(), 1);
        w.listed("b".to_owned(), 2);
        assert!(w.is_empty(), "half a list is not visible");
        w.end_list();
        assert!(w.synced());
        assert_eq!(w.values(), vec![1, 2]);
        w.applied("c".to_owned(), 3);
        w.deleted("a");
        assert_eq!(w.values(), vec![2, 3]);
        // A relist after a 410: objects deleted meanwhile disappear, the rest stay meanwhile.
        w.begin_list();
        w.listed("c".to_owned(), 30);
        assert_eq!(w.values(), vec![2, 3]);
        w.end_list();
        assert_eq!(w.values(), vec![30]);
    }

    #[test]
    fn touches_accumulate_until_taken() {
        let cache = ClusterCache::new();
        cache.touch(Touched::MACHINE_CONFIG);
        cache.touch(Touched::INFORMERS);
        let t = cache.take_touched();
        assert!(t.machine_config && t.informers && !t.cluster_version && !t.alerts);
        assert_eq!(cache.take_touched(), Touched::NONE);
    }

    #[test]
    fn a_snapshot_copies_only_what_the_touched_informers_read() {
        let cache = ClusterCache::new();
        lock(&cache.nodes).applied("n".to_owned(), Node::default());
        lock(&cache.cluster_operators).applied("dns".to_owned(), ClusterOperator::default());
        let s = cache.snapshot(Touched::CLUSTER_VERSION);
        assert_eq!((s.cos.len(), s.nodes.len()), (1, 0));
        let s = cache.snapshot(Touched::MACHINE_CONFIG);
        assert_eq!((s.cos.len(), s.nodes.len()), (0, 1));
    }
}
