//! `${NAME}` and `${NAME:-default}` in suite strings. A name resolves to a
//! `--var`, then the suite's `[vars]` table, then the environment.

use std::collections::BTreeMap;

/// The longest string an expansion may produce. Variables that each repeat
/// the next one twice grow exponentially; past this bound the expansion
/// stops with an error naming the variable, after work linear in the bound.
pub const MAX_EXPANDED_BYTES: usize = 64 << 10;

/// Why a string's variables could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("unterminated `${{` in \"{0}\" (write `$$` for a literal `$`)")]
    Unterminated(String),
    #[error("`{0}` is not a variable name (letters, digits and `_`, not starting with a digit)")]
    BadName(String),
    #[error(
        "variable `{0}` expands to more than {MAX_EXPANDED_BYTES} bytes here (variables that repeat each other grow exponentially)"
    )]
    TooLong(String),
    /// The chain of variables that leads back to the first.
    #[error("variable `{}` refers to itself ({})", .0[0], .0.join(" → "))]
    Cycle(Vec<String>),
    #[error(
        "undefined variable `{0}`: not given with --var, not in [vars], not in the environment (write `${{{0}:-default}}` for a default)"
    )]
    Undefined(String),
}

pub struct Resolver<'a> {
    cli: &'a BTreeMap<String, String>,
    table: BTreeMap<String, String>,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Every name looked up: a `--var` no suite looks up is a typo.
    used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        cli: &'a BTreeMap<String, String>,
        table: BTreeMap<String, String>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Resolver {
            cli,
            table,
            env,
            used: Default::default(),
        }
    }

    /// The variables this suite uses: those its strings refer to, and its
    /// `[vars]` table's.
    pub fn variables(&self) -> std::collections::BTreeSet<String> {
        let mut names = self.used.borrow().clone();
        names.extend(self.table.keys().cloned());
        names
    }

    /// Expands every reference in `text`. `$$` stands for a literal `$`.
    pub fn expand(&self, text: &str) -> Result<String, VarError> {
        self.expand_within(text, &mut Vec::new())
    }

    fn expand_within(&self, text: &str, stack: &mut Vec<String>) -> Result<String, VarError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body_start) = after.strip_prefix('{') {
                let end = body_start
                    .find('}')
                    .ok_or_else(|| VarError::Unterminated(text.to_string()))?;
                let body = &body_start[..end];
                let (name, default) = match body.split_once(":-") {
                    Some((name, default)) => (name, Some(default)),
                    None => (body, None),
                };
                check_name(name)?;
                out.push_str(&self.lookup(name, default, stack)?);
                if out.len() > MAX_EXPANDED_BYTES {
                    return Err(VarError::TooLong(name.to_string()));
                }
                rest = &body_start[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A variable's value; a secret-named one's value becomes a secret that
    /// every output scrubs, wherever the value came from.
    fn lookup(
        &self,
        name: &str,
        default: Option<&str>,
        stack: &mut Vec<String>,
    ) -> Result<String, VarError> {
        self.used.borrow_mut().insert(name.to_string());
        let value = self.lookup_unregistered(name, default, stack)?;
        crate::redact::register(name, &value);
        Ok(value)
    }

    fn lookup_unregistered(
        &self,
        name: &str,
        default: Option<&str>,
        stack: &mut Vec<String>,
    ) -> Result<String, VarError> {
        if let Some(value) = self.cli.get(name) {
            return Ok(value.clone());
        }
        if let Some(raw) = self.table.get(name) {
            if let Some(first) = stack.iter().position(|n| n == name) {
                let mut cycle = stack[first..].to_vec();
                cycle.push(name.to_string());
                return Err(VarError::Cycle(cycle));
            }
            stack.push(name.to_string());
            let value = self.expand_within(raw, stack);
            stack.pop();
            return value;
        }
        if let Some(value) = (self.env)(name) {
            return Ok(value);
        }
        match default {
            Some(default) => Ok(default.to_string()),
            None => Err(VarError::Undefined(name.to_string())),
        }
    }
}

fn check_name(name: &str) -> Result<(), VarError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(VarError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver<'a>(
        cli: &'a BTreeMap<String, String>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Resolver<'a> {
        let table = BTreeMap::from([
            ("DRIVER".to_string(), "${MAJOR}.104".to_string()),
            ("MAJOR".to_string(), "535".to_string()),
            ("LOOP_A".to_string(), "${LOOP_B}".to_string()),
            ("LOOP_B".to_string(), "${LOOP_A}".to_string()),
        ]);
        Resolver::new(cli, table, env)
    }

    #[test]
    fn precedence_is_cli_then_table_then_env() {
        let cli = BTreeMap::from([("MAJOR".to_string(), "550".to_string())]);
        let env = |n: &str| (n == "HOME").then(|| "/root".to_string());
        let r = resolver(&cli, &env);
        assert_eq!(r.expand("${DRIVER}").unwrap(), "550.104");
        assert_eq!(r.expand("${HOME}/x").unwrap(), "/root/x");
        assert_eq!(r.expand("${NOPE:-fallback}").unwrap(), "fallback");
        assert_eq!(r.expand("cost $$5 and $x").unwrap(), "cost $5 and $x");
    }

    /// 40 variables, each the next one twice: 2^40 bytes unbounded.
    #[test]
    fn exponential_expansion_stops_at_the_bound() {
        let cli = BTreeMap::new();
        let env = |_: &str| None;
        let mut table: BTreeMap<String, String> = (0..40)
            .map(|i| (format!("v{i}"), format!("${{v{}}}${{v{}}}", i + 1, i + 1)))
            .collect();
        table.insert("v40".into(), "x".into());
        let r = Resolver::new(&cli, table, &env);
        // Unbounded, this never returns (2^40 bytes).
        let err = r.expand("${v0}").unwrap_err().to_string();
        assert!(err.contains("expands to more than 65536 bytes"), "{err}");
        assert!(err.starts_with("variable `v"), "{err}");
    }

    #[test]
    fn errors_name_the_problem() {
        let cli = BTreeMap::new();
        let env = |_: &str| None;
        let r = resolver(&cli, &env);
        let message = |text: &str| r.expand(text).unwrap_err().to_string();
        assert!(message("${NOPE}").starts_with("undefined variable `NOPE`"));
        assert_eq!(
            r.expand("${LOOP_A}").unwrap_err(),
            VarError::Cycle(vec!["LOOP_A".into(), "LOOP_B".into(), "LOOP_A".into()])
        );
        assert_eq!(
            message("${LOOP_A}"),
            "variable `LOOP_A` refers to itself (LOOP_A → LOOP_B → LOOP_A)"
        );
        assert!(message("${OPEN").starts_with("unterminated"));
        assert!(message("${1X}").contains("is not a variable name"));
    }
}
