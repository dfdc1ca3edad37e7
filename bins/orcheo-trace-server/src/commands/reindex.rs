//! `reindex`: the executions search's rows of runs that have none (or of every run), written
//! from each run's trace as the server reads it.

use std::io::Write as _;

use anyhow::Context as _;
use orcheo_trace_model::ExecutionId;
use orcheo_trace_server::ServerConfig;
use orcheo_trace_server::metrics::ServerMetrics;
use orcheo_trace_server::startup::{open_store, trace_service};
use orcheo_trace_service::{Audience, TraceService};
use orcheo_trace_store::Store;

use crate::cli::ReindexArgs;

/// Runs asked for a batch at a time.
const BATCH: usize = 500;

pub(crate) fn run(args: &ReindexArgs) -> anyhow::Result<()> {
    let config = ServerConfig::from_args(&args.server)?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let store = open_store(config.database_url.expose_secret().clone()).await?;
        let metrics = ServerMetrics::new().context("cannot register the metrics")?;
        let traces = trace_service(&config, store.clone(), metrics.fetch.clone())?;
        let (mut indexed, mut rows, mut running) = (0usize, 0usize, 0usize);
        let mut failed: Vec<ExecutionId> = Vec::new();
        let mut after: Option<ExecutionId> = None;
        loop {
            let batch = store.executions_to_index(args.all, after.as_ref(), BATCH)?;
            let Some(last) = batch.last().cloned() else {
                break;
            };
            for id in &batch {
                match index(&traces, &store, id).await {
                    Ok(Some(n)) => {
                        indexed += 1;
                        rows += n;
                    }
                    Ok(None) => running += 1,
                    Err(e) => {
                        writeln!(std::io::stderr().lock(), "{id}: not indexed: {e:#}")?;
                        failed.push(id.clone());
                    }
                }
            }
            after = Some(last);
        }
        writeln!(
            std::io::stderr().lock(),
            "indexed {indexed} execution(s), {rows} search row(s); {running} still running \
             (the server indexes their spans as they arrive); {} could not be read",
            failed.len()
        )?;
        anyhow::ensure!(
            failed.is_empty(),
            "{} execution(s) could not be indexed (named above); run `reindex` again once their \
             traces can be read",
            failed.len()
        );
        Ok(())
    })
}

/// Indexes one run from its trace; `None` when it is still running.
async fn index(
    traces: &TraceService,
    store: &Store,
    id: &ExecutionId,
) -> anyhow::Result<Option<usize>> {
    let execution = traces.execution(&Audience::Everyone, id.as_str()).await?;
    if !execution.status.is_final() {
        return Ok(None);
    }
    let loaded = traces.trace(&execution, false).await?;
    if loaded.source.degraded {
        anyhow::bail!(
            "the trace store cannot serve its trace whole ({})",
            loaded.source.reason.as_deref().unwrap_or("no answer")
        );
    }
    let texts = orcheo_trace_service::search_texts(&loaded.tree);
    let store = store.clone();
    let id = execution.id.clone();
    let written = tokio::task::spawn_blocking(move || store.index_execution_texts(&id, &texts))
        .await
        .context("the indexing task failed")??;
    Ok(Some(written))
}
