//! Where the workspace store is: `--db PATH`, else the `NORTHSTAR_DB` environment variable,
//! else `./northstar.db`. Every command that uses the store flattens [`StoreArgs`].

use anyhow::{Context, Result};
use northstar_store::SqliteStore;
use std::path::{Path, PathBuf};

/// The environment variable naming the store file when `--db` is not given.
pub const STORE_ENV: &str = "NORTHSTAR_DB";

/// The store file when neither `--db` nor `NORTHSTAR_DB` is given.
pub const DEFAULT_STORE: &str = "northstar.db";

/// The `--db` flag.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The workspace store (SQLite file; created if missing). Default: $NORTHSTAR_DB, else
    /// ./northstar.db.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

impl StoreArgs {
    /// The store file to use.
    pub fn path(&self) -> PathBuf {
        resolve(self.db.as_deref(), std::env::var_os(STORE_ENV))
    }

    /// Opens (creating if needed) the store, naming the file in any error.
    pub fn open(&self) -> Result<SqliteStore> {
        let path = self.path();
        SqliteStore::open(&path).with_context(|| format!("cannot use the store {}", path.display()))
    }
}

/// `--db` if given, else a non-empty `env` value, else [`DEFAULT_STORE`].
fn resolve(flag: Option<&Path>, env: Option<std::ffi::OsString>) -> PathBuf {
    match (flag, env) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(env)) if !env.is_empty() => PathBuf::from(env),
        _ => PathBuf::from(DEFAULT_STORE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_environment_which_wins_over_the_default() {
        let env = Some("from-env.db".into());
        assert_eq!(
            resolve(Some(Path::new("flag.db")), env.clone()),
            PathBuf::from("flag.db")
        );
        assert_eq!(resolve(None, env), PathBuf::from("from-env.db"));
        assert_eq!(
            resolve(None, Some("".into())),
            PathBuf::from("northstar.db")
        );
        assert_eq!(resolve(None, None), PathBuf::from("northstar.db"));
    }
}
