//! One module per subcommand.

pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod migrate;
pub(crate) mod normalize;
pub(crate) mod reindex;
pub(crate) mod serve;
