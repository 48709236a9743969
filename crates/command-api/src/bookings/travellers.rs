//! Travellers' names for an account's bookings: sealed under the owner's data key before they
//! reach an event, and opened only to answer a request. Once the owner is erased (the key
//! destroyed) the name reads as [`ERASED`], wherever a copy of it is.

use crate::AppState;
use domain::{Sealed, Traveller, UserId};
use http_kit::ApiError;
use std::collections::HashMap;

/// How an erased owner's traveller is shown.
pub(crate) const ERASED: &str = "Erased traveller";

/// `owner`'s traveller named `name`, or the account's username when there is no name: sealed
/// and tagged under the owner's key. `None` when the owner has no key (erased meanwhile).
pub(crate) async fn sealed(
    state: &AppState,
    owner: UserId,
    name: Option<String>,
) -> Result<Option<Traveller>, ApiError> {
    let accounts = state.accounts()?;
    let Some(key) = accounts.vault.key(owner).await? else {
        return Ok(None);
    };
    let name = match name {
        Some(name) => name,
        None => match crate::users::username(state, owner, &key).await? {
            Some(username) => username,
            None => return Ok(None),
        },
    };
    Ok(Some(Traveller::Owned {
        owner,
        tag: key.tag(&name),
        name: key.seal(&name),
    }))
}

/// The names to show for `rows` of (owner, stored `user_credentials`): a named traveller's as
/// stored, an account's opened with its owner's key, or [`ERASED`].
pub(crate) async fn shown(
    state: &AppState,
    rows: Vec<(Option<i64>, String)>,
) -> Result<Vec<String>, ApiError> {
    let mut owners: Vec<UserId> = rows
        .iter()
        .filter_map(|(owner, _)| owner.map(UserId))
        .collect();
    owners.sort_unstable();
    owners.dedup();
    // Without accounts configured no sealed name can be opened; they show as erased.
    let keys = match (owners.is_empty(), state.accounts()) {
        (false, Ok(accounts)) => accounts.vault.keys(&owners).await?,
        _ => HashMap::new(),
    };
    Ok(rows
        .into_iter()
        .map(|(owner, stored)| match owner {
            None => stored,
            Some(owner) => keys
                .get(&UserId(owner))
                .and_then(|key| key.open(&Sealed(stored)))
                .unwrap_or_else(|| ERASED.to_owned()),
        })
        .collect())
}
