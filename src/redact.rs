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

/// Values of at least this length are scrubbed wherever they appear.
const MIN_SECRET_LEN: usize = 6;
/// Shorter values down to this length are scrubbed where they stand as a
/// whole word; shorter still ("1", "no") would blank out half a report, and
/// are not scrubbed by value (the token shapes still apply).
const MIN_WORD_SECRET_LEN: usize = 3;

/// Shapes of credentials that are secret wherever they appear.
static TOKEN_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"gh[pousr]_[A-Za-z0-9]{30,}",
        r"|github_pat_[A-Za-z0-9_]{30,}",
        r"|glpat-[A-Za-z0-9_-]{20,}",
        r"|\bAKIA[0-9A-Z]{16}\b",
        r"|xox[abprs]-[A-Za-z0-9-]{10,}",
        r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        // The whole key, or all of it up to where the text was cut.
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|\z)",
        r"|(?i:bearer)\s+[A-Za-z0-9._~+/-]{20,}=*",
    ))
    .expect("valid regex")
});

/// `user:password@` in URLs: the password goes, even one holding `/` or
/// `@` (up to the last `@` of the URL).
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(://[^/\s:@]+:)\S*@").expect("valid regex"));

pub struct Scrubber {
    values: Vec<String>,
    /// Short secrets, matched as whole words.
    words: Option<Regex>,
}

impl Scrubber {
    /// Secrets are these values, longest first (so a value inside another
    /// goes with it).
    fn from_values(all: impl IntoIterator<Item = String>) -> Scrubber {
        let mut values = Vec::new();
        let mut short = Vec::new();
        for value in all {
            if value.len() >= MIN_SECRET_LEN {
                values.push(value);
            } else if value.len() >= MIN_WORD_SECRET_LEN {
                short.push(regex::escape(&value));
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        short.sort();
        short.dedup();
        let words = (!short.is_empty())
            .then(|| Regex::new(&format!(r"\b(?:{})\b", short.join("|"))).expect("escaped"));
        Scrubber { values, words }
    }

    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), REDACTED));
            }
        }
        if let Some(words) = &self.words
            && words.is_match(&out)
        {
            out = Cow::Owned(words.replace_all(&out, REDACTED).into_owned());
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

/// Secrets this run learnt besides its environment: `--var` and `[vars]`
/// values of secret-named variables.
static REGISTERED: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

static PROCESS: std::sync::RwLock<Option<std::sync::Arc<Scrubber>>> = std::sync::RwLock::new(None);

/// The values of those of `vars` whose names say they are secret.
fn secret_values(vars: impl IntoIterator<Item = (String, String)>) -> impl Iterator<Item = String> {
    vars.into_iter()
        .filter(|(k, _)| is_secret_name(k))
        .map(|(_, v)| v)
}

fn process_scrubber() -> std::sync::Arc<Scrubber> {
    if let Some(s) = PROCESS.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return s.clone();
    }
    let env = secret_values(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    let registered = REGISTERED.read().unwrap_or_else(|e| e.into_inner()).clone();
    let scrubber = std::sync::Arc::new(Scrubber::from_values(env.chain(registered)));
    *PROCESS.write().unwrap_or_else(|e| e.into_inner()) = Some(scrubber.clone());
    scrubber
}

/// Makes the value of a secret-named variable secret from now on, wherever
/// it came from (`--var`, `[vars]`, the environment).
pub fn register(name: &str, value: &str) {
    if !is_secret_name(name) || value.len() < MIN_WORD_SECRET_LEN {
        return;
    }
    let mut registered = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if registered.iter().any(|v| v == value) {
        return;
    }
    registered.push(value.to_string());
    *PROCESS.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// `text` with this process's secrets and every token-shaped string removed.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let scrubber = process_scrubber();
    match scrubber.scrub(text) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(clean) => Cow::Owned(clean),
    }
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
        let s = Scrubber::from_values(secret_values([
            ("DEPLOY_TOKEN".to_string(), "hunter2-hunter2".to_string()),
            ("DB_PASSWORD".to_string(), "ab".to_string()),
            ("PATH".to_string(), "/usr/bin".to_string()),
        ]));
        // Two characters are too short to scrub by value.
        let text = "token hunter2-hunter2 in /usr/bin; ab stays; \
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
        assert!(clean.contains("/usr/bin") && clean.contains("ab stays"));
        assert!(
            clean.contains("https://ci:<redacted>@git.internal/repo"),
            "{clean}"
        );
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn whole_keys_short_secrets_and_odd_url_passwords_go() {
        let s = Scrubber::from_values(secret_values([(
            "DB_PASSWORD".to_string(),
            "abc".to_string(),
        )]));
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nabcdef\n-----END RSA PRIVATE KEY-----\nafter";
        assert_eq!(s.scrub(key), "<redacted>\nafter");
        let cut = "start -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA";
        assert_eq!(s.scrub(cut), "start <redacted>");
        assert_eq!(s.scrub("pw abc, not abcd"), "pw <redacted>, not abcd");
        assert_eq!(
            s.scrub("https://u:p/a@ss@host/x"),
            "https://u:<redacted>@host/x"
        );
    }

    #[test]
    fn secret_names_are_redacted() {
        assert_eq!(shown_value("GITHUB_TOKEN", "ghp_x"), REDACTED);
        assert_eq!(shown_value("aws_secret_access_key", "x"), REDACTED);
        assert_eq!(shown_value("CUDA_VISIBLE_DEVICES", "0,1"), "0,1");
    }
}
