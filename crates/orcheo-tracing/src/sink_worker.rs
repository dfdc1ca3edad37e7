//! Delivers run metadata to a [`TraceMetadataSink`] on a thread of its own, through a bounded
//! queue: a slow or failing store never stalls or fails a workflow. What cannot be queued is
//! dropped and counted; what the sink refuses is counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use orcheo_trace_model::{RunFinished, RunStarted, SpanSummary};

use crate::TraceMetadataSink;

pub(crate) enum SinkEvent {
    RunStarted(RunStarted),
    SpansEnded(Vec<SpanSummary>),
    RunFinished(RunFinished),
    /// Answered once every earlier event has been delivered.
    Flush(SyncSender<()>),
}

/// Counts of what did not reach the sink.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Calls the sink answered with an error.
    pub failed: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct SinkWorker {
    queue: SyncSender<SinkEvent>,
    stats: Arc<SinkStats>,
}

impl SinkWorker {
    pub(crate) fn start(
        sink: Arc<dyn TraceMetadataSink>,
        capacity: usize,
    ) -> std::io::Result<Self> {
        let (queue, events) = sync_channel(capacity.max(1));
        let stats = Arc::new(SinkStats::default());
        let counts = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("orcheo-tracing-sink".into())
            .spawn(move || deliver(&*sink, &events, &counts))?;
        Ok(Self { queue, stats })
    }

    pub(crate) fn send(&self, event: SinkEvent) {
        match self.queue.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits until everything queued so far was delivered, at most `timeout`; `false` on time-out.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = sync_channel(1);
        // A flush request waits for room rather than being dropped: it carries no data.
        if self.queue.send(SinkEvent::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(timeout).is_ok()
    }

    pub(crate) fn stats(&self) -> &SinkStats {
        &self.stats
    }
}

fn deliver(sink: &dyn TraceMetadataSink, events: &Receiver<SinkEvent>, stats: &SinkStats) {
    // Ends when every sender (the tracer and its runs) is gone.
    for event in events {
        let result = match event {
            SinkEvent::RunStarted(run) => sink.run_started(&run),
            SinkEvent::SpansEnded(spans) => sink.spans_ended(&spans),
            SinkEvent::RunFinished(run) => sink.run_finished(&run),
            SinkEvent::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if result.is_err() {
            stats.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
