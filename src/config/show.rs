//! `config show`: the effective configuration of one environment file with
//! the seed's precedence (process environment over file over defaults), each
//! value labelled with where it came from.

use super::check::{check_parsed, ConfigReport};
use super::envfile::EnvFile;
use super::vars::{self, VARS};
use crate::Error;
use serde::Serialize;
use std::path::Path;

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The process environment.
    Process,
    /// The file (see `line`).
    File,
    /// The loader's default.
    Default,
}

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// Variable.
    pub name: String,
    /// Effective value.
    pub value: String,
    /// Source.
    pub source: Source,
    /// Line in the file, for `file` (and for substitutions resolved from it).
    pub line: Option<u64>,
    /// Whether the recorder reads this variable.
    pub known: bool,
}

/// Effective settings: every known variable that has a value, then the
/// file's unknown variables. `env` reads the process environment. A file
/// sets a variable with its first assignment (the loaders never override a
/// variable already set); a config-v2 field may be written in any case.
pub fn effective(file: &EnvFile, env: &dyn Fn(&str) -> Option<String>) -> Vec<Setting> {
    let mut out = Vec::new();
    let mut names: Vec<(&str, bool)> = VARS.iter().map(|v| (v.name, true)).collect();
    for a in &file.assignments {
        if vars::lookup(&a.key).is_none() && !names.iter().any(|(n, _)| *n == a.key) {
            names.push((&a.key, false));
        }
    }
    for (name, known) in names {
        let var = vars::find(name);
        let default = var.and_then(|v| v.default);
        let assigned = if var.is_some_and(|v| v.readers & vars::PYDANTIC != 0) {
            file.get_ignore_case(name)
        } else {
            file.get(name)
        };
        let (value, source, line) = if let Some(v) = env(name) {
            (v, Source::Process, None)
        } else if let Some(a) = assigned {
            let v = match &a.substitution {
                Some((var, d)) => env(var).unwrap_or_else(|| d.clone()),
                None => a.value.clone(),
            };
            (v, Source::File, Some(a.line))
        } else if let Some(d) = default {
            (d.to_owned(), Source::Default, None)
        } else {
            continue;
        };
        out.push(Setting {
            name: name.to_owned(),
            value,
            source,
            line,
            known,
        });
    }
    out
}

/// `config show` of one file: its effective settings and the findings of
/// `config check` on it, from one read. A path that does not exist is an
/// error; a file that cannot be read is a finding (and shows the defaults).
pub fn show_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<Setting>, ConfigReport), Error> {
    let (rep, files) = check_parsed(&[path.to_path_buf()])?;
    let settings = files.first().map_or_else(Vec::new, |f| effective(f, env));
    Ok((settings, rep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::envfile::parse;

    #[test]
    fn precedence_process_file_default() {
        let f = parse(b"PORT=8101\nIB_STREAM_CLIENT_ID=12\nEXTRA=1\nIB_STREAM_PORT=${IB_STREAM_PORT_OVERRIDE:-8003}\n");
        let env = |k: &str| (k == "IB_STREAM_CLIENT_ID").then(|| "99".to_owned());
        let s = effective(&f, &env);
        let get = |n: &str| s.iter().find(|x| x.name == n).cloned().unwrap();
        assert_eq!(
            (get("PORT").value, get("PORT").source, get("PORT").line),
            ("8101".into(), Source::File, Some(1))
        );
        assert_eq!(
            (
                get("IB_STREAM_CLIENT_ID").value,
                get("IB_STREAM_CLIENT_ID").source
            ),
            ("99".into(), Source::Process)
        );
        assert_eq!(
            (
                get("IB_STREAM_STORAGE_PATH").value,
                get("IB_STREAM_STORAGE_PATH").source
            ),
            ("storage".into(), Source::Default)
        );
        assert_eq!(get("IB_STREAM_PORT").value, "8003");
        assert!(!get("EXTRA").known);
        assert!(
            !s.iter().any(|x| x.name == "IB_CLIENT_ID"),
            "no value, no default: not shown"
        );
        let f = parse(b"PORT=8101\nPORT=8001\nib_client_id=5\nib_stream_max_tracked=3\n");
        let s = effective(&f, &|_: &str| None);
        let get = |n: &str| s.iter().find(|x| x.name == n).cloned().unwrap();
        assert_eq!(
            (get("PORT").value, get("PORT").line),
            ("8101".into(), Some(1)),
            "the first assignment"
        );
        assert_eq!(
            (
                get("IB_CLIENT_ID").value,
                get("IB_CLIENT_ID").line,
                get("IB_CLIENT_ID").known
            ),
            ("5".into(), Some(3), true)
        );
        assert!(!s.iter().any(|x| x.name == "ib_client_id"));
        assert!(!get("ib_stream_max_tracked").known);
        assert_eq!(get("IB_STREAM_MAX_TRACKED").source, Source::Default);
    }
}
