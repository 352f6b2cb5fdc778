//! Keeps secrets out of every report: a variable whose name says it holds a
//! secret never has its value shown, and no output (console, JUnit, JSON,
//! CI summaries) carries the value of such a variable or anything shaped
//! like a well-known token, whoever printed it.

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

const SECRET_NAME_PARTS: &[&str] = &["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"];

pub const REDACTED: &str = "<redacted>";

/// Whether a variable of this name may hold a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// The value to show for variable `name`.
pub fn shown_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_name(name) {
        REDACTED
    } else {
        value
    }
}

/// Values shorter than this are not scrubbed by value ("1", "yes" would
/// blank out half a report); the token shapes still apply.
const MIN_SECRET_LEN: usize = 6;

/// Shapes of credentials that are secret wherever they appear.
static TOKEN_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"gh[pousr]_[A-Za-z0-9]{30,}",
        r"|github_pat_[A-Za-z0-9_]{30,}",
        r"|glpat-[A-Za-z0-9_-]{20,}",
        r"|\bAKIA[0-9A-Z]{16}\b",
        r"|xox[abprs]-[A-Za-z0-9-]{10,}",
        r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"|(?i:bearer)\s+[A-Za-z0-9._~+/-]{20,}=*",
    ))
    .expect("valid regex")
});

/// `user:password@` in URLs: the password goes.
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(://[^/\s:@]+:)[^/\s@]+@").expect("valid regex"));

pub struct Scrubber {
    values: Vec<String>,
}

impl Scrubber {
    /// Secrets are the values of this environment's variables with secret
    /// names, longest first (so a value inside another goes with it).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Scrubber {
        let mut values: Vec<String> = vars
            .into_iter()
            .filter(|(k, v)| is_secret_name(k) && v.len() >= MIN_SECRET_LEN)
            .map(|(_, v)| v)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Scrubber { values }
    }

    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), REDACTED));
            }
        }
        if TOKEN_SHAPES.is_match(&out) {
            out = Cow::Owned(TOKEN_SHAPES.replace_all(&out, REDACTED).into_owned());
        }
        if URL_PASSWORD.is_match(&out) {
            out = Cow::Owned(
                URL_PASSWORD
                    .replace_all(&out, format!("${{1}}{REDACTED}@"))
                    .into_owned(),
            );
        }
        out
    }
}

static PROCESS: LazyLock<Scrubber> = LazyLock::new(|| {
    Scrubber::from_vars(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    )
});

/// `text` with this process's secrets and every token-shaped string removed.
pub fn scrub(text: &str) -> Cow<'_, str> {
    PROCESS.scrub(text)
}

/// [`scrub`] in place.
pub fn scrub_in_place(text: &mut String) {
    if let Cow::Owned(clean) = scrub(text) {
        *text = clean;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_and_token_shapes_are_scrubbed() {
        let s = Scrubber::from_vars([
            ("DEPLOY_TOKEN".to_string(), "hunter2-hunter2".to_string()),
            ("DB_PASSWORD".to_string(), "abc".to_string()),
            ("PATH".to_string(), "/usr/bin".to_string()),
        ]);
        let text = "token hunter2-hunter2 in /usr/bin; abc stays; \
                    ghp_0123456789abcdefghijABCDEFGHIJ0123456789 \
                    glpat-abcdefghij0123456789 AKIAABCDEFGHIJKLMNOP \
                    https://ci:s3cret@git.internal/repo Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345";
        let clean = s.scrub(text);
        for leaked in [
            "hunter2",
            "ghp_",
            "glpat-",
            "AKIAABCD",
            "s3cret",
            "abcdefghijklmnopqrstuvwxyz012345",
        ] {
            assert!(!clean.contains(leaked), "{leaked} leaked: {clean}");
        }
        assert!(clean.contains("/usr/bin") && clean.contains("abc stays"));
        assert!(
            clean.contains("https://ci:<redacted>@git.internal/repo"),
            "{clean}"
        );
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn secret_names_are_redacted() {
        assert_eq!(shown_value("GITHUB_TOKEN", "ghp_x"), REDACTED);
        assert_eq!(shown_value("aws_secret_access_key", "x"), REDACTED);
        assert_eq!(shown_value("CUDA_VISIBLE_DEVICES", "0,1"), "0,1");
    }
}
