//! One module per subcommand.

pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod migrate;
pub(crate) mod normalize;
pub(crate) mod reindex;
pub(crate) mod serve;

/// The runtime of an operator's command that reads traces as the server does: one worker (the
/// work is one trace after another), timers and I/O on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}
