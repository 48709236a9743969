//! ServerFeatures: the client asks which methods the server offers as it connects, and
//! enables optional paths (batch append, persistent subscriptions) from the answer. The
//! double offers none of those, so the client keeps to plain Append and Read.

use crate::proto::server_features::{
    SupportedMethod, SupportedMethods, server_features_server::ServerFeatures,
};
use tonic::{Request, Response, Status};

/// The server version the double answers with: one whose protocol it follows.
const VERSION: &str = "24.10.0";

pub(crate) struct Features;

#[tonic::async_trait]
impl ServerFeatures for Features {
    async fn get_supported_methods(
        &self,
        _request: Request<()>,
    ) -> Result<Response<SupportedMethods>, Status> {
        let method = |name: &str| SupportedMethod {
            method_name: name.to_owned(),
            service_name: "event_store.client.streams.streams".to_owned(),
            features: Vec::new(),
        };
        Ok(Response::new(SupportedMethods {
            methods: vec![method("read"), method("append")],
            event_store_server_version: VERSION.to_owned(),
        }))
    }
}
