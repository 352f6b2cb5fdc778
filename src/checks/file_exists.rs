//! `file.exists`: a path exists and has the expected type (device nodes such
//! as /dev/nvidiactl are how a container shows it was given GPUs).

use crate::checks::Invalid;
use crate::checks::kind::{Execution, InParent, Kind};

use crate::outcome::Verdict;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: String,
    #[serde(default, rename = "type")]
    pub file_type: FileType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileType {
    #[default]
    Any,
    File,
    Dir,
    CharDevice,
}

impl FileType {
    fn word(self) -> &'static str {
        match self {
            FileType::Any => "anything",
            FileType::File => "a regular file",
            FileType::Dir => "a directory",
            FileType::CharDevice => "a character device",
        }
    }
}

impl Spec {
    /// Relative paths are relative to the suite's directory.
    pub fn resolve(&mut self, base_dir: &Path) {
        if Path::new(&self.path).is_relative() {
            self.path = base_dir.join(&self.path).to_string_lossy().into_owned();
        }
    }

    pub fn run(&self) -> Verdict {
        let path = Path::new(&self.path);
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => return Verdict::fail(format!("{} does not exist ({e})", self.path)),
        };
        let ft = meta.file_type();
        let actual = if ft.is_file() {
            FileType::File
        } else if ft.is_dir() {
            FileType::Dir
        } else if ft.is_char_device() {
            FileType::CharDevice
        } else {
            FileType::Any
        };
        if self.file_type != FileType::Any && self.file_type != actual {
            return Verdict::fail(format!(
                "{} exists but is {}, expected {}",
                self.path,
                if actual == FileType::Any {
                    "of another type"
                } else {
                    actual.word()
                },
                self.file_type.word()
            ));
        }
        Verdict::pass(format!("{} exists ({})", self.path, actual.word()))
    }
}

/// A minimal valid check of this kind's keys, for the registry's tests.
#[cfg(test)]
pub const EXAMPLE: &str = "path = '/etc/hostname'";

impl Kind for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        if self.path.is_empty() {
            return Err(Invalid::at("path", "`path` must not be empty"));
        }
        Ok(())
    }

    fn execution(&self) -> Execution<'_> {
        Execution::Parent(self)
    }

    crate::checks::kind::resolves_paths!();
}

impl InParent for Spec {
    fn run(&self, _timeout: std::time::Duration) -> (Verdict, Option<String>) {
        (self.run(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

    #[test]
    fn types_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let run = |path: &Path, file_type| {
            Spec {
                path: path.to_string_lossy().into(),
                file_type,
            }
            .run()
            .status
        };
        assert_eq!(run(&file, FileType::File), Status::Pass);
        assert_eq!(run(&file, FileType::Dir), Status::Fail);
        assert_eq!(run(dir.path(), FileType::Dir), Status::Pass);
        assert_eq!(
            run(Path::new("/dev/null"), FileType::CharDevice),
            Status::Pass
        );
        assert_eq!(
            run(&dir.path().join("missing"), FileType::Any),
            Status::Fail
        );
    }

    #[test]
    fn relative_paths_follow_the_suite() {
        let mut spec = Spec {
            path: "data/x".into(),
            file_type: FileType::Any,
        };
        spec.resolve(Path::new("/suites"));
        assert_eq!(spec.path, "/suites/data/x");
    }
}
