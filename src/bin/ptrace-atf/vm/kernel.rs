//! The kernel to boot: a bzImage/vmlinuz, or a Debian `linux-image-*.deb` unpacked for
//! the user (`dpkg-deb -x` into a cache directory, then its `boot/vmlinuz-*`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A kernel ready to boot.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// What the user gave.
    pub given: PathBuf,
    /// The image qemu boots.
    pub image: PathBuf,
    /// Its name in reports: the release (`6.12.117+deb12-cloud-amd64`) or the file name.
    pub label: String,
    /// The kernel's config file when the package has one.
    pub config: Option<PathBuf>,
}

/// Why a kernel cannot be used: a bad argument (exit 2) or a missing tool (exit 3).
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    BadArgument(String),
    Missing(String),
}

/// The release in an image's file name: `vmlinuz-6.1.0-57-cloud-amd64` -> `6.1.0-57-cloud-amd64`.
pub fn label_of(file_name: &str) -> String {
    file_name
        .strip_prefix("vmlinuz-")
        .or_else(|| file_name.strip_prefix("bzImage-"))
        .unwrap_or(file_name)
        .to_string()
}

/// Whether `bytes` (the start of a file) is an x86 boot image: "HdrS" at 0x202.
pub fn is_bzimage(bytes: &[u8]) -> bool {
    bytes.get(0x202..0x206) == Some(b"HdrS")
}

/// The `boot/vmlinuz-*` (and its `config-*`) under an unpacked package.
pub fn find_in_tree(root: &Path) -> Result<(PathBuf, Option<PathBuf>), String> {
    let boot = root.join("boot");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    images.sort();
    let image = match images.as_slice() {
        [one] => one.clone(),
        [] => return Err(format!("no boot/vmlinuz-* in {}", root.display())),
        many => {
            return Err(format!(
                "several kernels in {}: {}",
                root.display(),
                many.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = boot.join(format!("config-{}", label_of(&name)));
    Ok((image, config.is_file().then_some(config)))
}

/// Makes `given` bootable; a package is unpacked once into `cache`.
pub fn resolve(given: &Path, cache: &Path) -> Result<Kernel, Error> {
    let meta = std::fs::metadata(given)
        .map_err(|e| Error::BadArgument(format!("kernel {}: {e}", given.display())))?;
    if !meta.is_file() {
        return Err(Error::BadArgument(format!(
            "kernel {}: not a file (give a bzImage/vmlinuz or a linux-image-*.deb)",
            given.display()
        )));
    }
    let file_name = given
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file_name.ends_with(".deb") {
        let stem = file_name.trim_end_matches(".deb");
        let dir = cache.join(stem);
        let done = dir.join(".unpacked");
        if !done.is_file() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::Missing(format!("cannot create {}: {e}", dir.display())))?;
            eprintln!(
                "ptrace-atf vm: unpacking {} into {}",
                given.display(),
                dir.display()
            );
            unpack_boot(given, &dir)?;
            let _ = std::fs::write(&done, "");
        }
        let (image, config) = find_in_tree(&dir)
            .map_err(|e| Error::BadArgument(format!("kernel {}: {e}", given.display())))?;
        let label = label_of(
            &image
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        return Ok(Kernel {
            given: given.to_path_buf(),
            image,
            label,
            config,
        });
    }
    let mut head = vec![0u8; 0x210];
    let n = std::fs::File::open(given)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| Error::BadArgument(format!("kernel {}: {e}", given.display())))?;
    if !is_bzimage(&head[..n]) {
        return Err(Error::BadArgument(format!(
            "kernel {}: neither an x86 boot image (bzImage/vmlinuz) nor a .deb package",
            given.display()
        )));
    }
    Ok(Kernel {
        given: given.to_path_buf(),
        image: given.to_path_buf(),
        label: label_of(&file_name),
        config: None,
    })
}

/// Unpacks the package's `./boot` (the image, its config, System.map) into `dir`:
/// `dpkg-deb --fsys-tarfile DEB | tar -x ./boot` (the modules are not needed: the guest
/// uses only built-in drivers).
fn unpack_boot(deb: &Path, dir: &Path) -> Result<(), Error> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Missing(format!("cannot run dpkg-deb (install dpkg): {e}")))?;
    let Some(tarfile) = dpkg.stdout.take() else {
        return Err(Error::Missing("dpkg-deb gave no output".into()));
    };
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .args(["--wildcards", "./boot/*"])
        .stdin(tarfile)
        .stderr(Stdio::piped())
        .output();
    let dpkg_out = dpkg.wait_with_output();
    let tar = tar.map_err(|e| Error::Missing(format!("cannot run tar: {e}")))?;
    let dpkg_out = dpkg_out.map_err(|e| Error::Missing(format!("dpkg-deb: {e}")))?;
    if !dpkg_out.status.success() || !tar.status.success() {
        return Err(Error::BadArgument(format!(
            "kernel {}: cannot unpack: {}{}",
            deb.display(),
            String::from_utf8_lossy(&dpkg_out.stderr).trim(),
            String::from_utf8_lossy(&tar.stderr).trim()
        )));
    }
    Ok(())
}

/// A kernel config option's value (`y`, `m`, a string), `None` when unset.
pub fn config_value(config_text: &str, option: &str) -> Option<String> {
    let prefix = format!("{option}=");
    config_text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_file_name() {
        assert_eq!(
            label_of("vmlinuz-6.12.117+deb12-rt-amd64"),
            "6.12.117+deb12-rt-amd64"
        );
        assert_eq!(label_of("bzImage"), "bzImage");
    }

    #[test]
    fn a_missing_kernel_is_a_bad_argument() {
        let e = resolve(Path::new("/nonexistent/vmlinuz"), Path::new("/tmp")).unwrap_err();
        assert!(matches!(e, Error::BadArgument(m) if m.contains("/nonexistent/vmlinuz")));
    }

    #[test]
    fn a_file_that_is_no_kernel_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vmlinuz-x");
        std::fs::write(&f, b"not a kernel").unwrap();
        let e = resolve(&f, dir.path()).unwrap_err();
        assert!(matches!(e, Error::BadArgument(m) if m.contains("neither")));
        let mut img = vec![0u8; 0x300];
        img[0x202..0x206].copy_from_slice(b"HdrS");
        std::fs::write(&f, &img).unwrap();
        let k = resolve(&f, dir.path()).unwrap();
        assert_eq!(k.label, "x");
    }

    #[test]
    fn an_unpacked_package_gives_its_image_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        std::fs::write(boot.join("vmlinuz-6.1.0-57-cloud-amd64"), b"").unwrap();
        std::fs::write(
            boot.join("config-6.1.0-57-cloud-amd64"),
            b"CONFIG_SERIAL_8250=y\n",
        )
        .unwrap();
        std::fs::write(boot.join("System.map-6.1.0-57-cloud-amd64"), b"").unwrap();
        let (image, config) = find_in_tree(dir.path()).unwrap();
        assert!(image.ends_with("boot/vmlinuz-6.1.0-57-cloud-amd64"));
        assert!(
            config
                .unwrap()
                .ends_with("boot/config-6.1.0-57-cloud-amd64")
        );
        assert!(find_in_tree(&boot).is_err());
    }

    #[test]
    fn config_values() {
        let c = "# CONFIG_X is not set\nCONFIG_SERIAL_8250=y\nCONFIG_LOCALVERSION=\"-rt\"\n";
        assert_eq!(config_value(c, "CONFIG_SERIAL_8250").as_deref(), Some("y"));
        assert_eq!(
            config_value(c, "CONFIG_LOCALVERSION").as_deref(),
            Some("-rt")
        );
        assert_eq!(config_value(c, "CONFIG_X"), None);
    }
}
