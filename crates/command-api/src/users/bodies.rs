//! The request bodies of `/api/users`, each read field by field so that one 422 names every
//! invalid field. Error messages never repeat a password.

use domain::Role;
use http_kit::{Body, Fields};
use utoipa::ToSchema;

/// A new account.
#[derive(ToSchema)]
pub(crate) struct Registration {
    /// 3 to 50 characters once trimmed.
    #[schema(example = "tom", min_length = 3, max_length = 50)]
    pub username: String,
    /// An email address; one account per address, compared without case.
    #[schema(example = "tom@example.org", max_length = 254)]
    pub email: String,
    /// 8 to 128 characters.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128)]
    pub password: String,
}

impl Body for Registration {
    fn read(body: &mut Fields) -> Option<Self> {
        let username = body.required_str("username", username);
        let email = body.required_str("email", email);
        let password = body.required_str("password", password);
        Some(Self {
            username: username?,
            email: email?,
            password: password?,
        })
    }
}

/// What a login presents.
#[derive(ToSchema)]
pub(crate) struct Credentials {
    #[schema(example = "tom@example.org", max_length = 254)]
    pub email: String,
    #[schema(example = "correct horse battery", max_length = 128)]
    pub password: String,
}

impl Body for Credentials {
    fn read(body: &mut Fields) -> Option<Self> {
        let email = body.required_str("email", bounded(254));
        let password = body.required_str("password", bounded(128));
        Some(Self {
            email: email?,
            password: password?,
        })
    }
}

/// A refresh token to spend or end.
#[derive(ToSchema)]
pub(crate) struct RefreshToken {
    #[schema(max_length = 256)]
    pub refresh_token: String,
}

impl Body for RefreshToken {
    fn read(body: &mut Fields) -> Option<Self> {
        let refresh_token = body.required_str("refresh_token", bounded(256));
        Some(Self {
            refresh_token: refresh_token?,
        })
    }
}

/// A new role for an account.
#[derive(ToSchema)]
pub(crate) struct NewRole {
    #[schema(value_type = String, example = "admin", pattern = "^(admin|traveller)$")]
    pub role: Role,
}

impl Body for NewRole {
    fn read(body: &mut Fields) -> Option<Self> {
        let role = body.required_str("role", |raw| match raw {
            "admin" => Ok(Role::Admin),
            "traveller" => Ok(Role::Traveller),
            _ => Err("role must be admin or traveller"),
        });
        Some(Self { role: role? })
    }
}

/// A password change.
#[derive(ToSchema)]
pub(crate) struct NewPassword {
    #[schema(max_length = 128)]
    pub current_password: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

impl Body for NewPassword {
    fn read(body: &mut Fields) -> Option<Self> {
        let current_password = body.required_str("current_password", bounded(128));
        let new_password = body.required_str("new_password", password);
        Some(Self {
            current_password: current_password?,
            new_password: new_password?,
        })
    }
}

/// The fields of an admin made from the command line or `ADMIN_EMAIL`, checked as a
/// registration's are.
pub(crate) fn admin(
    username: &str,
    email: &str,
    password: &str,
) -> Result<(String, String, String), &'static str> {
    Ok((
        self::username(username)?,
        self::email(email)?,
        self::password(password)?,
    ))
}

/// A new password, checked as a registration's is.
pub(crate) fn new_password(raw: &str) -> Result<String, &'static str> {
    password(raw)
}

fn username(raw: &str) -> Result<String, &'static str> {
    let trimmed = raw.trim();
    match trimmed.chars().count() {
        3..=50 => Ok(trimmed.to_owned()),
        _ => Err("username must be 3 to 50 characters"),
    }
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces,
/// at most 254 characters. Whether it receives mail is not ours to know.
fn email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim();
    let refused = "value is not a valid email address";
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(refused);
    };
    let labels_ok = domain.split('.').count() >= 2
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !labels_ok {
        return Err(refused);
    }
    Ok(email.to_owned())
}

fn password(raw: &str) -> Result<String, &'static str> {
    match raw.chars().count() {
        8..=128 => Ok(raw.to_owned()),
        _ => Err("password must be 8 to 128 characters"),
    }
}

/// Any text up to `max` characters: what a login may present without being told why not.
fn bounded(max: usize) -> impl FnOnce(&str) -> Result<String, String> {
    move |raw| {
        if raw.chars().count() <= max {
            Ok(raw.to_owned())
        } else {
            Err(format!("must be at most {max} characters"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_one_at_and_a_dotted_domain() {
        for good in ["tom@example.org", " Tom.Ford+x@mail.example.co.uk "] {
            assert!(email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "tom",
            "@example.org",
            "tom@",
            "tom@org",
            "tom@@example.org",
            "t om@example.org",
            "tom@example..org",
            "tom@-example.org",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_passwords_have_bounds() {
        assert!(username("to").is_err());
        assert_eq!(username("  tom  "), Ok("tom".to_owned()));
        assert!(username(&"x".repeat(51)).is_err());
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(129)).is_err());
    }
}
