//! The data folder: the folders omsd creates for its key files and its SQLite database are
//! private to the user running it (mode 0700), and so is the database file (0600), like the
//! keys: it holds sealed credentials and every task's names and settings.

use std::path::{Path, PathBuf};

/// Creates the folder that will hold `file` (and its missing parents) with mode 0700. A folder
/// that exists already is left as it is.
pub fn create_private_folder_of(file: &Path) -> std::io::Result<()> {
    let Some(folder) = file.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(folder)
}

/// The file of a `sqlite:` database URL, when omsd may create it (not for `mode=ro`).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let read_only_or_memory = query
        .split('&')
        .any(|pair| pair == "mode=ro" || pair == "mode=memory");
    (!path.is_empty() && path != ":memory:" && !read_only_or_memory).then(|| PathBuf::from(path))
}

/// Creates the SQLite database file of `url` empty with mode 0600 (with its folder, 0700) when it
/// does not exist, before SQLite opens it: SQLite would create it readable by everyone, and
/// gives its `-wal` and `-shm` files the database file's mode. An existing file readable by
/// others is reported.
pub fn create_private_database_file(url: &str) -> anyhow::Result<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    if path.exists() {
        oms_db::crypto::warn_if_readable_by_others(&path);
        return Ok(());
    }
    create_private_folder_of(&path)
        .map_err(|e| anyhow::anyhow!("cannot create the folder of {}: {e}", path.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(_) => Ok(()),
        // Another process created it first: SQLite opens theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

/// `path`, made absolute against the current folder (for the log: where the data really is).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/oms.db"),
            Some(PathBuf::from("data/oms.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/oms/oms.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/oms/oms.db"))
        );
        assert_eq!(sqlite_file("sqlite:oms.db"), Some(PathBuf::from("oms.db")));
        assert_eq!(sqlite_file("sqlite://oms.db?mode=ro"), None);
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
