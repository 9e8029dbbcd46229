//! The read-only directory `/config` a WASI preview1 module sees when its version reads
//! configuration profiles: `/config/APP/PROFILE`, one file per profile deployed to the
//! invoking environment. Preopened as descriptor 3 (so wasi-libc, and with it Rust's
//! `std::fs` and C's `fopen`, find it), it answers the calls reading needs —
//! `path_open`, `fd_read`, `fd_pread`, `fd_seek`, `fd_tell`, `fd_filestat_get`,
//! `path_filestat_get`, `fd_readdir`, `fd_fdstat_get`, `fd_close` — and refuses every
//! write: opening to create, truncate, append or write is `EROFS`, writing to a
//! descriptor is `EBADF` (it has no write right), changing the tree is `EROFS`. Nothing
//! else of the host's file system exists: a path is resolved inside this tree only
//! (absolute paths and `..` above the root are `ENOTCAPABLE`), and its bytes are the
//! snapshot's (a view, not a copy).
//!
//! Written here rather than by wasmtime-wasi's preopens for the reason `wasi_p1.rs`
//! gives (its per-invocation context costs a third of an invocation), and because the
//! files are in memory, not on a disk a cap-std directory could open.

use super::wasi_p1::{each_iovec, put_u32, slice, slice_mut, Errno};
use crate::model::appconfig::{ConfigFile, CONFIG_DIR};
use std::sync::Arc;

/// The preopened directory's descriptor: the first after the three streams.
pub const PREOPEN_FD: i32 = 3;
/// Descriptors a guest may hold open at once under `/config` (`EMFILE` beyond).
pub const MAX_OPEN: usize = 64;

const FILETYPE_DIRECTORY: u8 = 3;
const FILETYPE_REGULAR_FILE: u8 = 4;

// Rights (preview1 `rights` bits).
const FD_DATASYNC: u64 = 1 << 0;
const FD_READ: u64 = 1 << 1;
const FD_SEEK: u64 = 1 << 2;
const FD_TELL: u64 = 1 << 5;
const FD_WRITE: u64 = 1 << 6;
const FD_ADVISE: u64 = 1 << 7;
const FD_ALLOCATE: u64 = 1 << 8;
const PATH_OPEN: u64 = 1 << 13;
const FD_READDIR: u64 = 1 << 14;
const PATH_FILESTAT_GET: u64 = 1 << 18;
const FD_FILESTAT_GET: u64 = 1 << 21;
const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
const POLL_FD_READWRITE: u64 = 1 << 27;
/// What a file here may do.
const FILE_RIGHTS: u64 = FD_READ | FD_SEEK | FD_TELL | FD_ADVISE | FD_FILESTAT_GET | POLL_FD_READWRITE;
/// What a directory here may do.
const DIR_RIGHTS: u64 = PATH_OPEN | FD_READDIR | PATH_FILESTAT_GET | FD_FILESTAT_GET;
/// Rights that would write: asking for one when opening is `EROFS`.
const WRITE_RIGHTS: u64 = FD_WRITE | FD_DATASYNC | FD_ALLOCATE | FD_FILESTAT_SET_SIZE;

// `oflags` and `fdflags`.
const O_CREAT: u16 = 1;
const O_DIRECTORY: u16 = 2;
const O_EXCL: u16 = 4;
const O_TRUNC: u16 = 8;
const FDFLAG_APPEND: u16 = 1;
const FDFLAG_DSYNC: u16 = 2;
const FDFLAG_SYNC: u16 = 16;

/// A node of the tree: a directory by its path (`""` is `/config`, `"shop"` is
/// `/config/shop`) or a file by its index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(String),
    File(usize),
}

#[derive(Debug)]
enum Open {
    Dir(String),
    File { index: usize, pos: u64 },
}

/// One invocation's `/config`: the files and the descriptors open on them (index `i` is
/// descriptor `3 + i`).
pub struct ConfigFs {
    /// Sorted by path; shared with the snapshot (no copy of a path or a byte).
    files: Vec<Arc<ConfigFile>>,
    open: Vec<Option<Open>>,
}

impl ConfigFs {
    pub fn new(files: &[Arc<ConfigFile>]) -> ConfigFs {
        let mut files = files.to_vec();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        ConfigFs { files, open: vec![Some(Open::Dir(String::new()))] }
    }

    /// Is `fd` one of ours (open or not)? Descriptors below 3 are the streams'.
    pub fn owns(fd: i32) -> bool {
        fd >= PREOPEN_FD
    }

    fn get(&self, fd: i32) -> Result<&Open, Errno> {
        let i = usize::try_from(fd - PREOPEN_FD).map_err(|_| Errno::Badf)?;
        self.open.get(i).and_then(Option::as_ref).ok_or(Errno::Badf)
    }

    fn dir(&self, fd: i32) -> Result<&str, Errno> {
        match self.get(fd)? {
            Open::Dir(path) => Ok(path),
            Open::File { .. } => Err(Errno::Notdir),
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.files.iter().any(|f| f.path.strip_prefix(path).is_some_and(|r| r.starts_with('/')))
    }

    /// Resolves `path` relative to the directory `base`, inside the tree only.
    fn lookup(&self, base: &str, path: &[u8]) -> Result<Node, Errno> {
        let path = std::str::from_utf8(path).map_err(|_| Errno::Ilseq)?;
        if path.starts_with('/') {
            return Err(Errno::Notcapable);
        }
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        let mut through_file = false;
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop().ok_or(Errno::Notcapable)?;
                }
                c => {
                    if through_file {
                        return Err(Errno::Notdir);
                    }
                    parts.push(c);
                    let joined = parts.join("/");
                    if self.files.iter().any(|f| f.path == joined) {
                        through_file = true;
                    }
                }
            }
        }
        let joined = parts.join("/");
        if let Some(i) = self.files.iter().position(|f| f.path == joined) {
            // `flags/` names a directory: a file there is ENOTDIR.
            if path.ends_with('/') {
                return Err(Errno::Notdir);
            }
            return Ok(Node::File(i));
        }
        if self.is_dir(&joined) {
            return Ok(Node::Dir(joined));
        }
        Err(Errno::Noent)
    }

    /// `path_open`: a new descriptor for a file or directory, read-only.
    #[allow(clippy::too_many_arguments)]
    pub fn path_open(
        &mut self,
        mem: &mut [u8],
        dirfd: i32,
        path: u32,
        path_len: u32,
        oflags: u16,
        rights: u64,
        fdflags: u16,
        out: u32,
    ) -> Result<(), Errno> {
        let base = self.dir(dirfd)?.to_string();
        let node = self.lookup(&base, slice(mem, path, path_len)?);
        if oflags & (O_CREAT | O_EXCL | O_TRUNC) != 0
            || fdflags & (FDFLAG_APPEND | FDFLAG_DSYNC | FDFLAG_SYNC) != 0
            || rights & WRITE_RIGHTS != 0
        {
            // Creating an entry, or writing to one: a read-only file system either way,
            // unless the path itself is invalid.
            return match node {
                Err(e @ (Errno::Notcapable | Errno::Ilseq | Errno::Notdir)) => Err(e),
                Ok(Node::Dir(_)) if rights & WRITE_RIGHTS != 0 => Err(Errno::Isdir),
                _ => Err(Errno::Rofs),
            };
        }
        let open = match node? {
            Node::File(_) if oflags & O_DIRECTORY != 0 => return Err(Errno::Notdir),
            Node::File(index) => Open::File { index, pos: 0 },
            Node::Dir(path) => Open::Dir(path),
        };
        let slot = match self.open.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.open.len() < MAX_OPEN => {
                self.open.push(None);
                self.open.len() - 1
            }
            None => return Err(Errno::Mfile),
        };
        put_u32(mem, out, PREOPEN_FD as u32 + slot as u32)?;
        self.open[slot] = Some(open);
        Ok(())
    }

    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.get(fd)?;
        self.open[(fd - PREOPEN_FD) as usize] = None;
        Ok(())
    }

    fn file_mut(&mut self, fd: i32) -> Result<(&bytes::Bytes, &mut u64), Errno> {
        let i = usize::try_from(fd - PREOPEN_FD).map_err(|_| Errno::Badf)?;
        match self.open.get_mut(i).and_then(Option::as_mut).ok_or(Errno::Badf)? {
            Open::File { index, pos } => Ok((&self.files[*index].content, pos)),
            Open::Dir(_) => Err(Errno::Isdir),
        }
    }

    /// `fd_read`: from the position, which moves.
    pub fn read(&mut self, mem: &mut [u8], fd: i32, iovs: u32, iovs_len: u32) -> Result<u32, Errno> {
        let (bytes, pos) = self.file_mut(fd)?;
        let n = read_at(mem, bytes, *pos, iovs, iovs_len)?;
        *pos += u64::from(n);
        Ok(n)
    }

    /// `fd_pread`: at `offset`; the position stays.
    pub fn pread(&mut self, mem: &mut [u8], fd: i32, iovs: u32, iovs_len: u32, offset: u64) -> Result<u32, Errno> {
        let (bytes, _) = self.file_mut(fd)?;
        read_at(mem, bytes, offset, iovs, iovs_len)
    }

    /// `fd_seek` (`whence`: 0 set, 1 current, 2 end); a position past the end is allowed
    /// (reads there return nothing), a negative one is `EINVAL`.
    pub fn seek(&mut self, fd: i32, offset: i64, whence: u8) -> Result<u64, Errno> {
        let (bytes, pos) = self.file_mut(fd).map_err(|e| if e == Errno::Isdir { Errno::Badf } else { e })?;
        let from = match whence {
            0 => 0i128,
            1 => i128::from(*pos),
            2 => bytes.len() as i128,
            _ => return Err(Errno::Inval),
        };
        let to = from + i128::from(offset);
        *pos = u64::try_from(to).map_err(|_| Errno::Inval)?;
        Ok(*pos)
    }

    fn filestat(&self, node: &Node, mem: &mut [u8], out: u32) -> Result<(), Errno> {
        let (filetype, size, ino) = match node {
            Node::File(i) => (FILETYPE_REGULAR_FILE, self.files[*i].content.len() as u64, *i as u64 + 2),
            Node::Dir(path) => (FILETYPE_DIRECTORY, 0, if path.is_empty() { 1 } else { 1_000_000 + dir_ino(path) }),
        };
        // filestat: dev, ino, filetype (u8, padded), nlink, size, atim, mtim, ctim.
        let b = slice_mut(mem, out, 64)?;
        b.fill(0);
        b[8..16].copy_from_slice(&ino.to_le_bytes());
        b[16] = filetype;
        b[24..32].copy_from_slice(&1u64.to_le_bytes());
        b[32..40].copy_from_slice(&size.to_le_bytes());
        Ok(())
    }

    fn node(&self, fd: i32) -> Result<Node, Errno> {
        Ok(match self.get(fd)? {
            Open::Dir(p) => Node::Dir(p.clone()),
            Open::File { index, .. } => Node::File(*index),
        })
    }

    pub fn fd_filestat(&self, mem: &mut [u8], fd: i32, out: u32) -> Result<(), Errno> {
        self.filestat(&self.node(fd)?, mem, out)
    }

    pub fn path_filestat(&self, mem: &mut [u8], fd: i32, path: u32, len: u32, out: u32) -> Result<(), Errno> {
        let base = self.dir(fd)?.to_string();
        let node = self.lookup(&base, slice(mem, path, len)?)?;
        self.filestat(&node, mem, out)
    }

    /// `fd_fdstat_get`: the filetype and the (read-only) rights.
    pub fn fdstat(&self, mem: &mut [u8], fd: i32, out: u32) -> Result<(), Errno> {
        let (filetype, base, inheriting) = match self.node(fd)? {
            Node::File(_) => (FILETYPE_REGULAR_FILE, FILE_RIGHTS, 0),
            Node::Dir(_) => (FILETYPE_DIRECTORY, DIR_RIGHTS, DIR_RIGHTS | FILE_RIGHTS),
        };
        let b = slice_mut(mem, out, 24)?;
        b.fill(0);
        b[0] = filetype;
        b[8..16].copy_from_slice(&base.to_le_bytes());
        b[16..24].copy_from_slice(&inheriting.to_le_bytes());
        Ok(())
    }

    /// `fd_prestat_get`: only the preopened directory has one.
    pub fn prestat(&self, mem: &mut [u8], fd: i32, out: u32) -> Result<(), Errno> {
        if fd != PREOPEN_FD || !matches!(self.get(fd)?, Open::Dir(p) if p.is_empty()) {
            return Err(Errno::Badf);
        }
        let b = slice_mut(mem, out, 8)?;
        b.fill(0);
        put_u32(mem, out + 4, CONFIG_DIR.len() as u32)
    }

    pub fn prestat_dir_name(&self, mem: &mut [u8], fd: i32, path: u32, len: u32) -> Result<(), Errno> {
        if fd != PREOPEN_FD || !matches!(self.get(fd)?, Open::Dir(p) if p.is_empty()) {
            return Err(Errno::Badf);
        }
        if (len as usize) < CONFIG_DIR.len() {
            return Err(Errno::Nametoolong);
        }
        slice_mut(mem, path, CONFIG_DIR.len() as u32)?.copy_from_slice(CONFIG_DIR.as_bytes());
        Ok(())
    }

    /// A directory's entries: `.`, `..`, then its children in order, each with its type.
    fn entries(&self, dir: &str) -> Vec<(String, u8, u64)> {
        let mut out = vec![(".".to_string(), FILETYPE_DIRECTORY, 0), ("..".to_string(), FILETYPE_DIRECTORY, 0)];
        for (i, p) in self.files.iter().map(|f| &f.path).enumerate() {
            let rest =
                if dir.is_empty() { Some(p.as_str()) } else { p.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) };
            let Some(rest) = rest else { continue };
            match rest.split_once('/') {
                Some((child, _)) => {
                    if out.last().is_none_or(|(name, _, _)| name != child) {
                        let path = if dir.is_empty() { child.to_string() } else { format!("{dir}/{child}") };
                        out.push((child.to_string(), FILETYPE_DIRECTORY, 1_000_000 + dir_ino(&path)));
                    }
                }
                None => out.push((rest.to_string(), FILETYPE_REGULAR_FILE, i as u64 + 2)),
            }
        }
        out
    }

    /// `fd_readdir`: entries from `cookie` on, as `dirent`s (24 bytes + name) packed into
    /// the buffer; the last may be cut short, and a full buffer tells the guest to call
    /// again with the next cookie — preview1's contract.
    pub fn readdir(&self, mem: &mut [u8], fd: i32, buf: u32, buf_len: u32, cookie: u64) -> Result<u32, Errno> {
        let dir = self.dir(fd).map_err(|e| if e == Errno::Notdir { Errno::Notdir } else { e })?;
        let out = slice_mut(mem, buf, buf_len)?;
        let mut used = 0usize;
        for (i, (name, filetype, ino)) in self.entries(dir).into_iter().enumerate().skip(cookie as usize) {
            let mut dirent = Vec::with_capacity(24 + name.len());
            dirent.extend_from_slice(&(i as u64 + 1).to_le_bytes());
            dirent.extend_from_slice(&ino.to_le_bytes());
            dirent.extend_from_slice(&(name.len() as u32).to_le_bytes());
            dirent.extend_from_slice(&[filetype, 0, 0, 0]);
            dirent.extend_from_slice(name.as_bytes());
            let n = dirent.len().min(out.len() - used);
            out[used..used + n].copy_from_slice(&dirent[..n]);
            used += n;
            if used == out.len() {
                break;
            }
        }
        Ok(used as u32)
    }

    /// A call that would change the tree or a file here: `EROFS` on our descriptors.
    pub fn refuse_write(&self, fd: i32) -> Result<(), Errno> {
        self.get(fd)?;
        Err(Errno::Rofs)
    }

    /// `fd_advise`, `fd_sync`, `fd_datasync` on a read-only file: nothing to do.
    pub fn nothing_to_do(&self, fd: i32) -> Result<(), Errno> {
        self.get(fd).map(|_| ())
    }
}

/// A stable inode number for a directory path.
fn dir_ino(path: &str) -> u64 {
    u64::from_le_bytes(blake3::hash(path.as_bytes()).as_bytes()[..8].try_into().unwrap_or([0; 8])) % 1_000_000_000
}

/// Copies `bytes[offset..]` into the iovecs.
fn read_at(mem: &mut [u8], bytes: &[u8], offset: u64, iovs: u32, iovs_len: u32) -> Result<u32, Errno> {
    let mut at = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    each_iovec(mem, iovs, iovs_len, |mem, ptr, len| {
        let left = &bytes[at..];
        let n = left.len().min(len as usize);
        slice_mut(mem, ptr, n as u32)?.copy_from_slice(&left[..n]);
        at += n;
        Ok((n as u32, n == len as usize))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs() -> ConfigFs {
        let f = |app: &str, profile: &str, content: &str| {
            Arc::new(ConfigFile::new(app, profile, 1, bytes::Bytes::from(content.to_string()), String::new()))
        };
        ConfigFs::new(&[f("shop", "flags", "{\"discount\":10}"), f("shop", "limits", "max: 3"), f("ops", "x", "t")])
    }

    #[test]
    fn paths_resolve_inside_the_tree_only() {
        let fs = fs();
        assert_eq!(fs.lookup("", b"shop/flags"), Ok(Node::File(1)));
        assert_eq!(fs.lookup("", b"./shop/../shop/flags"), Ok(Node::File(1)));
        assert_eq!(fs.lookup("shop", b"limits"), Ok(Node::File(2)));
        assert_eq!(fs.lookup("", b"shop"), Ok(Node::Dir("shop".into())));
        assert_eq!(fs.lookup("", b""), Ok(Node::Dir("".into())));
        assert_eq!(fs.lookup("", b"shop/nope"), Err(Errno::Noent));
        assert_eq!(fs.lookup("", b"shop/flags/x"), Err(Errno::Notdir));
        assert_eq!(fs.lookup("", b"shop/flags/"), Err(Errno::Notdir));
        assert_eq!(fs.lookup("", b".."), Err(Errno::Notcapable));
        assert_eq!(fs.lookup("shop", b"../../etc/passwd"), Err(Errno::Notcapable));
        assert_eq!(fs.lookup("", b"/etc/passwd"), Err(Errno::Notcapable));
        assert_eq!(fs.lookup("", b"sh"), Err(Errno::Noent), "a prefix is not a directory");
    }

    #[test]
    fn open_read_seek_and_refuse_writes() {
        let mut fs = fs();
        let mut mem = vec![0u8; 4096];
        mem[100..110].copy_from_slice(b"shop/flags");
        fs.path_open(&mut mem, 3, 100, 10, 0, FD_READ | FD_SEEK, 0, 200).unwrap();
        let fd = u32::from_le_bytes(mem[200..204].try_into().unwrap()) as i32;
        assert_eq!(fd, 4);
        // One iovec of 5 bytes at 300, then the rest.
        mem[0..8].copy_from_slice(&[44, 1, 0, 0, 5, 0, 0, 0]);
        assert_eq!(fs.read(&mut mem, fd, 0, 1), Ok(5));
        assert_eq!(&mem[300..305], b"{\"dis");
        assert_eq!(fs.seek(fd, 0, 1), Ok(5));
        assert_eq!(fs.seek(fd, -2, 2), Ok(13));
        assert_eq!(fs.read(&mut mem, fd, 0, 1), Ok(2));
        assert_eq!(&mem[300..302], b"0}");
        assert_eq!(fs.read(&mut mem, fd, 0, 1), Ok(0), "end of file");
        assert_eq!(fs.seek(fd, -100, 0), Err(Errno::Inval));
        assert_eq!(fs.pread(&mut mem, fd, 0, 1, 1), Ok(5));
        assert_eq!(&mem[300..305], b"\"disc");
        fs.fd_filestat(&mut mem, fd, 400).unwrap();
        assert_eq!(mem[416], FILETYPE_REGULAR_FILE);
        assert_eq!(u64::from_le_bytes(mem[432..440].try_into().unwrap()), 15);
        // Writing: refused at open, whatever the path.
        assert_eq!(fs.path_open(&mut mem, 3, 100, 10, 0, FD_READ | FD_WRITE, 0, 200), Err(Errno::Rofs));
        assert_eq!(fs.path_open(&mut mem, 3, 100, 10, O_TRUNC, FD_READ, 0, 200), Err(Errno::Rofs));
        assert_eq!(fs.path_open(&mut mem, 3, 100, 4, O_CREAT, FD_READ, 0, 200), Err(Errno::Rofs));
        assert_eq!(fs.path_open(&mut mem, 3, 100, 10, 0, FD_READ, FDFLAG_APPEND, 200), Err(Errno::Rofs));
        assert_eq!(fs.path_open(&mut mem, 3, 100, 10, O_DIRECTORY, FD_READ, 0, 200), Err(Errno::Notdir));
        assert_eq!(fs.path_open(&mut mem, fd, 100, 10, 0, FD_READ, 0, 200), Err(Errno::Notdir), "not a dir fd");
        assert_eq!(fs.refuse_write(fd), Err(Errno::Rofs));
        fs.close(fd).unwrap();
        assert_eq!(fs.close(fd), Err(Errno::Badf));
        assert_eq!(fs.read(&mut mem, fd, 0, 1), Err(Errno::Badf));
        // Descriptors are bounded.
        mem[100..104].copy_from_slice(b"shop");
        let mut opened = 0;
        while fs.path_open(&mut mem, 3, 100, 4, O_DIRECTORY, FD_READDIR, 0, 200).is_ok() {
            opened += 1;
        }
        assert_eq!(opened, MAX_OPEN - 1);
        assert_eq!(fs.path_open(&mut mem, 3, 100, 4, 0, 0, 0, 200), Err(Errno::Mfile));
    }

    #[test]
    fn readdir_lists_entries_and_resumes_by_cookie() {
        let fs = fs();
        let mut mem = vec![0u8; 4096];
        let names = |mem: &[u8], used: usize| {
            let mut out = Vec::new();
            let mut at = 0;
            while at + 24 <= used {
                let len = u32::from_le_bytes(mem[at + 16..at + 20].try_into().unwrap()) as usize;
                out.push(String::from_utf8_lossy(&mem[at + 24..(at + 24 + len).min(used)]).to_string());
                at += 24 + len;
            }
            out
        };
        let used = fs.readdir(&mut mem, 3, 0, 4096, 0).unwrap() as usize;
        assert_eq!(names(&mem, used), [".", "..", "ops", "shop"]);
        // A small buffer: full means "call again".
        let used = fs.readdir(&mut mem, 3, 0, 30, 0).unwrap();
        assert_eq!(used, 30);
        let used = fs.readdir(&mut mem, 3, 0, 4096, 3).unwrap() as usize;
        assert_eq!(names(&mem, used), ["shop"]);
        let mut fs = fs;
        mem[100..104].copy_from_slice(b"shop");
        fs.path_open(&mut mem, 3, 100, 4, O_DIRECTORY, FD_READDIR, 0, 200).unwrap();
        let used = fs.readdir(&mut mem, 4, 0, 4096, 0).unwrap() as usize;
        assert_eq!(names(&mem, used), [".", "..", "flags", "limits"]);
        assert_eq!(mem[20], FILETYPE_DIRECTORY);
    }

    #[test]
    fn the_preopen_is_named_config() {
        let fs = fs();
        let mut mem = vec![0u8; 64];
        fs.prestat(&mut mem, 3, 0).unwrap();
        assert_eq!(mem[0], 0);
        assert_eq!(u32::from_le_bytes(mem[4..8].try_into().unwrap()), 7);
        fs.prestat_dir_name(&mut mem, 3, 16, 7).unwrap();
        assert_eq!(&mem[16..23], b"/config");
        assert_eq!(fs.prestat(&mut mem, 4, 0), Err(Errno::Badf));
    }
}
