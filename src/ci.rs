//! The CI system a run is under, read from the environment once, at the
//! start: what the console must guard against and which reporters join.

use std::path::PathBuf;

/// Which CI system runs gpugate, and what it gave the job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ci {
    /// `GITHUB_ACTIONS=true`: the log reads `::` lines as workflow commands.
    pub github_actions: bool,
    /// `GITHUB_STEP_SUMMARY`: the file the job summary is appended to.
    pub step_summary: Option<PathBuf>,
    /// `GITLAB_CI=true`: the log folds into sections.
    pub gitlab: bool,
}

impl Ci {
    /// What the environment of this process says.
    pub fn from_env() -> Ci {
        let set = |name: &str| std::env::var(name).as_deref() == Ok("true");
        Ci {
            github_actions: set("GITHUB_ACTIONS"),
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            gitlab: set("GITLAB_CI"),
        }
    }

    /// `text` as it may appear in the job's log: on GitHub Actions a line
    /// that starts with `::` is a workflow command, so a check's output
    /// could forge annotations, or `::stop-commands::` would silence
    /// gpugate's own. Such lines are printed behind `| `.
    pub fn log_safe(&self, text: String) -> String {
        // A check's output and the machine's words reach a terminal or a CI
        // log: their control characters are shown, never obeyed.
        let text = crate::text::escape_controls(&text).into_owned();
        if !self.github_actions {
            return text;
        }
        // The runner reads lines as .NET's ReadLine does: a lone CR ends one too.
        text.split_inclusive(['\n', '\r'])
            .map(|line| {
                if line.trim_start().starts_with("::") {
                    format!("| {line}")
                } else {
                    line.to_string()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_github_actions_guards_workflow_commands() {
        let text = "ok\n::error::forged\r  ::stop-commands::x\n  ::warning::y\r\nend".to_string();
        // A lone CR is shown, not obeyed: it ends no line any more.
        assert_eq!(
            Ci::default().log_safe(text.clone()),
            "ok\n::error::forged\\r  ::stop-commands::x\n  ::warning::y\r\nend"
        );
        let github = Ci {
            github_actions: true,
            ..Ci::default()
        };
        assert_eq!(
            github.log_safe(text),
            "ok\n| ::error::forged\\r  ::stop-commands::x\n|   ::warning::y\r\nend"
        );
    }
}
