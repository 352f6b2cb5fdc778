//! `gpugate explain [ID]` and `gpugate suites`: what gpugate knows, printed.

use super::failure::Failure;
use crate::diagnose;
use crate::exit::{Ending, Exit};
use crate::suite::{self, BUILTIN};
use std::collections::BTreeMap;

/// Every diagnosis id with its one-line summary, or one id's section
/// rendered for a terminal.
pub fn explain(id: Option<&str>) -> Result<Exit, Failure> {
    let ids: Vec<&str> = diagnose::RULES.iter().map(|r| r.id).collect();
    let Some(id) = id else {
        let width = ids.iter().map(|i| i.len()).max().unwrap_or(0);
        for id in &ids {
            let summary = diagnose::summary(id).unwrap_or_default();
            println!("{id:<width$}  {summary}");
        }
        return Ok(Ending::Done.exit());
    };
    let Some(text) = diagnose::explain(id) else {
        let hint = crate::text::did_you_mean(id, ids.iter().copied()).map_or(String::new(), |s| {
            format!("\n  = help: did you mean `{s}`?")
        });
        return Err(Failure::usage(format!(
            "no diagnosis `{id}` (`gpugate explain` lists them){hint}"
        )));
    };
    println!("{}", diagnose::terminal_text(text));
    Ok(Ending::Done.exit())
}

/// The built-in suites with their descriptions.
pub fn list_suites() -> Result<Exit, Failure> {
    let no_vars = BTreeMap::new();
    for (name, _) in BUILTIN {
        let description = suite::load(name, &no_vars)
            .ok()
            .and_then(|s| s.description)
            .unwrap_or_default();
        println!("{name:<12} {description}");
    }
    Ok(Ending::Done.exit())
}
