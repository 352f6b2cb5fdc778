//! Keeps secrets out of every report: a variable whose name says it holds a
//! secret never has its value shown.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_redacted() {
        assert_eq!(shown_value("GITHUB_TOKEN", "ghp_x"), REDACTED);
        assert_eq!(shown_value("aws_secret_access_key", "x"), REDACTED);
        assert_eq!(shown_value("CUDA_VISIBLE_DEVICES", "0,1"), "0,1");
    }
}
