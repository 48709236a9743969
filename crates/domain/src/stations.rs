//! Stations: the stops a train calls at, and the key a station is searched by.
//!
//! A search for "bucuresti" must find "București": the key folds case and drops accents, so
//! the same station typed either way meets the same key.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Most stops of one train.
pub const MAX_STOPS: usize = 50;
/// Longest station name.
pub const MAX_STATION_CHARS: usize = 100;

/// Why a list of stops was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopsError {
    #[error("stops lists 2 to {max} stations")]
    Count { max: usize },
    #[error("a station name is 1 to {max} characters")]
    Name { max: usize },
    #[error("station {0} is listed twice")]
    Twice(String),
}

/// The key a station is searched by: its name without accents, in lower case, with runs of
/// blanks made one space.
pub fn station_key(name: &str) -> String {
    let folded: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks a train's stops: 2 to 50 names of 1 to 100 characters (trimmed), none twice under
/// its search key.
pub fn stops(names: Vec<String>) -> Result<Vec<String>, StopsError> {
    if !(2..=MAX_STOPS).contains(&names.len()) {
        return Err(StopsError::Count { max: MAX_STOPS });
    }
    let mut checked: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_STATION_CHARS {
            return Err(StopsError::Name {
                max: MAX_STATION_CHARS,
            });
        }
        let key = station_key(&name);
        if checked.iter().any(|earlier| station_key(earlier) == key) {
            return Err(StopsError::Twice(name));
        }
        checked.push(name);
    }
    Ok(checked)
}

/// The stops a route names when none are given: its parts between dashes, trimmed, the empty
/// ones left out ("Chisinau-Bucuresti" calls at Chisinau, then Bucuresti).
pub fn stops_of_route(route: &str) -> Vec<String> {
    route
        .split('-')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
}
