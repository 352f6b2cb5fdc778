//! CUDA's Multi-Process Service as a client finds it: the pipe directory
//! it looks in (`CUDA_MPS_PIPE_DIRECTORY`, else /tmp/nvidia-mps), whether
//! the control daemon's `control` socket is there, and the MPS processes
//! this PID namespace shows, read from files under the host root. A client
//! that cannot reach the daemon runs without MPS (nvidia-cuda-mps-control's
//! manual), so only a daemon that answers can fail it; a daemon in another
//! namespace (a Kubernetes pod beside this one) is not seen here.

use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// NVIDIA's default pipe directory (the MPS documentation, "Environment
/// Variables": CUDA_MPS_PIPE_DIRECTORY).
pub const DEFAULT_PIPE_DIRECTORY: &str = "/tmp/nvidia-mps";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mps {
    /// Where a client of this environment looks for the daemon.
    pub pipe_directory: String,
    /// Its `control` socket exists: CUDA clients go through MPS.
    pub control: bool,
    /// Running `nvidia-cuda-mps-control` daemons, by pid.
    pub daemons: Vec<u32>,
    /// Running `nvidia-cuda-mps-server` processes, by pid.
    pub servers: Vec<u32>,
    /// The users the servers run as: MPS serves one user at a time, and a
    /// client of another user waits until that user's clients end.
    #[serde(default)]
    pub server_uids: Vec<u32>,
}

impl Mps {
    /// Whether anything of MPS is on this machine.
    pub fn present(&self) -> bool {
        self.control || !self.daemons.is_empty() || !self.servers.is_empty()
    }

    pub fn gather(root: &Path, pipe_directory: Option<&str>) -> Mps {
        let pipe_directory = pipe_directory
            .filter(|d| !d.is_empty())
            .unwrap_or(DEFAULT_PIPE_DIRECTORY)
            .to_string();
        let control = root
            .join(pipe_directory.trim_start_matches('/'))
            .join("control")
            .exists();
        let (mut daemons, mut servers) = (Vec::new(), Vec::new());
        if let Ok(entries) = fs::read_dir(root.join("proc")) {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                // `comm` cuts both names to "nvidia-cuda-mps": argv[0] tells them apart.
                let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                match program.rsplit(|b| *b == b'/').next().unwrap_or_default() {
                    b"nvidia-cuda-mps-control" => daemons.push(pid),
                    b"nvidia-cuda-mps-server" => servers.push((pid, owner(&entry.path()))),
                    _ => {}
                }
            }
        }
        daemons.sort_unstable();
        servers.sort_unstable();
        let mut server_uids: Vec<u32> = servers.iter().filter_map(|(_, uid)| *uid).collect();
        server_uids.sort_unstable();
        server_uids.dedup();
        Mps {
            pipe_directory,
            control,
            daemons,
            servers: servers.into_iter().map(|(pid, _)| pid).collect(),
            server_uids,
        }
    }

    /// An MPS server this client reaches serves another user: a CUDA
    /// client here would make the daemon queue it behind that user's
    /// clients (and ask that server to end), so gpugate does not start one.
    pub fn serves_another_user(&self, uid: u32) -> Option<u32> {
        if !self.control {
            return None;
        }
        self.server_uids.iter().copied().find(|owner| *owner != uid)
    }
}

/// The real user id of a process (`/proc/PID/status`, `Uid:`).
fn owner(process: &Path) -> Option<u32> {
    let status = fs::read_to_string(process.join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_and_the_processes_are_read_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(!Mps::gather(r, None).present());
        fs::create_dir_all(r.join("tmp/nvidia-mps")).unwrap();
        fs::write(r.join("tmp/nvidia-mps/control"), "").unwrap();
        for (pid, argv) in [
            ("41", "/usr/bin/nvidia-cuda-mps-control\0-d\0"),
            ("42", "nvidia-cuda-mps-server\0"),
            ("43", "python3\0train.py\0"),
        ] {
            fs::create_dir_all(r.join("proc").join(pid)).unwrap();
            fs::write(r.join("proc").join(pid).join("cmdline"), argv).unwrap();
        }
        let mps = Mps::gather(r, None);
        assert!(mps.control);
        assert_eq!(
            (mps.daemons.as_slice(), mps.servers.as_slice()),
            (&[41][..], &[42][..])
        );
        let elsewhere = Mps::gather(r, Some("/run/mps"));
        assert_eq!(elsewhere.pipe_directory, "/run/mps");
        assert!(!elsewhere.control);
    }
}
