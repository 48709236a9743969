//! The OpenAPI pieces every service's document shares: the error bodies, the status body, the
//! `Idempotency-Key` header, the `bearer` security scheme, and serving a document with its
//! interactive docs.

use crate::FieldError;
use axum::Json;
use axum::Router;
use axum::routing::get;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// A refusal: `{"detail": "No seats left"}`.
#[derive(Serialize, ToSchema)]
pub struct Detail {
    pub detail: String,
}

/// Invalid input: every problem found.
#[derive(Serialize, ToSchema)]
pub struct Invalid {
    pub detail: Vec<FieldError>,
}

/// `Idempotency-Key` on a POST: a retry with the same key and body gets the first answer
/// back; the same key with another body is a 422, a retry while the first runs a 409.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "describes a request header, which the idempotency layer reads raw"
)]
pub struct IdempotencyKey {
    /// 1 to 255 visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = r"^[!-~]{1,255}$"
    )]
    idempotency_key: Option<String>,
}

/// Declares the `bearer` security scheme: an access token from `/api/users/login`, sent as
/// `Authorization: Bearer <token>`. Every service that checks tokens names it the same, so an
/// operation's `security(("bearer" = []))` means one thing across documents, and the gateway's
/// merged document holds it once.
pub struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// `/openapi.json` and the interactive docs at `/docs` for a document built once.
pub fn serve<S: Clone + Send + Sync + 'static>(document: utoipa::openapi::OpenApi) -> Router<S> {
    use utoipa_scalar::Servable;
    let json = document.clone();
    Router::new()
        .route("/openapi.json", get(move || async move { Json(json) }))
        .merge(utoipa_scalar::Scalar::with_url("/docs", document))
}
