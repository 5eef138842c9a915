//! State every VM of one plugin shares, as Envoy's worker threads share it:
//! the key-value store with compare-and-swap, the shared queues, and the
//! metrics (Envoy stats are process-wide, keyed by name).
//!
//! Semantics follow proxy-wasm-cpp-host `shared_data.cc` / `shared_queue.cc`:
//! CAS values start at 1 and never take 0 ("no CAS"); a set with a non-zero
//! CAS on an existing key must match; a set on a missing key succeeds.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::abi::{MetricType, Status};

/// The store shared by the VMs of one [`crate::Gateway`].
#[derive(Debug, Default)]
pub struct SharedStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    data: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    last_cas: u32,
    queues: Vec<Queue>,
    queue_ids: HashMap<(String, Vec<u8>), u32>,
    /// Queue notifications not yet delivered: (owner VM index, queue id).
    ready: VecDeque<(usize, u32)>,
    metrics: Vec<Metric>,
    metric_ids: HashMap<Vec<u8>, u32>,
}

#[derive(Debug)]
struct Queue {
    owner_vm: usize,
    items: VecDeque<Vec<u8>>,
}

/// One metric as the host keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    pub kind: MetricType,
    /// Counter or gauge value; for a histogram, the number of samples.
    pub value: i64,
    /// Histogram samples, in order.
    pub samples: Vec<u64>,
}

impl SharedStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `proxy_get_shared_data`: the value and its CAS, if the key exists.
    pub fn get(&self, key: &[u8]) -> Option<(Vec<u8>, u32)> {
        self.lock().data.get(key).cloned()
    }

    /// `proxy_set_shared_data`.
    pub fn set(&self, key: &[u8], value: &[u8], cas: u32) -> Status {
        let mut inner = self.lock();
        let next = next_cas(&mut inner.last_cas);
        match inner.data.get_mut(key) {
            Some(entry) => {
                if cas != 0 && cas != entry.1 {
                    return Status::CasMismatch;
                }
                *entry = (value.to_vec(), next);
            }
            None => {
                inner.data.insert(key.to_vec(), (value.to_vec(), next));
            }
        }
        Status::Ok
    }

    /// Every key and value, sorted by key (for tests and reports).
    pub fn entries(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.lock()
            .data
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// `proxy_register_shared_queue`: opens the queue `name` of `vm_id`,
    /// creating it for `owner_vm` (who is told when items arrive).
    pub(crate) fn register_queue(&self, vm_id: &str, name: &[u8], owner_vm: usize) -> u32 {
        let mut inner = self.lock();
        let key = (vm_id.to_owned(), name.to_vec());
        if let Some(id) = inner.queue_ids.get(&key) {
            return *id;
        }
        inner.queues.push(Queue {
            owner_vm,
            items: VecDeque::new(),
        });
        let id = u32::try_from(inner.queues.len()).unwrap_or(u32::MAX);
        inner.queue_ids.insert(key, id);
        id
    }

    /// `proxy_resolve_shared_queue`.
    pub fn resolve_queue(&self, vm_id: &str, name: &[u8]) -> Option<u32> {
        self.lock()
            .queue_ids
            .get(&(vm_id.to_owned(), name.to_vec()))
            .copied()
    }

    /// `proxy_enqueue_shared_queue`; the queue's owner VM is notified.
    pub fn enqueue(&self, id: u32, value: &[u8]) -> Status {
        let mut inner = self.lock();
        let Some(queue) = queue_mut(&mut inner.queues, id) else {
            return Status::NotFound;
        };
        queue.items.push_back(value.to_vec());
        let owner = queue.owner_vm;
        inner.ready.push_back((owner, id));
        Status::Ok
    }

    /// `proxy_dequeue_shared_queue`.
    pub fn dequeue(&self, id: u32) -> Result<Vec<u8>, Status> {
        let mut inner = self.lock();
        let queue = queue_mut(&mut inner.queues, id).ok_or(Status::NotFound)?;
        queue.items.pop_front().ok_or(Status::Empty)
    }

    /// Takes the pending `proxy_on_queue_ready` notifications of `vm`.
    pub(crate) fn take_ready(&self, vm: usize) -> Vec<u32> {
        let mut inner = self.lock();
        let (mine, others): (VecDeque<_>, VecDeque<_>) =
            inner.ready.drain(..).partition(|(owner, _)| *owner == vm);
        inner.ready = others;
        mine.into_iter().map(|(_, id)| id).collect()
    }

    /// `proxy_define_metric`: one id per name, shared by every VM.
    pub(crate) fn define_metric(&self, kind: MetricType, name: &[u8]) -> Result<u32, Status> {
        let mut inner = self.lock();
        if let Some(id) = inner.metric_ids.get(name).copied() {
            let same_kind = metric_mut(&mut inner.metrics, id).is_some_and(|m| m.kind == kind);
            return if same_kind {
                Ok(id)
            } else {
                Err(Status::BadArgument)
            };
        }
        inner.metrics.push(Metric {
            name: String::from_utf8_lossy(name).into_owned(),
            kind,
            value: 0,
            samples: Vec::new(),
        });
        let id = u32::try_from(inner.metrics.len()).unwrap_or(u32::MAX);
        inner.metric_ids.insert(name.to_vec(), id);
        Ok(id)
    }

    /// `proxy_increment_metric`: counters only go up.
    pub(crate) fn increment_metric(&self, id: u32, delta: i64) -> Status {
        let mut inner = self.lock();
        let Some(metric) = metric_mut(&mut inner.metrics, id) else {
            return Status::NotFound;
        };
        match metric.kind {
            MetricType::Counter if delta < 0 => Status::BadArgument,
            MetricType::Histogram => Status::BadArgument,
            _ => {
                metric.value = metric.value.saturating_add(delta);
                Status::Ok
            }
        }
    }

    /// `proxy_record_metric`: adds to a counter, sets a gauge, records a
    /// histogram sample (Envoy's semantics).
    pub(crate) fn record_metric(&self, id: u32, value: u64) -> Status {
        let mut inner = self.lock();
        let Some(metric) = metric_mut(&mut inner.metrics, id) else {
            return Status::NotFound;
        };
        let signed = i64::try_from(value).unwrap_or(i64::MAX);
        match metric.kind {
            MetricType::Counter => metric.value = metric.value.saturating_add(signed),
            MetricType::Gauge => metric.value = signed,
            MetricType::Histogram => {
                metric.samples.push(value);
                metric.value = metric.value.saturating_add(1);
            }
        }
        Status::Ok
    }

    /// `proxy_get_metric`: histograms cannot be read back.
    pub(crate) fn get_metric(&self, id: u32) -> Result<u64, Status> {
        let mut inner = self.lock();
        let metric = metric_mut(&mut inner.metrics, id).ok_or(Status::NotFound)?;
        match metric.kind {
            MetricType::Histogram => Err(Status::BadArgument),
            _ => Ok(u64::try_from(metric.value).unwrap_or(0)),
        }
    }

    /// A metric by name.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        let mut inner = self.lock();
        let id = inner.metric_ids.get(name.as_bytes()).copied()?;
        metric_mut(&mut inner.metrics, id).cloned()
    }

    /// Every metric, in definition order.
    pub fn metrics(&self) -> Vec<Metric> {
        self.lock().metrics.clone()
    }
}

fn next_cas(last: &mut u32) -> u32 {
    *last = last.wrapping_add(1);
    if *last == 0 {
        *last = 1;
    }
    *last
}

fn queue_mut(queues: &mut [Queue], id: u32) -> Option<&mut Queue> {
    queues.get_mut((id as usize).checked_sub(1)?)
}

fn metric_mut(metrics: &mut [Metric], id: u32) -> Option<&mut Metric> {
    metrics.get_mut((id as usize).checked_sub(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_swap_follows_the_cpp_host() {
        let store = SharedStore::default();
        assert_eq!(store.set(b"k", b"1", 0), Status::Ok);
        let (_, cas) = store.get(b"k").expect("set");
        assert_ne!(cas, 0);
        assert_eq!(store.set(b"k", b"2", cas + 7), Status::CasMismatch);
        assert_eq!(store.set(b"k", b"2", cas), Status::Ok);
        assert_eq!(store.set(b"k", b"3", cas), Status::CasMismatch);
        assert_eq!(store.set(b"new", b"x", 42), Status::Ok);
        assert_eq!(store.get(b"k").map(|(v, _)| v), Some(b"2".to_vec()));
    }

    #[test]
    fn queues_notify_their_owner() {
        let store = SharedStore::default();
        let id = store.register_queue("vm", b"q", 1);
        assert_eq!(store.register_queue("vm", b"q", 0), id);
        assert_eq!(store.resolve_queue("vm", b"q"), Some(id));
        assert_eq!(store.resolve_queue("other", b"q"), None);
        assert_eq!(store.dequeue(id), Err(Status::Empty));
        assert_eq!(store.enqueue(id, b"a"), Status::Ok);
        assert_eq!(store.enqueue(99, b"a"), Status::NotFound);
        assert_eq!(store.take_ready(0), Vec::<u32>::new());
        assert_eq!(store.take_ready(1), vec![id]);
        assert_eq!(store.dequeue(id), Ok(b"a".to_vec()));
    }

    #[test]
    fn metrics_are_shared_by_name_and_counters_only_grow() {
        let store = SharedStore::default();
        let id = store
            .define_metric(MetricType::Counter, b"c")
            .expect("defined");
        assert_eq!(store.define_metric(MetricType::Counter, b"c"), Ok(id));
        assert_eq!(
            store.define_metric(MetricType::Gauge, b"c"),
            Err(Status::BadArgument)
        );
        assert_eq!(store.increment_metric(id, 2), Status::Ok);
        assert_eq!(store.increment_metric(id, -1), Status::BadArgument);
        assert_eq!(store.increment_metric(77, 1), Status::NotFound);
        assert_eq!(store.get_metric(id), Ok(2));
        assert_eq!(store.metric("c").map(|m| m.value), Some(2));
    }
}
