//! Reading requests: bodies as JSON whatever their Content-Type, with every invalid field
//! reported at once (as FastAPI clients expect), and integer path ids.
//!
//! A request body is one type that implements [`Body`] (how it reads itself, field by field)
//! and `utoipa::ToSchema` (how it documents itself); handlers take [`Valid<T>`] and receive a
//! value that is already complete and valid.

use crate::error::{ApiError, FieldError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};
use std::fmt::Display;

/// A request body that reads itself from a JSON object, recording every problem in `fields`.
/// Field-by-field reading rather than `serde::Deserialize`, which stops at the first error.
pub trait Body: Sized {
    /// The complete value, or `None` when any field was missing or invalid (and recorded).
    fn read(fields: &mut Fields) -> Option<Self>;
}

/// A body that was read completely: every field present where required, and valid.
pub struct Valid<T>(pub T);

impl<S: Send + Sync, T: Body> FromRequest<S> for Valid<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let mut fields = Fields::from_request(request, state).await?;
        let value = T::read(&mut fields);
        fields.finish()?;
        // `read` returns `None` only after recording why, so `finish` has already failed.
        value
            .map(Valid)
            .ok_or_else(|| ApiError::internal("a body was refused without a reason"))
    }
}

/// A JSON object body, read field by field. Collects every problem, then [`finish`](Self::finish)
/// turns them into one 422.
pub struct Fields {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(Bytes::from_request(request, state).await)?;
        Self::parse(&bytes)
    }
}

/// A raw body, or the refusal in the API's own shape (axum's would be plain text).
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadRequest("Could not read the request body".into())
        }
    })
}

impl Fields {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::invalid(FieldError::new(
                &["body"],
                format!("JSON decode error: {e}"),
                "json_invalid",
            ))
        })?;
        match value {
            Value::Object(object) => Ok(Self {
                object,
                errors: Vec::new(),
            }),
            _ => Err(ApiError::invalid(FieldError::new(
                &["body"],
                "Input should be a valid dictionary or object",
                "model_attributes_type",
            ))),
        }
    }

    /// A string field. `null` counts as absent. A NUL character is refused: PostgreSQL can
    /// store none in text or JSON, so it would fail at the event store instead.
    pub fn string(&mut self, name: &'static str, required: bool) -> Option<String> {
        match self.take(name, required)? {
            Value::String(s) if s.contains('\0') => self.reject(
                name,
                "Input should not contain the NUL character (U+0000)",
                "value_error",
            ),
            Value::String(s) => Some(s),
            _ => self.reject(name, "Input should be a valid string", "string_type"),
        }
    }

    /// An integer field; floats and numeric strings are refused. `null` counts as absent.
    pub fn integer(&mut self, name: &'static str, required: bool) -> Option<i64> {
        match self.take(name, required)? {
            Value::Number(n) => match n.as_i64() {
                Some(n) => Some(n),
                None => self.reject(name, "Input should be a valid integer", "int_type"),
            },
            _ => self.reject(name, "Input should be a valid integer", "int_type"),
        }
    }

    /// A required string field, parsed by `parse`; `None` when missing or invalid.
    pub fn required_str<T, E: Display>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let raw = self.string(name, true);
        self.check(name, raw.map(|raw| parse(&raw)))
    }

    /// An optional string field: `Some(None)` when absent, `None` when invalid.
    pub fn optional_str<T, E: Display>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        let before = self.errors.len();
        let raw = self.string(name, false);
        let parsed = self.check(name, raw.map(|raw| parse(&raw)));
        (self.errors.len() == before).then_some(parsed)
    }

    /// A required integer field, parsed by `parse`; `None` when missing or invalid.
    pub fn required_int<T, E: Display>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(i64) -> Result<T, E>,
    ) -> Option<T> {
        let raw = self.integer(name, true);
        self.check(name, raw.map(parse))
    }

    /// An optional integer field: `Some(None)` when absent, `None` when invalid.
    pub fn optional_int<T, E: Display>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(i64) -> Result<T, E>,
    ) -> Option<Option<T>> {
        let before = self.errors.len();
        let raw = self.integer(name, false);
        let parsed = self.check(name, raw.map(parse));
        (self.errors.len() == before).then_some(parsed)
    }

    /// An optional field of any shape `T` reads from JSON (a list, an object), then checked
    /// by `parse`: `Some(None)` when absent, `None` when invalid (with serde's or `parse`'s
    /// reason).
    pub fn optional_value<R: serde::de::DeserializeOwned, T, E: Display>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Option<Option<T>> {
        let Some(raw) = self.take(name, false) else {
            return Some(None);
        };
        match serde_json::from_value::<R>(raw) {
            Ok(value) => self.check(name, Some(parse(value))).map(Some),
            Err(e) => self.reject(name, e.to_string(), "value_error"),
        }
    }

    /// Records why a present value is invalid, if it is.
    pub fn check<T, E: Display>(
        &mut self,
        name: &'static str,
        value: Option<Result<T, E>>,
    ) -> Option<T> {
        match value? {
            Ok(value) => Some(value),
            Err(e) => self.reject(name, e.to_string(), "value_error"),
        }
    }

    /// Fails with every problem found, or succeeds if there was none.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.errors))
        }
    }

    fn take(&mut self, name: &'static str, required: bool) -> Option<Value> {
        match self.object.remove(name) {
            Some(Value::Null) | None if required => self.reject(name, "Field required", "missing"),
            Some(Value::Null) | None => None,
            Some(value) => Some(value),
        }
    }

    fn reject<T>(
        &mut self,
        name: &'static str,
        msg: impl Into<String>,
        kind: &'static str,
    ) -> Option<T> {
        self.errors
            .push(FieldError::new(&["body", name], msg, kind));
        None
    }
}

/// The integer id in a path such as `/trains/{train_id}`; anything else is a 422 naming it.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(ApiError::internal)?;
        let Some((name, raw)) = params.iter().next() else {
            return Err(ApiError::internal("route without a path id"));
        };
        raw.parse().map(PathId).map_err(|_| {
            ApiError::invalid(FieldError::new(
                &["path", name],
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
            ))
        })
    }
}

/// `?limit=&offset=&after_id=` for list endpoints, which answer rows in id order.
///
/// `after_id` is keyset pagination: the rows with an id above it (the last id of the page
/// before), found through the primary key however deep the page. `offset` makes PostgreSQL
/// walk and drop every row before the page, so it is capped at [`MAX_OFFSET`](Self::MAX_OFFSET)
/// and cannot be combined with `after_id`. A list binds both: `WHERE ($n::bigint IS NULL OR
/// id > $n) ORDER BY id LIMIT .. OFFSET ..`.
pub struct Page {
    pub limit: i64,
    pub offset: i64,
    pub after_id: Option<i64>,
}

impl Page {
    pub const MAX_LIMIT: i64 = 1000;
    pub const MAX_OFFSET: i64 = 10_000;

    /// The first `limit` rows.
    pub fn first(limit: i64) -> Self {
        Self {
            limit,
            offset: 0,
            after_id: None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut page = Page::first(Self::MAX_LIMIT);
        let (mut offset_given, mut after_id) = (false, None);
        let mut errors = Vec::new();
        let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|_| {
            ApiError::invalid(FieldError::new(
                &["query"],
                "Malformed query string",
                "value_error",
            ))
        })?;
        for (key, value) in query.0 {
            let (slot, name, range) = match key.as_str() {
                "limit" => (&mut page.limit, "limit", 1..=Self::MAX_LIMIT),
                "offset" => {
                    offset_given = true;
                    (&mut page.offset, "offset", 0..=Self::MAX_OFFSET)
                }
                "after_id" => (after_id.insert(0), "after_id", 0..=i64::MAX),
                _ => continue,
            };
            let (msg, kind) = match value.parse::<i64>() {
                Ok(n) if range.contains(&n) => {
                    *slot = n;
                    continue;
                }
                Ok(_) => (
                    format!(
                        "Input should be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                    "value_error",
                ),
                Err(_) => (
                    "Input should be a valid integer, unable to parse string as an integer".into(),
                    "int_parsing",
                ),
            };
            errors.push(FieldError::new(&["query", name], msg, kind));
        }
        if offset_given && after_id.is_some() {
            errors.push(FieldError::new(
                &["query", "after_id"],
                "Use either offset or after_id, not both",
                "value_error",
            ));
        }
        page.after_id = after_id;
        if errors.is_empty() {
            Ok(page)
        } else {
            Err(ApiError::Invalid(errors))
        }
    }
}
