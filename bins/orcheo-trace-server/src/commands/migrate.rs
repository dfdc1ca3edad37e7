//! `migrate`: applies the metadata database's pending migrations and says what it did.

use std::io::Write as _;

use anyhow::Context as _;
use orcheo_trace_store::{PoolConfig, Store, redact_password};

use crate::cli::MigrateArgs;

pub(crate) fn run(args: &MigrateArgs) -> anyhow::Result<()> {
    let store = Store::open(args.database_url.expose_secret(), PoolConfig::default())
        .with_context(|| {
            format!(
                "cannot open {}",
                redact_password(args.database_url.expose_secret())
            )
        })?;
    let applied = store.migrate()?;
    let mut out = std::io::stdout().lock();
    if applied.is_empty() {
        writeln!(
            out,
            "{:?} database is up to date; nothing to apply",
            store.backend()
        )?;
    } else {
        writeln!(
            out,
            "{:?} database: applied {} migration(s):",
            store.backend(),
            applied.len()
        )?;
        for version in applied {
            writeln!(out, "  {version}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            super::redact_password("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            super::redact_password("sqlite://orcheo.db"),
            "sqlite://orcheo.db"
        );
    }
}
