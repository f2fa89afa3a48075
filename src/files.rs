//! How dnswatch creates files: one permission setting for the database,
//! its journals and the alert log (`storage.file_mode`).

/// Default permissions of files dnswatch creates (database, its WAL and
/// shared-memory files, alert log): owner read-write, group read, nothing
/// for others, since they hold querier addresses.
pub const DEFAULT_FILE_MODE: u32 = 0o640;

static FILE_MODE: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(DEFAULT_FILE_MODE);

/// Permissions for files dnswatch creates from now on (`storage.file_mode`);
/// the process umask can only remove bits.
pub fn set_file_mode(mode: u32) {
    FILE_MODE.store(mode & 0o666, std::sync::atomic::Ordering::Relaxed);
}

/// Permissions for new files (see [`set_file_mode`]).
pub fn file_mode() -> u32 {
    FILE_MODE.load(std::sync::atomic::Ordering::Relaxed)
}
