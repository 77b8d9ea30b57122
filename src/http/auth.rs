//! Partner API authentication: `Authorization: Bearer <api key>`, resolved to the key's
//! organisation, user and role. Every handler that takes a [`Caller`] is scoped by it.

use super::error::ApiError;
use super::AppState;
use crate::crypto::hash_token;
use crate::store::{Principal, StoreError};
use actix_web::{dev::Payload, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// The authenticated caller of a request.
#[derive(Clone, Copy, Debug)]
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<AppState>().cloned();
        let token = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| hash_token(token.trim()));
        Box::pin(async move {
            let (Some(state), Some(token_hash)) = (state, token) else {
                return Err(ApiError::unauthorized());
            };
            match state.store.principal_for_api_key(&token_hash).await {
                Ok(principal) => Ok(Caller(principal)),
                Err(StoreError::NotFound) => Err(ApiError::unauthorized()),
                Err(error) => Err(ApiError::from_store(
                    error,
                    super::error::Code::Unauthorized,
                )),
            }
        })
    }
}
