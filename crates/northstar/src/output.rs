//! Output files are written whole or not at all: into a temporary file beside the target,
//! renamed into place only when everything succeeded.

use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where a command writes: a file (`-o PATH`) or standard output.
pub fn write_output(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match path {
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            write(&mut out)?;
            out.flush().context("cannot write to standard output")
        }
        Some(path) => {
            let dir = parent_dir(path);
            let temp = tempfile::NamedTempFile::new_in(&dir)
                .with_context(|| format!("cannot create a file in {}", dir.display()))?;
            let mut out = BufWriter::new(temp);
            write(&mut out)?;
            let temp = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("cannot write {}", path.display()))?;
            temp.persist(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(())
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes a CSV table: the id column, then one column of numbers per remaining header name
/// (shortest round-trip form, `1` for 1.0), formatted on every core.
pub fn write_table<'a>(
    out: &mut dyn Write,
    header: &[&str],
    ids: impl IntoIterator<Item = &'a str>,
    columns: &[&[f64]],
) -> Result<()> {
    let ids: Vec<&str> = ids.into_iter().collect();
    write_ids_table(out, header, &ids, columns)
}

/// [`write_table`] for ids already in a slice.
pub fn write_ids_table(
    out: &mut dyn Write,
    header: &[&str],
    ids: &[&str],
    columns: &[&[f64]],
) -> Result<()> {
    if columns.len() + 1 != header.len() || columns.iter().any(|c| c.len() < ids.len()) {
        anyhow::bail!(
            "internal error: {} columns for a header of {} names and {} customers",
            columns.len(),
            header.len(),
            ids.len()
        );
    }
    northstar_data::write_table_csv(out, header, ids.len(), |i| ids[i], |i, j| columns[j][i])?;
    Ok(())
}
