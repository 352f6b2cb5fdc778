//! TOML text → a validated [`Suite`]. Works on toml's spanned document so that
//! every error, including those found after variable expansion, points at the
//! file, line, column and key.

use super::common::COMMON_KEYS;
use super::vars::Resolver;
use super::{CheckDef, CommonSpec, Suite, SuiteError};
use crate::checks::{CheckKind, KIND_NAMES};
use crate::text::did_you_mean;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

const TOP_LEVEL_KEYS: &[&str] = &["description", "vars", "check"];

struct Ctx<'s> {
    file: &'s str,
    source: &'s str,
    /// Where each line starts, so that every check's line is a binary
    /// search, not a scan from the top (a 20,000-check suite was quadratic).
    line_starts: Vec<usize>,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= offset)
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> SuiteError {
        SuiteError::new(self.file, self.source, Some(span), message)
    }

    /// Turns a toml/serde error into ours, adding a "did you mean" where serde
    /// names what it expected.
    fn toml_error(
        &self,
        err: toml::de::Error,
        fallback: Range<usize>,
        extra_keys: &[&str],
        context: &str,
    ) -> SuiteError {
        let span = err.span().unwrap_or(fallback);
        let message = err.message().trim().to_string();
        let mut out = self.error(span, format!("{context}{message}"));
        if let Some((word, expected)) = unknown_and_expected(&message) {
            let candidates: Vec<&str> = expected
                .iter()
                .map(String::as_str)
                .chain(extra_keys.iter().copied())
                .collect();
            if let Some(near) = did_you_mean(&word, candidates.iter().copied()) {
                out.help = Some(format!("did you mean `{near}`?"));
            }
        }
        out
    }
}

/// From serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown
/// variant"), the word and the expected names.
fn unknown_and_expected(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, expected) = rest.split_once('`')?;
    let names = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((word.to_string(), names))
}

pub fn parse_suite(
    name: &str,
    file: &str,
    base_dir: &Path,
    source: &str,
    cli_vars: &BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Suite, SuiteError> {
    let line_starts = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let ctx = Ctx {
        file,
        source,
        line_starts,
    };
    if source.trim().is_empty() {
        return Err(SuiteError::new(
            file,
            source,
            None,
            "suite is empty: it needs at least one [[check]]",
        ));
    }
    let root = DeTable::parse(source).map_err(|e| ctx.toml_error(e, 0..0, &[], ""))?;
    let root_span = root.span();
    let mut root = root.into_inner();

    for (key, _) in root.iter() {
        if !TOP_LEVEL_KEYS.contains(&key.get_ref().as_ref()) {
            let mut err = ctx.error(
                key.span(),
                format!("unknown top-level key `{}`", key.get_ref()),
            );
            err.help = Some(
                match did_you_mean(key.get_ref(), TOP_LEVEL_KEYS.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("a suite has only {}", TOP_LEVEL_KEYS.join(", ")),
                },
            );
            return Err(err);
        }
    }

    let resolver = Resolver::new(cli_vars, read_vars(&ctx, root.get("vars"))?, env);

    let description = match root.get_mut("description") {
        None => None,
        Some(value) => {
            expand_strings(&ctx, &resolver, value)?;
            Some(
                value
                    .get_ref()
                    .as_str()
                    .ok_or_else(|| ctx.error(value.span(), "`description` must be a string"))?
                    .to_string(),
            )
        }
    };

    let Some(checks) = root.get_mut("check") else {
        return Err(ctx.error(
            root_span.start..root_span.start,
            "suite has no checks: add at least one [[check]] table",
        ));
    };
    let checks_span = checks.span();
    let DeValue::Array(array) = checks.get_mut() else {
        return Err(ctx.error(
            checks_span,
            "`check` must be an array of tables: write each check as [[check]]",
        ));
    };

    let mut defs = Vec::with_capacity(array.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in array.iter_mut() {
        expand_strings(&ctx, &resolver, item)?;
        let def = parse_check(&ctx, item)?;
        if let Some(first_line) = seen.insert(def.common.name.clone(), def.line) {
            let span = item
                .get_ref()
                .get("name")
                .map(|v| v.span())
                .unwrap_or(item.span());
            return Err(ctx
                .error(span, format!("duplicate check name `{}`", def.common.name))
                .with_help(format!("the first check of that name is on line {first_line}; names must be unique in a suite")));
        }
        defs.push(def);
    }
    if defs.is_empty() {
        return Err(ctx.error(
            checks_span,
            "suite has no checks: add at least one [[check]] table",
        ));
    }

    Ok(Suite {
        name: name.to_string(),
        description,
        file: file.to_string(),
        base_dir: base_dir.to_path_buf(),
        checks: defs,
        variables: resolver.variables(),
    })
}

fn read_vars(
    ctx: &Ctx,
    vars: Option<&Spanned<DeValue>>,
) -> Result<BTreeMap<String, String>, SuiteError> {
    let mut out = BTreeMap::new();
    let Some(vars) = vars else { return Ok(out) };
    let DeValue::Table(table) = vars.get_ref() else {
        return Err(ctx.error(
            vars.span(),
            "`vars` must be a table: write [vars] then NAME = \"value\" lines",
        ));
    };
    for (key, value) in table.iter() {
        let text = match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => i.as_str().to_string(),
            DeValue::Float(f) => f.as_str().to_string(),
            DeValue::Boolean(b) => b.to_string(),
            other => {
                return Err(ctx.error(
                    value.span(),
                    format!(
                        "variable `{}` must be a string, number or boolean, not {}",
                        key.get_ref(),
                        other.type_str()
                    ),
                ));
            }
        };
        out.insert(key.get_ref().to_string(), text);
    }
    Ok(out)
}

/// Expands variables in every string below `value`, in place, keeping spans.
fn expand_strings(
    ctx: &Ctx,
    resolver: &Resolver,
    value: &mut Spanned<DeValue>,
) -> Result<(), SuiteError> {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains('$') => {
            let expanded = resolver
                .expand(s)
                .map_err(|e| ctx.error(span, e.to_string()))?;
            *s = Cow::Owned(expanded);
        }
        DeValue::Array(array) => {
            for item in array.iter_mut() {
                expand_strings(ctx, resolver, item)?;
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter_mut() {
                expand_strings(ctx, resolver, item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn parse_check(ctx: &Ctx, item: &Spanned<DeValue>) -> Result<CheckDef, SuiteError> {
    let span = item.span();
    let line = ctx.line_of(span.start);
    let DeValue::Table(table) = item.get_ref() else {
        return Err(ctx.error(span, "each check must be a table: write it as [[check]]"));
    };
    let kind_value = table.get("kind").ok_or_else(|| {
        ctx.error(span.clone(), "check has no `kind`")
            .with_help(format!("kinds: {}", KIND_NAMES.join(", ")))
    })?;
    let Some(kind) = kind_value.get_ref().as_str() else {
        return Err(ctx.error(kind_value.span(), "`kind` must be a string"));
    };
    let label = match table.get("name").and_then(|n| n.get_ref().as_str()) {
        Some(name) => format!("check `{name}`: "),
        None => String::new(),
    };

    let mut common = DeTable::new();
    let mut specific = DeTable::new();
    for (key, value) in table.iter() {
        let target = if COMMON_KEYS.contains(&key.get_ref().as_ref()) {
            &mut common
        } else {
            &mut specific
        };
        target.insert(key.clone(), value.clone());
    }
    let mut common_spec = CommonSpec::deserialize(ValueDeserializer::from(Spanned::new(
        span.clone(),
        DeValue::Table(common),
    )))
    .map_err(|e| ctx.toml_error(e, span.clone(), &[], &label))?;
    // A name is shown everywhere (console, JUnit, annotations, --list):
    // a secret expanded into it is gone before any of them sees it.
    common_spec.name = crate::redact::scrub(&common_spec.name).into_owned();
    if common_spec.name.trim().is_empty() || common_spec.name.contains('\n') {
        let at = table.get("name").map(|v| v.span()).unwrap_or(span.clone());
        return Err(ctx.error(at, "check `name` must be one non-empty line"));
    }
    // Two names that differ only in a tab, a zero-width or a bidi control
    // look the same everywhere they are shown, and are two test cases.
    if let Some(c) = common_spec
        .name
        .chars()
        .find(|c| crate::text::invisible(*c))
    {
        let at = table.get("name").map(|v| v.span()).unwrap_or(span.clone());
        return Err(ctx.error(
            at,
            format!(
                "check `name` has an invisible character (U+{:04X}): names must read as they are",
                c as u32
            ),
        ));
    }

    let specific_de = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(specific)));
    let kind_spec = match CheckKind::from_toml(kind, specific_de) {
        None => {
            let mut err = ctx.error(
                kind_value.span(),
                format!("{label}unknown check kind `{kind}`"),
            );
            err.help = Some(match did_you_mean(kind, KIND_NAMES.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("kinds: {}", KIND_NAMES.join(", ")),
            });
            return Err(err);
        }
        Some(parsed) => parsed.map_err(|e| ctx.toml_error(e, span.clone(), COMMON_KEYS, &label))?,
    };
    kind_spec.validate().map_err(|e| {
        // Point at the key at fault, or at the check when none is.
        let key_span = e
            .key
            .and_then(|key| table.get(key))
            .map_or(span.clone(), |v| v.span());
        ctx.error(key_span, format!("{label}{e}"))
    })?;
    Ok(CheckDef {
        common: common_spec,
        kind: kind_spec,
        line,
    })
}
