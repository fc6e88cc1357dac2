//! An initramfs image: a list of entries (directories, files, symlinks, device nodes) and
//! its cpio "newc" archive, the format the kernel unpacks into its root filesystem.
//! Pure: file contents named by a host path are read only while the archive is written.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Dir,
    File(Content),
    Symlink(String),
    CharDev(u32, u32),
}

/// One entry of the image: its path inside the guest (no leading `/`), permission bits
/// and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub mode: u32,
    pub body: Body,
}

/// The image: entries by guest path. Adding a path creates its parent directories.
#[derive(Debug, Default)]
pub struct Image {
    entries: BTreeMap<String, Entry>,
}

fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

impl Image {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, path: &str, mode: u32, body: Body) {
        let path = normalize(path);
        let mut parent = String::new();
        for comp in path
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            self.entries.entry(parent.clone()).or_insert(Entry {
                mode: 0o755,
                body: Body::Dir,
            });
        }
        self.entries.insert(path, Entry { mode, body });
    }

    pub fn dir(&mut self, path: &str, mode: u32) {
        self.add(path, mode, Body::Dir);
    }

    pub fn file(&mut self, path: &str, mode: u32, bytes: impl Into<Vec<u8>>) {
        self.add(path, mode, Body::File(Content::Bytes(bytes.into())));
    }

    /// A file whose bytes are the host file `src` (read when the archive is written).
    pub fn host_file(&mut self, path: &str, mode: u32, src: &Path) {
        self.add(path, mode, Body::File(Content::Host(src.to_path_buf())));
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.add(path, 0o777, Body::Symlink(target.to_string()));
    }

    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.add(path, mode, Body::CharDev(major, minor));
    }

    #[cfg(test)]
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(&normalize(path))
    }

    /// Every guest path, parents before children.
    #[cfg(test)]
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Writes the archive; returns its size in bytes.
    pub fn write_newc<W: Write>(&self, out: W) -> io::Result<u64> {
        let mut w = Counting { inner: out, n: 0 };
        for (ino, (path, e)) in self.entries.iter().enumerate() {
            let ino = ino as u32 + 1;
            match &e.body {
                Body::Dir => header(&mut w, ino, S_IFDIR | e.mode, 2, 0, (0, 0), path)?,
                Body::Symlink(t) => {
                    header(
                        &mut w,
                        ino,
                        S_IFLNK | 0o777,
                        1,
                        t.len() as u64,
                        (0, 0),
                        path,
                    )?;
                    w.write_all(t.as_bytes())?;
                    pad(&mut w)?;
                }
                Body::CharDev(ma, mi) => {
                    header(&mut w, ino, S_IFCHR | e.mode, 1, 0, (*ma, *mi), path)?
                }
                Body::File(Content::Bytes(b)) => {
                    header(
                        &mut w,
                        ino,
                        S_IFREG | e.mode,
                        1,
                        b.len() as u64,
                        (0, 0),
                        path,
                    )?;
                    w.write_all(b)?;
                    pad(&mut w)?;
                }
                Body::File(Content::Host(src)) => {
                    let f = std::fs::File::open(src).map_err(|err| {
                        io::Error::new(err.kind(), format!("{}: {err}", src.display()))
                    })?;
                    let len = f.metadata()?.len();
                    header(&mut w, ino, S_IFREG | e.mode, 1, len, (0, 0), path)?;
                    let copied = io::copy(&mut f.take(len), &mut w)?;
                    if copied != len {
                        return Err(io::Error::other(format!(
                            "{} changed size while being archived",
                            src.display()
                        )));
                    }
                    pad(&mut w)?;
                }
            }
        }
        header(&mut w, 0, 0, 1, 0, (0, 0), "TRAILER!!!")?;
        // The kernel reads the archive in 512-byte blocks, as cpio writes it.
        while !w.n.is_multiple_of(512) {
            w.write_all(&[0])?;
        }
        w.flush()?;
        Ok(w.n)
    }
}

struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn pad<W: Write>(w: &mut Counting<W>) -> io::Result<()> {
    while !w.n.is_multiple_of(4) {
        w.write_all(&[0])?;
    }
    Ok(())
}

/// A newc header and the name (NUL-terminated, padded to 4 bytes).
fn header<W: Write>(
    w: &mut Counting<W>,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u64,
    rdev: (u32, u32),
    name: &str,
) -> io::Result<()> {
    let size = u32::try_from(size)
        .map_err(|_| io::Error::other(format!("{name}: larger than 4 GiB, too big for newc")))?;
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        size,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    let mut h = String::from("070701");
    for f in fields {
        h.push_str(&format!("{f:08x}"));
    }
    w.write_all(h.as_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&[0])?;
    pad(w)
}

/// One member of a newc archive as read back (for tests and checks).
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub mode: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

/// Reads a newc archive back, up to its trailer.
#[cfg(test)]
pub fn read_newc(mut buf: &[u8]) -> Result<Vec<Member>, String> {
    let mut out = Vec::new();
    let mut off = 0usize;
    let align = |n: usize| n.div_ceil(4) * 4;
    loop {
        if buf.len() < 110 {
            return Err(format!("truncated header at offset {off}"));
        }
        if &buf[..6] != b"070701" {
            return Err(format!("bad magic at offset {off}"));
        }
        let field = |i: usize| -> Result<u32, String> {
            let s = std::str::from_utf8(&buf[6 + 8 * i..14 + 8 * i]).map_err(|e| e.to_string())?;
            u32::from_str_radix(s, 16).map_err(|e| format!("bad field at offset {off}: {e}"))
        };
        let mode = field(1)?;
        let size = field(6)? as usize;
        let rdev = (field(9)?, field(10)?);
        let namesize = field(11)? as usize;
        let name_end = 110 + namesize;
        if namesize == 0 || buf.len() < name_end {
            return Err(format!("truncated name at offset {off}"));
        }
        let name = String::from_utf8_lossy(&buf[110..name_end - 1]).into_owned();
        let data_start = align(name_end);
        let data_end = data_start + size;
        if buf.len() < data_end {
            return Err(format!("{name}: truncated data"));
        }
        if name == "TRAILER!!!" {
            return Ok(out);
        }
        out.push(Member {
            name,
            mode,
            rdev,
            data: buf[data_start..data_end].to_vec(),
        });
        let next = align(data_end);
        off += next;
        buf = &buf[next.min(buf.len())..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_created_and_paths_normalized() {
        let mut img = Image::new();
        img.file("/etc/ptrace/x.conf", 0o644, "a=1\n");
        let paths: Vec<_> = img.paths().collect();
        assert_eq!(paths, ["etc", "etc/ptrace", "etc/ptrace/x.conf"]);
        assert_eq!(img.get("etc//ptrace/./x.conf").map(|e| e.mode), Some(0o644));
    }

    #[test]
    fn newc_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("prog");
        std::fs::write(&host, b"\x7fELF and more").unwrap();
        let mut img = Image::new();
        img.file("init", 0o755, "#!/bin/sh\n");
        img.host_file("opt/bin/prog", 0o755, &host);
        img.symlink("bin/sh", "busybox");
        img.char_dev("dev/console", 0o600, 5, 1);
        img.dir("tmp", 0o1777);
        let mut buf = Vec::new();
        let n = img.write_newc(&mut buf).unwrap();
        assert_eq!(n as usize, buf.len());
        assert_eq!(buf.len() % 512, 0);
        let members = read_newc(&buf).unwrap();
        let by = |name: &str| members.iter().find(|m| m.name == name).unwrap().clone();
        assert_eq!(by("init").data, b"#!/bin/sh\n");
        assert_eq!(by("init").mode, S_IFREG | 0o755);
        assert_eq!(by("opt/bin/prog").data, b"\x7fELF and more");
        assert_eq!(by("bin/sh").mode, S_IFLNK | 0o777);
        assert_eq!(by("bin/sh").data, b"busybox");
        assert_eq!(by("dev/console").rdev, (5, 1));
        assert_eq!(by("tmp").mode, S_IFDIR | 0o1777);
        // Parents come before their children, as the kernel needs when it unpacks.
        let pos = |name: &str| members.iter().position(|m| m.name == name).unwrap();
        assert!(pos("opt") < pos("opt/bin") && pos("opt/bin") < pos("opt/bin/prog"));
    }

    #[test]
    fn a_missing_host_file_is_an_error_naming_it() {
        let mut img = Image::new();
        img.host_file("x", 0o644, Path::new("/nonexistent/ptrace-atf-file"));
        let err = img.write_newc(Vec::new()).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ptrace-atf-file"), "{err}");
    }

    #[test]
    fn matches_gnu_cpio_listing() {
        // GNU cpio reads what we write (skipped when cpio is not installed).
        let Ok(out) = std::process::Command::new("cpio").arg("--version").output() else {
            return;
        };
        if !out.status.success() {
            return;
        }
        let mut img = Image::new();
        img.file("a/b", 0o644, "hello");
        img.symlink("a/c", "b");
        let dir = tempfile::tempdir().unwrap();
        let arc = dir.path().join("x.cpio");
        img.write_newc(std::fs::File::create(&arc).unwrap())
            .unwrap();
        let out = std::process::Command::new("cpio")
            .args(["-it", "-F"])
            .arg(&arc)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(listed.lines().collect::<Vec<_>>(), ["a", "a/b", "a/c"]);
    }
}
