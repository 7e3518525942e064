//! Unix domain sockets: binding a path (taking over a stale socket file, never a live one
//! or a file that is not a socket), the socket file's mode and removal, connecting with a
//! timeout, and the peer's credentials.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

#[cfg(feature = "peer-credentials")]
use crate::addr::PeerCredentials;

/// A listening Unix socket and the file it is bound to. The file is removed when the
/// socket stops listening or is dropped, unless another socket has been bound to the path
/// since (it is then that socket's file).
#[derive(Debug)]
pub(crate) struct SocketFile {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the file this socket created.
    ident: (u64, u64),
    removed: AtomicBool,
}

impl SocketFile {
    pub(crate) fn listener(&self) -> &UnixListener {
        &self.listener
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Stops listening: the `waiting` threads blocked in `accept` return, new connects are
    /// refused, and the file is removed.
    pub(crate) fn stop(&self, waiting: usize) {
        let _ = socket2::SockRef::from(&self.listener).shutdown(std::net::Shutdown::Read);
        // Linux wakes every blocked accept on shutdown; elsewhere connect once for each.
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        for _ in 0..waiting {
            let _ = UnixStream::connect(&self.path);
        }
        let _ = waiting;
        self.remove_file();
        // Unlike TCP, a shut-down Unix listener keeps the connections waiting in its
        // backlog until it is closed; close them now, so that those clients see the end of
        // the stream at once rather than wait for their timeouts.
        if self.listener.set_nonblocking(true).is_ok() {
            while self.listener.accept().is_ok() {}
        }
    }

    fn remove_file(&self) {
        if self.removed.swap(true, Ordering::AcqRel) {
            return;
        }
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.ident => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::warn!("remove socket file {}: {e}", self.path.display());
                }
            }
            // Gone already, or another socket's now.
            _ => {}
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.remove_file();
    }
}

/// The longest path a Unix socket address holds here (`sun_path` less its terminating
/// NUL).
fn max_path_len() -> usize {
    // `SockAddr::unix` checks the length the way the system does; probe it once.
    let mut len = 64;
    while SockAddr::unix("a".repeat(len + 1)).is_ok() && len < 4096 {
        len += 1;
    }
    len
}

/// Why a path cannot be bound or connected to, before any system call; `None` if it can.
pub(crate) fn check_path(path: &Path) -> Option<io::Error> {
    if path.as_os_str().is_empty() {
        return Some(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Unix socket path must not be empty",
        ));
    }
    if path.as_os_str().as_bytes().contains(&0) {
        // The system would read the path up to the NUL: another file than the one named.
        return Some(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Unix socket path must not contain a NUL byte",
        ));
    }
    if SockAddr::unix(path).is_err() {
        let len = path.as_os_str().len();
        return Some(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the path is {len} bytes long; a Unix socket path holds at most {} here",
                max_path_len()
            ),
        ));
    }
    None
}

/// Listens on `path`. A socket file left there by a process that is gone is replaced; a
/// socket someone listens on is `AddrInUse`, and so is a file that is not a socket (it is
/// never removed). `mode` sets the file's permissions before the socket listens, so no
/// client can connect under the wrong ones.
///
/// Listeners of this crate binding in the same directory take turns (an advisory lock on
/// the directory, where the system has them), so that none takes a file another has bound
/// but not yet listened on for a stale one.
pub(crate) fn listen(path: &Path, backlog: u32, mode: Option<u32>) -> io::Result<SocketFile> {
    if let Some(err) = check_path(path) {
        return Err(err);
    }
    let _turn = DirectoryTurn::take(path);
    let mut socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    if let Some(mode) = mode {
        socket = mode_before_bind(socket, mode);
    }
    let address = SockAddr::unix(path)?;
    if let Err(e) = socket.bind(&address) {
        if e.kind() != io::ErrorKind::AddrInUse {
            return Err(e);
        }
        take_over_stale(path)?;
        socket.bind(&address)?;
    }
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        // Owned from here on: an error below removes the file again.
        listener: UnixListener::from(std::os::fd::OwnedFd::from(socket)),
        path: path.to_path_buf(),
        ident: (meta.dev(), meta.ino()),
        removed: AtomicBool::new(false),
    };
    if let Some(mode) = mode {
        if meta.mode() & 0o7777 != mode {
            set_mode(path, file.ident, mode)?;
        }
    }
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket2::SockRef::from(&file.listener).listen(backlog)?;
    Ok(file)
}

/// Gives an unbound socket the mode its file is to have: Linux creates the file with it
/// (less the umask), so that it is never wider than asked, even for a moment.
fn mode_before_bind(socket: Socket, mode: u32) -> Socket {
    // `fchmod` on the socket's descriptor, through std's `File`, which owns it meanwhile.
    let file = std::fs::File::from(std::os::fd::OwnedFd::from(socket));
    let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
    Socket::from(std::os::fd::OwnedFd::from(file))
}

/// Sets the mode of the socket file this listener created, `ident`, and of no other file:
/// not through a symbolic link someone put in its place after the bind.
fn set_mode(path: &Path, ident: (u64, u64), mode: u32) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        // `O_PATH` holds the file itself, whatever its kind, without opening it for
        // reading; `O_NOFOLLOW` refuses a symbolic link in its place.
        let held = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(path)?;
        let meta = held.metadata()?;
        if !meta.file_type().is_socket() || (meta.dev(), meta.ino()) != ident {
            return Err(replaced());
        }
        // A descriptor opened with `O_PATH` cannot be changed itself; its /proc link
        // names exactly the file it holds.
        let link = format!("/proc/self/fd/{}", held.as_raw_fd());
        std::fs::set_permissions(link, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // Without a way to change a file held open by a descriptor, check just before.
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() && (meta.dev(), meta.ino()) == ident => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            }
            Ok(_) => Err(replaced()),
            Err(e) => Err(e),
        }
    }
}

fn replaced() -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        "the socket file was replaced by another file before its mode could be set",
    )
}

/// Listeners of this crate binding a Unix socket take turns: in this process always, and
/// across processes through an advisory lock (`flock`) on the directory of the socket
/// path, held while binding. Without that lock — the directory cannot be opened for
/// reading, or the system has no such locks, or someone has held it longer than
/// [`TURN_WAIT`] — a bind in another process is not kept apart.
struct DirectoryTurn {
    _lock: Option<std::fs::File>,
    _here: std::sync::MutexGuard<'static, ()>,
}

/// How long a bind waits for the directory's lock. Listeners hold it for a few system
/// calls; anyone else (any user who can read the directory can take it) must not be able
/// to stop a bind.
const TURN_WAIT: Duration = Duration::from_secs(1);

impl DirectoryTurn {
    fn take(path: &Path) -> DirectoryTurn {
        static HERE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let here = HERE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let lock = std::fs::File::open(dir)
            .ok()
            .filter(|file| Self::lock_within(file, dir, TURN_WAIT));
        DirectoryTurn {
            _lock: lock,
            _here: here,
        }
    }

    /// Takes the lock on `file`, trying again every millisecond while another holds it,
    /// for `wait` at most.
    fn lock_within(file: &std::fs::File, dir: &Path, wait: Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return true,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    log::warn!(
                        "bind in {}: another process has held the directory's lock for {wait:?}; \
                         binding without it",
                        dir.display()
                    );
                    return false;
                }
                Err(std::fs::TryLockError::Error(_)) => return false,
            }
        }
    }
}

/// Removes the socket file at `path` if nobody listens on it any more; otherwise says why
/// it cannot be taken. To tell, it connects without waiting: a live listener sees that as a
/// connection that ends at once, without a byte.
fn take_over_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        // Gone meanwhile: the path is free.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "the path exists and is not a socket (it is left as it is)",
        ));
    }
    let live = || {
        io::Error::new(
            io::ErrorKind::AddrInUse,
            "another process is listening on this socket",
        )
    };
    let probe = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(&SockAddr::unix(path)?) {
        Ok(()) => Err(live()),
        // A full backlog: someone listens, and is busy.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(live()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            log::debug!("removing stale socket file {}", path.display());
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Connects to the socket at `path`, giving up after `timeout` when its backlog is full.
pub(crate) fn connect(path: &Path, timeout: Option<Duration>) -> io::Result<UnixStream> {
    if let Some(err) = check_path(path) {
        return Err(err);
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    // A Unix connect blocks only while the listener's backlog is full, and honours the
    // send timeout while it does.
    socket.set_write_timeout(timeout)?;
    match socket.connect(&SockAddr::unix(path)?) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the listener's backlog stayed full",
            ))
        }
        other => other?,
    }
    socket.set_write_timeout(None)?;
    Ok(UnixStream::from(std::os::fd::OwnedFd::from(socket)))
}

/// The peer's user, group and process, where the system tells (Linux and Android).
#[cfg(feature = "peer-credentials")]
pub(crate) fn peer_credentials(stream: &UnixStream) -> Option<PeerCredentials> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let cred = rustix::net::sockopt::socket_peercred(stream).ok()?;
        Some(PeerCredentials {
            uid: cred.uid.as_raw(),
            gid: cred.gid.as_raw(),
            pid: u32::try_from(cred.pid.as_raw_pid()).ok(),
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = stream;
        None
    }
}
