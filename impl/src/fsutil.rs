//! Careful file access for state another program, a crash or a user may have left behind.
//!
//! Why: `session.json` can be a FIFO (an `open` that blocks forever), a directory, a 100 MB file,
//! and a lock file can be a symlink to a user's file (which a truncating open would destroy).
//! Every read of local state goes through [`read_regular`], which never blocks on open, refuses
//! anything that is not a regular file and caps what it reads; every lock file is opened with
//! [`open_lock_file`], which never follows a symlink. The auth directory is created in one place,
//! with its mode, by [`ensure_private_dir`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing is there.
    #[error("not found")]
    Missing,
    /// Something that is not a regular file is there.
    #[error("is a {0}, not a regular file")]
    NotAFile(&'static str),
    /// The file is larger than anything this program writes.
    #[error("is {size} bytes, more than the {cap} bytes any valid file has")]
    TooLarge { size: u64, cap: u64 },
    /// Any other I/O failure.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A regular file's contents and its permission bits.
#[derive(Debug)]
pub struct Contents {
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// Reads the regular file at `path` (following symlinks), at most `cap` bytes. Never blocks on
/// open (a FIFO is opened non-blocking and then refused).
pub fn read_regular(path: &Path, cap: u64) -> Result<Contents, ReadError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotAFile(kind_of(&meta.file_type())));
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            cap,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            cap,
        });
    }
    Ok(Contents {
        bytes,
        mode: meta.permissions().mode() & 0o7777,
    })
}

/// What kind of non-regular file a file type is, for messages.
pub fn kind_of(t: &fs::FileType) -> &'static str {
    if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "regular file"
    }
}

/// Opens (creating with mode 0600 when `create`) a lock file for reading and writing, never
/// following a symlink and never truncating. A symlink, a directory or a FIFO at the path is an
/// error that names it.
pub fn open_lock_file(path: &Path, create: bool) -> io::Result<File> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .mode(0o600)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => io::Error::new(
                ErrorKind::InvalidInput,
                "it is a symbolic link; a lock file never is: remove it",
            ),
            _ => e,
        })?;
    let t = file.metadata()?.file_type();
    if !t.is_file() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("it is a {}, not a lock file: remove it", kind_of(&t)),
        ));
    }
    Ok(file)
}

/// Creates `dir` (and its parents) when missing and gives it mode 0700: the auth directory holds
/// the salt, and nobody but its owner may list or enter it.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if !dir.is_dir() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// fsyncs a directory so a rename or unlink in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("session.json");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from(0o600)).unwrap();
        assert!(matches!(
            read_regular(&fifo, 1024),
            Err(ReadError::NotAFile("FIFO"))
        ));
    }

    #[test]
    fn directories_and_large_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_regular(dir.path(), 1024),
            Err(ReadError::NotAFile("directory"))
        ));
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert!(matches!(
            read_regular(&big, 1024),
            Err(ReadError::TooLarge { size: 2048, .. })
        ));
        assert!(matches!(
            read_regular(&dir.path().join("none"), 1),
            Err(ReadError::Missing)
        ));
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let precious = dir.path().join("precious.txt");
        fs::write(&precious, "keep me").unwrap();
        let lock = dir.path().join("refresh.lock");
        std::os::unix::fs::symlink(&precious, &lock).unwrap();
        let err = open_lock_file(&lock, true).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read_to_string(&precious).unwrap(), "keep me");
    }
}
