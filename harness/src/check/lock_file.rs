//! `[expect.lock_file]`: the refresh lock file itself at the end (empty, absent, or a holder
//! record naming a pid) and, across the whole run and every process, that neither lock file was
//! ever unlinked or replaced (the rule "never unlink or replace a lock file").

use super::observed::Observed;
use crate::lock_watch::violations;
use crate::report::model::Failure;
use crate::schema::LockContent;

/// Every failed `[expect.lock_file]` key.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    let x = &o.sc.expect.lock_file;
    let record = o
        .lock_file_bytes
        .filter(|b| !b.trim_ascii().is_empty())
        .map(|b| serde_json::from_slice::<spec_kitty::lock::LockRecord>(b.trim_ascii()));
    let found = match (o.lock_file_bytes, &record) {
        (None, _) => "absent".to_string(),
        (Some(_), None) => "empty".to_string(),
        (Some(_), Some(Ok(r))) => format!("a record of pid {}", r.pid),
        (Some(b), Some(Err(_))) => format!("{} bytes that are no holder record", b.len()),
    };
    if let Some(want) = x.content {
        let ok = match want {
            LockContent::Absent => o.lock_file_bytes.is_none(),
            LockContent::Empty => o.lock_file_bytes.is_some() && record.is_none(),
            LockContent::Record => matches!(record, Some(Ok(_))),
        };
        if !ok {
            f.push(Failure::expect(
                "lock_file.content",
                format!("refresh.lock holds {found} at the end, expected {want:?}").to_lowercase(),
            ));
        }
    }
    let want_pid = match (&x.pid_of, x.pid) {
        (Some(name), _) => Some((
            o.procs.get(name).and_then(|p| p.pid),
            format!("{name}'s pid"),
        )),
        (None, Some(pid)) => Some((Some(pid), format!("pid {pid}"))),
        (None, None) => None,
    };
    if let Some((pid, what)) = want_pid {
        let ok = matches!((&record, pid), (Some(Ok(r)), Some(p)) if r.pid == p);
        if !ok {
            let what = match pid {
                Some(p) if x.pid_of.is_some() => format!("{what} ({p})"),
                None => format!("{what} (it never started)"),
                Some(_) => what,
            };
            f.push(Failure::expect(
                "lock_file.pid",
                format!("refresh.lock holds {found} at the end, expected a record of {what}"),
            ));
        }
    }
    if x.inode_unchanged {
        for v in violations(o.lock_inodes) {
            f.push(Failure::expect("lock_file.inode_unchanged", v));
        }
    }
    f
}
