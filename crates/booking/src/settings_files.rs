//! Tests that the files setting the binary's environment from outside, `.env.example` and
//! `docker-compose.yml`, and README's configuration table keep up with the settings `--help`
//! lists. They are written by hand next to the clap structs, so a new setting or a changed
//! default could silently miss them.
//!
//! The files are scanned as text, line by line: `.env.example` is `NAME=value` lines (a
//! commented `# NAME=value` lists a setting that is unset by default), and the compose file
//! gives the roles each setting as a `NAME: value` line and reads `.env` through
//! `${NAME:-default}`.

use super::Cli;
use clap::CommandFactory;
use std::collections::BTreeMap;

/// Every environment variable any role reads, with its default where it has one.
fn settings() -> BTreeMap<String, Option<String>> {
    let mut settings = BTreeMap::new();
    for role in Cli::command().get_subcommands() {
        for arg in role.get_arguments() {
            if let Some(name) = arg.get_env() {
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|value| value.to_string_lossy().into_owned());
                settings.insert(name.to_string_lossy().into_owned(), default);
            }
        }
    }
    settings
}

fn repo_file(name: &str) -> String {
    let path = format!("{}/../../{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// `.env.example`'s assignments: name -> (value, commented out).
fn env_example() -> BTreeMap<String, (String, bool)> {
    repo_file(".env.example")
        .lines()
        .filter_map(|line| {
            let (line, commented) = match line.strip_prefix("# ") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            let (name, value) = line.split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| (name.to_owned(), (value.to_owned(), commented)))
        })
        .collect()
}

/// The compose file's `${NAME:-default}` interpolations: name -> default.
fn compose_interpolations(compose: &str) -> Vec<(String, String)> {
    compose
        .split("${")
        .skip(1)
        .filter_map(|rest| {
            let (expression, _) = rest.split_once('}')?;
            let (name, default) = expression.split_once(":-")?;
            Some((name.to_owned(), default.to_owned()))
        })
        .collect()
}

#[test]
fn env_example_lists_every_setting_with_its_default() {
    let example = env_example();
    for (name, default) in settings() {
        let Some((value, commented)) = example.get(&name) else {
            panic!(".env.example does not list {name}");
        };
        match default {
            Some(default) => assert!(
                !commented && *value == default,
                ".env.example sets {name}={value}{}, but its default is {default}",
                if *commented { " (commented out)" } else { "" }
            ),
            // Unset by default: an empty value would not mean unset, but "".
            None => assert!(
                *commented || !value.is_empty(),
                ".env.example sets {name} to an empty value"
            ),
        }
    }
}

#[test]
fn env_example_names_only_what_the_binary_or_compose_reads() {
    let settings = settings();
    let compose: Vec<String> = compose_interpolations(&repo_file("docker-compose.yml"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for name in env_example().keys() {
        assert!(
            settings.contains_key(name) || compose.contains(name),
            ".env.example lists {name}, which neither `booking` nor docker-compose.yml reads"
        );
    }
}

#[test]
fn compose_passes_every_setting_to_the_roles() {
    let compose = repo_file("docker-compose.yml");
    for name in settings().keys() {
        let key = format!("{name}: ");
        assert!(
            compose
                .lines()
                .any(|line| line.trim_start().starts_with(&key)),
            "docker-compose.yml does not set {name} for the roles"
        );
    }
}

#[test]
fn compose_defaults_are_the_env_example_values() {
    let example = env_example();
    for (name, default) in compose_interpolations(&repo_file("docker-compose.yml")) {
        let Some((value, false)) = example.get(&name) else {
            panic!("docker-compose.yml reads {name}, which .env.example does not set");
        };
        assert_eq!(
            *value, default,
            "docker-compose.yml defaults {name} to {default}, .env.example to {value}"
        );
    }
}

#[test]
fn readme_configuration_table_lists_every_setting() {
    let readme = repo_file("README.md");
    for name in settings().keys() {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README's configuration table has no row for {name}"
        );
    }
}
